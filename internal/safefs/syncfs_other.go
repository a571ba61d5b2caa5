//go:build !linux

package safefs

import (
	"errors"
	"os"
)

// haveSyncFS: there is no syncfs(2) here; Publish syncs each file and its
// folder instead.
const haveSyncFS = false

func syncFS(*os.File) error { return errors.ErrUnsupported }
