package quic

import (
	"io"
	"net"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGSO checks that sessions send with UDP segmentation offload. Losing it
// (by wrapping the UDP socket, say) costs no correctness, only about 2.4x
// the throughput, so nothing else would notice.
func TestGSO(t *testing.T) {
	if v, _ := strconv.ParseBool(os.Getenv("QUIC_GO_DISABLE_GSO")); v {
		t.Skip("QUIC_GO_DISABLE_GSO is set: GSO is off on purpose")
	}
	if !kernelHasGSO(t) {
		t.Skip("this kernel does not support UDP GSO (getsockopt UDP_SEGMENT fails); quic-go sends packet by packet")
	}
	dialed, accepted := pair(t)
	c, s := openPair(t, dialed, accepted)
	// Move some data, so that GSO has been exercised, not just detected.
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 1<<20))
		wrote <- err
	}()
	if _, err := io.ReadFull(s, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	for name, sess := range map[string]*session{"dialed": dialed.(*session), "accepted": accepted.(*session)} {
		if !sess.conn.ConnectionState().GSO {
			t.Errorf("%s session: GSO is off although the kernel supports it; is the *net.UDPConn wrapped?", name)
		}
	}
}

// kernelHasGSO asks the kernel the way quic-go does.
func kernelHasGSO(t *testing.T) bool {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		t.Fatal(err)
	}
	return serr == nil
}
