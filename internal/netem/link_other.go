//go:build !linux

package netem

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"time"
)

// Link is a running emulated link; it exists only on Linux.
type Link struct{}

// DeviceName is the name of the TUN device in each namespace.
const DeviceName = "ferry0"

// Start returns ErrUnsupported: link emulation needs Linux.
func Start(ctx context.Context, spec Spec) (*Link, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

func (l *Link) Name() string                       { return "" }
func (l *Link) Spec() Spec                         { return Spec{} }
func (l *Link) ClientAddr() netip.Addr             { return netip.Addr{} }
func (l *Link) ServerAddr() netip.Addr             { return netip.Addr{} }
func (l *Link) Addr(Side) netip.Addr               { return netip.Addr{} }
func (l *Link) RunIn(Side, func() error) error     { return ErrUnsupported }
func (l *Link) RunInClient(func() error) error     { return ErrUnsupported }
func (l *Link) RunInServer(func() error) error     { return ErrUnsupported }
func (l *Link) StartCommand(Side, *exec.Cmd) error { return ErrUnsupported }
func (l *Link) NSPath(Side) string                 { return "" }
func (l *Link) Stats() Stats                       { return Stats{} }
func (l *Link) Close() error                       { return nil }
func (l *Link) Listen(context.Context, Side, string, string) (net.Listener, error) {
	return nil, ErrUnsupported
}
func (l *Link) ListenPacket(context.Context, Side, string, string) (net.PacketConn, error) {
	return nil, ErrUnsupported
}
func (l *Link) Dial(context.Context, Side, string, string) (net.Conn, error) {
	return nil, ErrUnsupported
}

func sleep(d time.Duration) { time.Sleep(d) }
