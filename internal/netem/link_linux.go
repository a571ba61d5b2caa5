package netem

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Addresses of the two ends, in 198.18.0.0/15, the range RFC 2544 sets
// aside for benchmarks. They exist only inside the link's own namespaces,
// so every link can use the same ones.
var (
	clientAddr = netip.AddrFrom4([4]byte{198, 18, 0, 1})
	serverAddr = netip.AddrFrom4([4]byte{198, 18, 0, 2})
)

// DeviceName is the name of the TUN device in each namespace.
const DeviceName = "ferry0"

// Link is a running emulated link. Its methods are safe for concurrent use.
type Link struct {
	spec  Spec
	name  string
	addr  [2]netip.Addr
	pipes [2]*pipe // [Client] carries client to server, [Server] the reverse
	wg    sync.WaitGroup
	done  chan struct{}

	mu     sync.RWMutex // guards what follows; RunIn holds it shared while entering a namespace
	closed bool
	ns     [2]int      // namespace file descriptors, -1 once closed
	tun    [2]*os.File // TUN devices
	stop   func() bool // stops the context.AfterFunc that closes the link

	closeOnce sync.Once
	closeErr  error
}

// Start creates the link described by spec: two network namespaces, each
// with loopback up and a TUN device named DeviceName (MTU spec.MTU,
// addresses ClientAddr and ServerAddr on a /30), and the forwarder between
// them. The link is closed when ctx is done or Close is called.
//
// It returns an error that unwraps to ErrBadSpec for an invalid spec,
// ErrPermission without the needed privileges and ErrNoTUN without a TUN
// device.
func Start(ctx context.Context, spec Spec) (*Link, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var r [8]byte
	crand.Read(r[:])
	l := &Link{
		spec: spec,
		name: "ferry-" + hex.EncodeToString(r[:4]),
		addr: [2]netip.Addr{clientAddr, serverAddr},
		done: make(chan struct{}),
		ns:   [2]int{-1, -1},
	}
	for side := range 2 {
		ns, tun, err := newEnd(l.addr[side], l.addr[1-side], spec.mtu())
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("netem: creating the %v end: %w", Side(side), err)
		}
		l.ns[side], l.tun[side] = ns, tun
	}

	seed := spec.Seed
	if seed == 0 {
		seed = binary.LittleEndian.Uint64(r[:])
	}
	start := time.Now()
	for side := range 2 {
		rng := rand.New(rand.NewPCG(seed, uint64(side)))
		p := newPipe(l.tun[side], l.tun[1-side], newShaper(spec, rng), start, spec.mtu(), l.done)
		l.pipes[side] = p
		l.wg.Add(2)
		go func() { defer l.wg.Done(); p.read() }()
		go func() { defer l.wg.Done(); p.write() }()
	}
	l.mu.Lock()
	l.stop = context.AfterFunc(ctx, func() { l.Close() })
	l.mu.Unlock()
	return l, nil
}

// newEnd creates a network namespace with a configured TUN device in it, on
// a thread that it moves into the new namespace and then back.
func newEnd(local, peer netip.Addr, mtu int) (ns int, tun *os.File, err error) {
	type result struct {
		ns  int
		tun *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		err := onThreadIn(
			func() error { return unix.Unshare(unix.CLONE_NEWNET) },
			func() { r.ns, r.tun, r.err = setupEnd(local, peer, mtu) })
		if err != nil {
			r.ns, r.err = -1, err
			if errors.Is(err, unix.EPERM) {
				r.err = fmt.Errorf("%w (unshare: %v)", ErrPermission, err)
			}
		}
		ch <- r
	}()
	r := <-ch
	return r.ns, r.tun, r.err
}

// onThreadIn locks the calling goroutine to its thread, moves the thread
// into another network namespace with enter, runs fn and moves the thread
// back. Only a thread that is back in its namespace is unlocked; one that
// cannot go back stays locked, so that it never runs another goroutine and
// the runtime destroys it when its goroutine exits. (Letting every thread
// die that way is not enough: the main thread cannot exit, and the runtime
// parks it for good, still in the namespace, keeping it alive.)
func onThreadIn(enter func() error, fn func()) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	defer unix.Close(orig)
	back := func() {
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}
	if err := enter(); err != nil {
		back()
		return err
	}
	defer back()
	fn()
	return nil
}

// setupEnd runs on a thread in a new network namespace.
func setupEnd(local, peer netip.Addr, mtu int) (ns int, tun *os.File, err error) {
	ns, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("opening the network namespace: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(ns)
			ns = -1
		}
	}()

	// Keep the link quiet: without IPv6 no router solicitations or
	// duplicate address detection cross it, and every packet the forwarder
	// counts is one a test or the bench sent. Best effort: a kernel without
	// IPv6 has no such file.
	for _, conf := range []string{"all", "default"} {
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0)
	}

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO):
		return -1, nil, fmt.Errorf("%w (%v)", ErrNoTUN, err)
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return -1, nil, fmt.Errorf("%w (opening /dev/net/tun: %v)", ErrPermission, err)
	case err != nil:
		return -1, nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(DeviceName)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			return -1, nil, fmt.Errorf("%w (TUNSETIFF: %v)", ErrPermission, err)
		}
		return -1, nil, fmt.Errorf("creating the TUN device: %w", err)
	}
	// A non-blocking descriptor makes the os.File use the runtime poller, so
	// that Close interrupts a pending Read.
	tun = os.NewFile(uintptr(fd), "/dev/net/tun:"+DeviceName)
	defer func() {
		if err != nil {
			tun.Close()
			tun = nil
		}
	}()
	if err := configure(local, peer, mtu); err != nil {
		return -1, nil, err
	}
	return ns, tun, nil
}

// configure brings loopback and the TUN device up, with the device's MTU
// and addresses, through the classic interface ioctls, which need no
// netlink and no external tool.
func configure(local, peer netip.Addr, mtu int) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("configuring interfaces: %w", err)
	}
	defer unix.Close(s)
	do := func(dev, what string, req uint, set func(*unix.Ifreq) error) error {
		ifr, err := unix.NewIfreq(dev)
		if err == nil {
			err = set(ifr)
		}
		if err == nil {
			err = unix.IoctlIfreq(s, req, ifr)
		}
		if err != nil {
			return fmt.Errorf("configuring %s: setting %s: %w", dev, what, err)
		}
		return nil
	}
	up := func(dev string) error {
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			return fmt.Errorf("configuring %s: reading flags: %w", dev, err)
		}
		flags := ifr.Uint16() | unix.IFF_UP
		return do(dev, "flags", unix.SIOCSIFFLAGS, func(r *unix.Ifreq) error { r.SetUint16(flags); return nil })
	}
	l4, p4 := local.As4(), peer.As4()
	mask := [4]byte{255, 255, 255, 252}
	steps := []error{
		up("lo"),
		do(DeviceName, "mtu", unix.SIOCSIFMTU, func(r *unix.Ifreq) error { r.SetUint32(uint32(mtu)); return nil }),
		do(DeviceName, "address", unix.SIOCSIFADDR, func(r *unix.Ifreq) error { return r.SetInet4Addr(l4[:]) }),
		do(DeviceName, "peer address", unix.SIOCSIFDSTADDR, func(r *unix.Ifreq) error { return r.SetInet4Addr(p4[:]) }),
		do(DeviceName, "netmask", unix.SIOCSIFNETMASK, func(r *unix.Ifreq) error { return r.SetInet4Addr(mask[:]) }),
		up(DeviceName),
	}
	return errors.Join(steps...)
}

// Name is a name for this link in logs, "ferry-" and 8 random hex digits.
func (l *Link) Name() string { return l.name }

// Spec is the spec the link was started with.
func (l *Link) Spec() Spec { return l.spec }

// ClientAddr is the address of the client end, 198.18.0.1.
func (l *Link) ClientAddr() netip.Addr { return l.addr[Client] }

// ServerAddr is the address of the server end, 198.18.0.2.
func (l *Link) ServerAddr() netip.Addr { return l.addr[Server] }

// Addr is the address of side.
func (l *Link) Addr(side Side) netip.Addr { return l.addr[side] }

// RunIn runs fn on an OS thread that has been moved into side's network
// namespace, and returns what fn returns. Sockets fn creates belong to that
// namespace for their whole life, whichever goroutine uses them later, and
// processes fn starts are born in it. Goroutines fn starts run elsewhere,
// in the host's namespace. The thread returns to its namespace after fn (or
// is discarded if it cannot). A
// panic in fn is re-raised in the caller. After Close, RunIn returns an
// error that unwraps to net.ErrClosed.
func (l *Link) RunIn(side Side, fn func() error) error {
	if side != Client && side != Server {
		return fmt.Errorf("netem: no such side %v", side)
	}
	type result struct {
		err   error
		panic any
		ok    bool
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if !r.ok {
				r.panic = recover()
			}
			ch <- r
		}()
		enter := func() error {
			l.mu.RLock()
			defer l.mu.RUnlock()
			if l.closed {
				return fmt.Errorf("netem: link %s: %w", l.name, net.ErrClosed)
			}
			if err := unix.Setns(l.ns[side], unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("netem: entering the %v namespace: %w", side, err)
			}
			return nil
		}
		if err := onThreadIn(enter, func() { r.err = fn() }); err != nil {
			r.err = err
		}
		r.ok = true
	}()
	r := <-ch
	if !r.ok {
		panic(r.panic)
	}
	return r.err
}

// RunInClient is RunIn(Client, fn).
func (l *Link) RunInClient(fn func() error) error { return l.RunIn(Client, fn) }

// RunInServer is RunIn(Server, fn).
func (l *Link) RunInServer(fn func() error) error { return l.RunIn(Server, fn) }

// Listen is net.ListenConfig.Listen run inside side's namespace.
func (l *Link) Listen(ctx context.Context, side Side, network, address string) (ln net.Listener, err error) {
	err = l.RunIn(side, func() error {
		ln, err = new(net.ListenConfig).Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// ListenPacket is net.ListenConfig.ListenPacket run inside side's namespace.
func (l *Link) ListenPacket(ctx context.Context, side Side, network, address string) (c net.PacketConn, err error) {
	err = l.RunIn(side, func() error {
		c, err = new(net.ListenConfig).ListenPacket(ctx, network, address)
		return err
	})
	return c, err
}

// Dial is net.Dialer.DialContext run inside side's namespace. address must
// be a literal IP address and port: a host name would be resolved by
// goroutines outside the namespace.
func (l *Link) Dial(ctx context.Context, side Side, network, address string) (c net.Conn, err error) {
	if host, _, err := net.SplitHostPort(address); err == nil {
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("netem: dial %s: want a literal IP address", address)
		}
	}
	err = l.RunIn(side, func() error {
		c, err = new(net.Dialer).DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// StartCommand starts cmd as a process inside side's namespace: the
// process is forked from a thread that is in that namespace, so the child
// and everything it runs are born there, with nothing to install and no
// helper binary. The caller waits for cmd as usual. Closing the link does
// not kill the process, but its network goes away with the namespaces'
// devices only once it exits.
func (l *Link) StartCommand(side Side, cmd *exec.Cmd) error {
	return l.RunIn(side, cmd.Start)
}

// NSPath is a path that names side's network namespace while the link is
// open, for tools such as nsenter --net=PATH. It is "" after Close.
func (l *Link) NSPath(side Side) string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ""
	}
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), l.ns[side])
}

// Stats returns the link's counters so far.
func (l *Link) Stats() Stats {
	var s Stats
	if p := l.pipes[Client]; p != nil {
		s.ClientToServer = p.stats.snapshot()
	}
	if p := l.pipes[Server]; p != nil {
		s.ServerToClient = p.stats.snapshot()
	}
	return s
}

// Close stops the forwarder, closes the TUN devices and releases the
// namespaces; the kernel then removes them and their devices, once sockets
// made in them are closed and processes started in them have exited. It
// waits for the forwarder's goroutines. Close is idempotent, safe to call
// concurrently and from a signal-handling goroutine; every call returns the
// first call's result.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		stop := l.stop
		l.mu.Unlock()
		if stop != nil {
			stop()
		}
		close(l.done)
		var errs []error
		for i, f := range l.tun {
			if f != nil {
				if err := f.Close(); err != nil {
					errs = append(errs, fmt.Errorf("netem: closing the %v TUN device: %w", Side(i), err))
				}
			}
		}
		l.wg.Wait()
		l.mu.Lock()
		for i, fd := range l.ns {
			if fd >= 0 {
				if err := unix.Close(fd); err != nil {
					errs = append(errs, fmt.Errorf("netem: releasing the %v namespace: %w", Side(i), err))
				}
				l.ns[i] = -1
			}
		}
		l.mu.Unlock()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// sleep blocks the calling thread for d with the kernel's high-resolution
// timer.
func sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
