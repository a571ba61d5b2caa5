//go:build !linux

package safefs

import "os"

// renameNoReplace needs Linux's renameat2; elsewhere Publish links and
// removes instead.
func renameNoReplace(*os.File, string, string) error { return errNoRenameat2 }
