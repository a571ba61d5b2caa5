//go:build !linux

package bench

import "runtime"

// kernel returns the operating system's name; only Linux reports more.
func kernel() string { return runtime.GOOS }
