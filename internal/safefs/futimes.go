//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package safefs

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// setModTime sets the access and modification times of the open file f.
// It works on the descriptor: the path-based Root.Chtimes races with a
// symlink swap on Unix (defences §3.1).
func setModTime(f *os.File, _ *os.Root, _ string, t time.Time) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	tv := syscall.NsecToTimeval(t.UnixNano())
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.Futimes(int(fd), []syscall.Timeval{tv, tv})
	}); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "futimes", Path: f.Name(), Err: serr}
	}
	return nil
}
