//go:build !linux

package safefs

import "os"

// renameNoReplace needs Linux's renameat2; elsewhere Publish links and
// removes instead.
func renameNoReplace(*os.File, string, string) error { return errNoRenameat2 }

// renameReplace renames from to to, both single names in the folder d,
// replacing a file (or a symlink itself) at to.
func renameReplace(d *DestDir, from, to string) error { return d.root.Rename(from, to) }
