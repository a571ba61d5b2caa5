package tcp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// unacked reports whether the socket has bytes written and not yet
// acknowledged by the peer (or not yet sent), and its smoothed RTT in
// microseconds, from TCP_INFO.
func unacked(raw syscall.RawConn) (pending bool, rttMicros uint32, err error) {
	var info *unix.TCPInfo
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return false, 0, err
	}
	if gerr != nil {
		return false, 0, gerr
	}
	return info.Unacked != 0 || info.Notsent_bytes != 0, info.Rtt, nil
}
