//go:build !unix

package bench

import (
	"errors"
	"time"
)

// SelfCPU is not implemented on this platform.
func SelfCPU() (time.Duration, error) { return 0, errors.ErrUnsupported }

// ProcessCPU is not implemented on this platform.
func ProcessCPU(pid int) (time.Duration, error) { return 0, errors.ErrUnsupported }
