package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// startLink starts a link for a test and closes it in t.Cleanup. It skips the
// test, saying why, where links cannot be made (not root, no TUN).
func startLink(t *testing.T, spec Spec) *Link {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netem: link tests need root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("netem: link tests need /dev/net/tun: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	l, err := Start(ctx, spec)
	if errors.Is(err, ErrPermission) || errors.Is(err, ErrNoTUN) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// testCtx is a context that ends before the test's deadline.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// udpEcho starts a UDP echo server on the server side and returns its
// address. It stops when the test ends.
func udpEcho(t *testing.T, l *Link) string {
	t.Helper()
	pc, err := l.ListenPacket(testCtx(t, time.Minute), Server, "udp4", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// measureRTT sends n small UDP packets one at a time from the client side to
// an echo server and returns the round-trip times of those that came back.
func measureRTT(t *testing.T, l *Link, n int) []time.Duration {
	t.Helper()
	echo := udpEcho(t, l)
	c, err := l.Dial(testCtx(t, time.Minute), Client, "udp4", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rtts []time.Duration
	out, in := make([]byte, 32), make([]byte, 64)
	timeout := 2*l.Spec().RTT + time.Second
	for i := range n {
		binary.BigEndian.PutUint64(out, uint64(i))
		start := time.Now()
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(start.Add(timeout))
		for {
			m, err := c.Read(in)
			if err != nil {
				t.Fatalf("echo %d: %v", i, err)
			}
			if m == len(out) && binary.BigEndian.Uint64(in) == uint64(i) {
				break
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	return rtts
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestRTT(t *testing.T) {
	for _, rtt := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(rtt.String(), func(t *testing.T) {
			l := startLink(t, Spec{RTT: rtt})
			rtts := measureRTT(t, l, 50)
			med := median(rtts)
			tol := rtt/20 + time.Millisecond
			t.Logf("rtt=%v: median %v over %d samples (min %v, max %v), bound ±%v",
				rtt, med, len(rtts), slices.Min(rtts), slices.Max(rtts), tol)
			if d := med - rtt; d < -tol || d > tol {
				t.Errorf("median RTT %v, want %v ± %v", med, rtt, tol)
			}
		})
	}
}
