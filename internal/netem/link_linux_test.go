package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
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
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
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

func TestLoss(t *testing.T) {
	const (
		n    = 2000
		loss = 0.10
	)
	l := startLink(t, Spec{Loss: loss, Seed: 1})
	pc, err := l.ListenPacket(testCtx(t, time.Minute), Server, "udp4", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan int)
	go func() {
		seen := map[uint64]bool{}
		buf := make([]byte, 64)
		for {
			pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			m, _, err := pc.ReadFrom(buf)
			if err != nil {
				break // quiet for 500ms after the last packet, or closed
			}
			if m == 16 {
				seen[binary.BigEndian.Uint64(buf)] = true
			}
		}
		got <- len(seen)
	}()
	c, err := l.Dial(testCtx(t, time.Minute), Client, "udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := make([]byte, 16)
	for i := range n {
		binary.BigEndian.PutUint64(out, uint64(i))
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // stay far below the receiver's buffer
		}
	}
	received := <-got
	// The number delivered is binomial(n, 1-loss); allow 4 standard
	// deviations (a false failure about once in 16000 runs with a random
	// seed, never with this fixed one).
	want := float64(n) * (1 - loss)
	sd := math.Sqrt(float64(n) * loss * (1 - loss))
	st := l.Stats().ClientToServer
	t.Logf("delivered %d of %d (%.2f%%), want %.0f ± %.0f; stats %+v", received, n, 100*float64(received)/n, want, 4*sd, st)
	if math.Abs(float64(received)-want) > 4*sd {
		t.Errorf("delivered %d of %d packets with loss=%v%%, want %.0f ± %.0f", received, n, loss*100, want, 4*sd)
	}
	// Every packet is accounted for: what was not lost was delivered, and
	// nothing else crossed the link (IPv6 is off in the namespaces).
	if st.Packets != n || st.LossDrops+st.Delivered != n || st.Delivered != uint64(received) || st.QueueDrops != 0 {
		t.Errorf("stats %+v do not account for %d packets sent, %d received", st, n, received)
	}
}

// transfer sends size bytes over TCP from the client side to the server side
// and returns the time from the first byte the server read to the last.
func transfer(t testing.TB, l *Link, size int64) time.Duration {
	t.Helper()
	ctx := context.Background()
	ln, err := l.Listen(ctx, Server, "tcp4", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		first := make([]byte, 1)
		if _, err := io.ReadFull(c, first); err != nil {
			res <- result{err: err}
			return
		}
		start := time.Now()
		n, err := io.Copy(io.Discard, c)
		res <- result{n + 1, time.Since(start), err}
	}()
	c, err := l.Dial(testCtx(t, time.Minute), Client, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.CopyN(c, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r := <-res
	if r.err != nil || r.n != size {
		t.Fatalf("server read %d of %d bytes: %v", r.n, size, r.err)
	}
	return r.d
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestRate(t *testing.T) {
	const (
		rate = 50_000_000
		size = 8 << 20
	)
	l := startLink(t, Spec{RTT: 4 * time.Millisecond, RateBitsPerSec: rate})
	d := transfer(t, l, size)
	st := l.Stats()
	c2s := st.ClientToServer
	goodput := float64(size-1) * 8 / d.Seconds()
	// The cap applies to IP bytes. TCP's headers (and any retransmission)
	// make the IP bytes more than the payload: count them from the stats,
	// over the whole transfer, to get the IP rate the link carried.
	overhead := float64(c2s.DeliveredBytes) / float64(size)
	ipRate := goodput * overhead
	t.Logf("%d MiB in %v: goodput %.2f mbit/s, IP %.2f mbit/s (x%.4f) vs cap %d mbit/s; %d queue drops; stats %+v",
		size>>20, d.Round(time.Millisecond), goodput/1e6, ipRate/1e6, overhead, rate/1_000_000, c2s.QueueDrops, st)
	if r := ipRate / rate; r < 0.95 || r > 1.05 {
		t.Errorf("IP rate %.2f mbit/s is %.1f%% of the %d mbit/s cap, want within 5%%", ipRate/1e6, r*100, rate/1_000_000)
	}
	if overhead > 1.1 {
		t.Errorf("the link carried %.1f%% more IP bytes than payload, want under 10%%", (overhead-1)*100)
	}
}
