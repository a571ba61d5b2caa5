//go:build unix

package safefs

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// O_NONBLOCK: opening a FIFO for reading must not wait for a writer
	// (nor one for writing wait for a reader). O_NOCTTY: a terminal device
	// that slipped past the checks must not become our controlling tty.
	openReadFlags  = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	openWriteFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
)

// fileID returns the device and link count of fi, when the platform has them.
func fileID(fi fs.FileInfo) (dev, nlink uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Nlink), true //nolint:unconvert // types differ by platform
}

// lockPart takes an exclusive lock on an open part file (flock, advisory:
// every ferry takes it), failing at once with ErrLocked when another
// process holds it. Closing the file releases it. A file system that
// cannot lock (ENOLCK, EOPNOTSUPP) does not stop the fetch: Publish still
// refuses a part file that was written by anyone else (ErrPartChanged).
func lockPart(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
	}); err != nil {
		return err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) {
		return ErrLocked
	}
	return nil
}
