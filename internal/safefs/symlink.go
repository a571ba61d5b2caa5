package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// CreateSymlink makes name beneath dest a symbolic link to target, or reports
// (same) that it already is one.
//
// name must pass [ValidatePath], also with [PartSuffix] appended; its
// parent directories are created with mode 0755 through dest. target is
// written as it is: judging where it leads is the caller's job.
//
// Nothing is ever followed: an existing symlink at name is read, never
// resolved, and replaced as an entry. When name does not exist, the link is
// created there directly (symlinkat fails rather than follow or replace
// anything that appeared meanwhile: [ErrExists]). When something else is
// there, replace false gives [ErrExists] and leaves it; replace true creates
// the link as NAME.ferry-part and renames it over name, atomically. A
// directory at name is never replaced ([ErrExists]). The directory is
// synced afterwards, so that the link survives a crash.
func CreateSymlink(dest *os.Root, name, target string, replace bool) (same bool, err error) {
	if err := ValidatePath(name); err != nil {
		return false, err
	}
	if err := ValidatePath(name + PartSuffix); err != nil {
		return false, &NameError{name, "too long once " + PartSuffix + " is appended"}
	}
	if IsPartName(name) {
		return false, &NameError{name, partNameReason}
	}
	d, err := OpenDestDir(dest, path.Dir(name))
	if err != nil {
		return false, err
	}
	defer d.Close()
	dir, base := d.Root(), path.Base(name)

	fi, err := dir.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := dir.Symlink(target, base); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return false, fmt.Errorf("%w: %s appeared while the link was made", ErrExists, Printable(name))
			}
			return false, mapOpenErr(dir, err)
		}
		return false, d.Sync()
	case err != nil:
		return false, mapOpenErr(dir, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		if cur, err := dir.Readlink(base); err == nil && cur == target {
			return true, nil
		}
	case fi.IsDir():
		return false, fmt.Errorf("%w: %s is a directory", ErrExists, Printable(name))
	}
	if !replace {
		return false, fmt.Errorf("%w: %s", ErrExists, Printable(name))
	}
	part := base + PartSuffix
	// A stale part (file or link) goes, as in CreatePartial; Remove
	// removes a symlink itself, and only an empty directory.
	if err := dir.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, mapOpenErr(dir, err)
	}
	if err := dir.Symlink(target, part); err != nil {
		return false, mapOpenErr(dir, err)
	}
	if err := dir.Rename(part, base); err != nil {
		dir.Remove(part)
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("%w: %w", ErrExists, err)
		}
		return false, mapOpenErr(dir, err)
	}
	return false, d.Sync()
}
