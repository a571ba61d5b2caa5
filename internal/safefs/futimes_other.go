//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package safefs

import (
	"os"
	"time"
)

// setModTime falls back to the path-based call; there is no descriptor-based
// one in the standard library on this system.
func setModTime(_ *os.File, dir *os.Root, name string, t time.Time) error {
	return dir.Chtimes(name, t, t)
}
