//go:build !linux

package tcp

import (
	"errors"
	"syscall"
)

// unacked needs Linux's TCP_INFO; elsewhere lingerKill waits a fixed while.
func unacked(syscall.RawConn) (bool, uint32, error) {
	return false, 0, errors.ErrUnsupported
}
