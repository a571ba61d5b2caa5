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
