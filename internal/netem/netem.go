// Package netem emulates a network link on one machine, for ferry's bench:
// a client and a server network namespace joined by a pair of TUN devices,
// between which a user-space forwarder moves every IP packet after applying
// a delay with jitter, random loss and a rate cap with a bounded drop-tail
// queue. Because the forwarder sees IP packets, TCP, UDP and so QUIC all
// cross exactly the same link.
//
// Start creates the link; RunIn (and Listen, ListenPacket, Dial,
// StartCommand built on it) make sockets and processes inside one of the two
// namespaces; Close tears everything down. The namespaces are held only by
// file descriptors of the calling process, never mounted under /run/netns,
// so nothing outlives the process, even when it is killed.
//
// It needs Linux, CAP_SYS_ADMIN and CAP_NET_ADMIN (root, or root in a user
// namespace) and /dev/net/tun; Start says which is missing, with errors that
// unwrap to ErrPermission, ErrNoTUN or ErrUnsupported.
//
// See docs/netem.md for how the link accounts for time and bytes and how
// accurate it is.
package netem

import (
	"errors"
	"fmt"
)

// Side names one end of the link.
type Side int

const (
	Client Side = iota // the client namespace, which has ClientAddr
	Server             // the server namespace, which has ServerAddr
)

func (s Side) String() string {
	switch s {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

var (
	// ErrPermission means the process may not create network namespaces or
	// TUN devices.
	ErrPermission = errors.New("netem: emulating a link needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) " +
		"to create network namespaces and TUN devices; run as root, or inside a user namespace " +
		"that maps root (unshare --user --map-root-user) where /dev/net/tun is usable")

	// ErrNoTUN means the kernel offers no TUN device.
	ErrNoTUN = errors.New("netem: /dev/net/tun is missing or unusable: the kernel needs TUN support " +
		"(CONFIG_TUN; try modprobe tun)")

	// ErrUnsupported means the platform is not Linux. It unwraps to
	// errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("netem: link emulation needs Linux network namespaces: %w", errors.ErrUnsupported)
)
