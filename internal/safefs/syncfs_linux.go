package safefs

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncFS: syncfs(2) exists here. Since Linux 5.8 it also reports
// writeback errors of any file on the file system that happened since the
// descriptor was opened, so a failed write of a file it covers is not lost.
const haveSyncFS = true

// syncFS writes out every change to the file system that holds f and
// waits for it: data, inodes and directory entries alike.
func syncFS(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: serr}
	}
	return nil
}
