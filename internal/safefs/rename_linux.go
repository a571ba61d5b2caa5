package safefs

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to, both single names in the folder dir,
// with renameat2(RENAME_NOREPLACE): it fails with EEXIST rather than
// replace anything at to, and never follows a symlink there. It returns
// errNoRenameat2 when the kernel or file system cannot do it.
func renameNoReplace(dir *os.File, from, to string) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Renameat2(int(fd), from, int(fd), to, unix.RENAME_NOREPLACE)
	}); err != nil {
		return err
	}
	switch serr {
	case nil:
		return nil
	case unix.EINVAL, unix.ENOSYS, unix.ENOTSUP:
		return errNoRenameat2
	}
	return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: serr}
}

// renameReplace renames from to to, both single names in the folder d,
// replacing a file (or a symlink itself) at to. It works on the folder's
// descriptor: the names need no lookup through os.Root, which would cost
// an extra stat of to on every rename.
func renameReplace(d *DestDir, from, to string) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Renameat(int(fd), from, int(fd), to)
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: serr}
	}
	return nil
}
