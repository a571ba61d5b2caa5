//go:build !unix

package safefs

import (
	"io/fs"
	"os"
)

const (
	openReadFlags  = os.O_RDONLY
	openWriteFlags = 0
)

// fileID is unavailable: options that need it fail closed.
func fileID(fs.FileInfo) (dev, nlink uint64, ok bool) { return 0, 0, false }

// lockPart cannot lock here: two processes writing one part file are not
// kept apart, but Publish still refuses a part file whose length is not
// what was written through the Partial.
func lockPart(*os.File) error { return nil }
