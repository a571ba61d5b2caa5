package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	// On a lossy link an echo or its answer may be dropped: that echo is
	// sent again (a few times), and only its answered try is timed.
	tries := 1
	if l.Spec().Loss > 0 {
		tries = 10
	}
	for i := range n {
		binary.BigEndian.PutUint64(out, uint64(i))
		for try := 1; ; try++ {
			start := time.Now()
			if _, err := c.Write(out); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(start.Add(timeout))
			err := readEcho(c, in, len(out), uint64(i))
			if err == nil {
				rtts = append(rtts, time.Since(start))
				break
			}
			if try >= tries || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("echo %d (try %d): %v", i, try, err)
			}
		}
	}
	return rtts
}

// readEcho reads until the answer to echo number i (size bytes) arrives,
// skipping late answers to earlier echoes.
func readEcho(c net.Conn, in []byte, size int, i uint64) error {
	for {
		m, err := c.Read(in)
		if err != nil {
			return err
		}
		if m == size && binary.BigEndian.Uint64(in) == i {
			return nil
		}
	}
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

// nsInode is the inode of the network namespace that fd refers to.
func nsInode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// references lists what in this process still refers to the namespaces with
// the given inodes or to a TUN device: open files, and threads inside them.
func references(inodes ...uint64) []string {
	var refs []string
	check := func(path string) {
		target, err := os.Readlink(path)
		if err != nil {
			return
		}
		for _, ino := range inodes {
			if target == fmt.Sprintf("net:[%d]", ino) {
				refs = append(refs, path+" -> "+target)
			}
		}
		if target == "/dev/net/tun" {
			refs = append(refs, path+" -> "+target)
		}
	}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		check(fd)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, task := range tasks {
		check(task)
	}
	return refs
}

// netemGoroutines lists the stacks of goroutines running this package's
// code, other than tests.
func netemGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/netem.(*pipe)") || strings.Contains(g, "internal/netem.(*Link)") {
			found = append(found, g)
		}
	}
	return found
}

// eventually retries cond until it returns nil or 5 seconds pass.
func eventually(t *testing.T, what string, cond func() []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := cond()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still there after 5s:\n%s", what, strings.Join(left, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	l := startLink(t, Spec{RTT: 2 * time.Millisecond, RateBitsPerSec: 100_000_000, Loss: 0.01})
	inodes := []uint64{nsInode(t, l.ns[Client]), nsInode(t, l.ns[Server])}
	if inodes[0] == inodes[1] {
		t.Fatalf("both sides are in namespace %d", inodes[0])
	}
	measureRTT(t, l, 5)
	transfer(t, l, 1<<20)
	if len(references(inodes...)) == 0 || len(netemGoroutines()) == 0 {
		t.Fatal("the running link shows no namespaces or forwarder: the checks below prove nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	eventually(t, "namespace and TUN references", func() []string { return references(inodes...) })
	eventually(t, "forwarder goroutines", netemGoroutines)
	err := l.RunIn(Client, func() error { return nil })
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("RunIn after Close = %v, want net.ErrClosed", err)
	}
	if p := l.NSPath(Server); p != "" {
		t.Errorf("NSPath after Close = %q, want \"\"", p)
	}
}

func TestContextCancelCloses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("netem: link tests need root to create network namespaces and TUN devices")
	}
	ctx, cancel := context.WithCancel(t.Context())
	l, err := Start(ctx, Spec{})
	if errors.Is(err, ErrPermission) || errors.Is(err, ErrNoTUN) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	inodes := []uint64{nsInode(t, l.ns[Client]), nsInode(t, l.ns[Server])}
	cancel()
	eventually(t, "namespace and TUN references after cancel", func() []string { return references(inodes...) })
	eventually(t, "forwarder goroutines after cancel", netemGoroutines)
}

func TestStartBadSpec(t *testing.T) {
	_, err := Start(t.Context(), Spec{Loss: 2})
	if !errors.Is(err, ErrBadSpec) {
		t.Errorf("Start with loss 200%% = %v, want ErrBadSpec", err)
	}
}

// TestStartCommand runs this test binary as a child in the server namespace
// and checks that it sees the server's namespace and addresses.
func TestStartCommand(t *testing.T) {
	if os.Getenv("NETEM_TEST_HELPER") == "1" {
		return // the child's side is in TestMain
	}
	l := startLink(t, Spec{RTT: 2 * time.Millisecond})
	cmd := exec.CommandContext(testCtx(t, 30*time.Second), os.Args[0], "-test.run=^TestStartCommand$")
	cmd.Env = append(os.Environ(), "NETEM_TEST_HELPER=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := l.StartCommand(Server, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	want := fmt.Sprintf("net:[%d] %s", nsInode(t, l.ns[Server]), l.ServerAddr())
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("child printed %q, want %q", got, want)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("NETEM_TEST_HELPER") == "1" {
		// Child of TestStartCommand: print the namespace it is in and the
		// address of the TUN device there.
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		ifi, err := net.InterfaceByName(DeviceName)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		addrs, err := ifi.Addrs()
		if err != nil || len(addrs) != 1 {
			fmt.Println(addrs, err)
			os.Exit(1)
		}
		ip, _, _ := net.ParseCIDR(addrs[0].String())
		fmt.Println(ns, ip)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestJitter(t *testing.T) {
	const rtt, jitter, n = 20 * time.Millisecond, 10 * time.Millisecond, 200
	// What this machine adds to a round trip right now, measured on the same
	// link without jitter: a busy machine delays every packet a little, and
	// that must not be blamed on the jitter.
	base := median(measureRTT(t, startLink(t, Spec{RTT: rtt}), 50))
	excess := max(0, base-rtt)

	l := startLink(t, Spec{RTT: rtt, Jitter: jitter, Seed: 3})
	rtts := measureRTT(t, l, n)
	med, lo, hi := median(rtts), slices.Min(rtts), slices.Max(rtts)
	// A round trip is the sum of two uniform delays in RTT/2 ± Jitter/2
	// (variance Jitter²/12 each): it is never shorter than RTT-Jitter, and
	// its median is RTT. The median of n samples strays from it with a
	// standard error of 1.2533·σ/√n; four of those bound the test.
	sigma := float64(jitter) / math.Sqrt(6)
	stray := time.Duration(4 * 1.2533 * sigma / math.Sqrt(n))
	tol := rtt/20 + time.Millisecond + stray
	t.Logf("rtt=%v,jitter=%v: median %v, min %v, max %v; without jitter median %v; bound -%v +%v",
		rtt, jitter, med, lo, hi, base, tol, tol+excess)
	if lo < rtt-jitter {
		t.Errorf("shortest RTT %v, want at least %v", lo, rtt-jitter)
	}
	if med < rtt-tol || med > rtt+tol+excess {
		t.Errorf("median RTT %v, want %v -%v +%v (the machine added %v without jitter)", med, rtt, tol, tol+excess, excess)
	}
	// (The maximum is not checked: a busy machine can always add to it.)
	if hi-lo < jitter/2 {
		t.Errorf("RTTs span only %v, want a spread near %v", hi-lo, 2*jitter)
	}
}
