package safefs

import (
	"io/fs"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setModTime sets the access and modification times of the open file f.
// It works on the descriptor: the path-based Root.Chtimes races with a
// symlink swap on Unix (defences §3.1).
//
// utimensat(fd, NULL, ...) is futimens(3): it changes the file the
// descriptor refers to with no path lookup. (syscall.Futimes on Linux goes
// through utimes("/proc/self/fd/N"): a procfs lookup for every published
// file, and it needs /proc mounted.)
func setModTime(f *os.File, _ *os.Root, _ string, t time.Time) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	ts := unix.NsecToTimespec(t.UnixNano())
	times := [2]unix.Timespec{ts, ts}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = futimens(int(fd), &times)
	}); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "futimens", Path: f.Name(), Err: serr}
	}
	return nil
}

// futimens is utimensat(2) with a NULL path, which x/sys/unix does not
// offer (its UtimesNanoAt always passes a path, and utimensat refuses an
// empty one).
func futimens(fd int, times *[2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(times)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
