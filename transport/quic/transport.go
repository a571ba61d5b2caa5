package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/transport"
)

// Transport is ferry's QUIC transport. It dials through one UDP socket that
// it opens on the first Dial and keeps until Close; every Listen opens a
// socket of its own. A Transport is safe for concurrent use.
type Transport struct {
	tlsConf *tls.Config
	cfg     Config

	mu       sync.Mutex
	closed   bool
	udp      *net.UDPConn      // the dialing socket, nil until the first Dial
	qt       *quicgo.Transport // wraps udp
	sessions map[*session]struct{}
}

var _ transport.Transport = (*Transport)(nil)

// New returns a QUIC transport that uses tlsConf for every session. A
// Transport serves one role: a server passes a configuration with its
// Certificates, a client one that verifies the server (RootCAs, ServerName
// or VerifyConnection). New clones tlsConf and forces TLS 1.3 and ferry's
// ALPN (transport.ALPN) on the copy, so a peer without it is refused during
// the handshake.
func New(tlsConf *tls.Config, cfg Config) (*Transport, error) {
	if tlsConf == nil {
		return nil, errors.New("quic: a TLS configuration is required (QUIC always runs TLS 1.3)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc := tlsConf.Clone()
	tc.MinVersion = tls.VersionTLS13
	tc.NextProtos = []string{transport.ALPN}
	if tc.ClientSessionCache == nil {
		// Later sessions to the same server resume (and, with EarlyData,
		// may use 0-RTT). Resumed handshakes run VerifyConnection too.
		tc.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return &Transport{tlsConf: tc, cfg: cfg, sessions: make(map[*session]struct{})}, nil
}

// Name returns "quic".
func (t *Transport) Name() string { return "quic" }

// Dial opens a session to addr ("host:port") and returns it once the QUIC
// and TLS handshakes have completed and the server's certificate has been
// verified. ctx bounds name resolution and the handshake. When the TLS
// configuration names no ServerName, the host part of addr is verified, as
// crypto/tls.Dial does.
//
// With Config.EarlyData and a ticket from an earlier session with the same
// server, Dial returns before the handshake completes; see Config.EarlyData.
//
// Errors: a server that does not offer ferry/1 (or speaks no QUIC version we
// know) yields an error that unwraps to transport.ErrWrongProtocol; a
// handshake that times out reports Timeout() true; after Close, errors
// unwrap to net.ErrClosed.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Session, error) {
	op := "dial " + addr
	host, raddr, err := resolveUDP(ctx, addr)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	qt, err := t.dialTransport()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	tc := t.tlsConf.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	dial := qt.Dial
	if t.cfg.EarlyData {
		dial = qt.DialEarly
	}
	conn, err := dial(ctx, raddr, tc, t.cfg.quicConfig(true))
	if err != nil {
		return nil, wrapErr(op, err)
	}
	s := newSession(conn, true)
	s.handshakeTimeout = t.cfg.handshakeTimeout()
	if t.cfg.EarlyData {
		select {
		case <-conn.HandshakeComplete():
			// No 0-RTT was sent (there was no ticket, or the handshake
			// won the race). If the server refused a ticket's 0-RTT
			// anyway, quic-go holds back new streams until told to go
			// on; NextConnection does that and returns at once.
			if _, err := conn.NextConnection(ctx); err != nil {
				return nil, wrapErr(op, err)
			}
		default:
			s.watchEarly()
		}
	}

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		s.CloseWithError(transport.CodeNoError, "client transport closed")
		return nil, closedErr(op, errTransportClosed, nil)
	}
	t.sessions[s] = struct{}{}
	t.mu.Unlock()
	context.AfterFunc(s.ctx, func() {
		t.mu.Lock()
		delete(t.sessions, s)
		t.mu.Unlock()
	})
	return s, nil
}

// dialTransport returns the quic-go Transport for dialing, creating it and
// its socket on first use.
func (t *Transport) dialTransport() (*quicgo.Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errTransportClosed
	}
	if t.qt != nil {
		return t.qt, nil
	}
	// A real *net.UDPConn (not a wrapper) lets quic-go use GSO, ECN and
	// batched reads; losing GSO alone costs 2.4x the throughput. The
	// unspecified address gives a dual-stack socket for IPv4 and IPv6.
	udp, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	t.udp = udp
	t.qt = &quicgo.Transport{Conn: udp, StatelessResetKey: (*quicgo.StatelessResetKey)(t.cfg.StatelessResetKey)}
	return t.qt, nil
}

// resolveUDP resolves "host:port" honouring ctx. It returns the host for
// certificate verification and the address to dial. An empty host means
// this machine, as for net.Dial.
func resolveUDP(ctx context.Context, addr string) (string, *net.UDPAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
	if err != nil {
		return "", nil, err
	}
	if host == "" {
		host = "localhost"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return host, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", nil, err
	}
	if len(ips) == 0 {
		return "", nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	// Prefer IPv4, which works on every network the socket can reach.
	ip := ips[0]
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a
			break
		}
	}
	return host, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

// Close closes every session dialed through t (the peers see code
// transport.CodeNoError and the reason "client transport closed"), then the
// dialing socket. Listeners are not affected. Later Dials fail with an error
// that unwraps to net.ErrClosed. Closing twice is harmless.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	sessions := make([]*session, 0, len(t.sessions))
	for s := range t.sessions {
		sessions = append(sessions, s)
	}
	qt, udp := t.qt, t.udp
	t.mu.Unlock()

	// CloseWithError returns once CONNECTION_CLOSE has been sent, which
	// must happen before the socket goes: quic-go's Transport.Close kills
	// connections without telling the peer.
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.CloseWithError(transport.CodeNoError, "client transport closed") })
	}
	wg.Wait()
	if qt == nil {
		return nil
	}
	err := qt.Close()
	if cerr := udp.Close(); err == nil {
		err = cerr
	}
	return wrapErr("close", err)
}

// Listen opens a UDP socket on addr ("host:port"; port 0 picks a free port)
// and accepts QUIC sessions on it. ctx bounds the resolution of addr.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	op := "listen " + addr
	pc, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	udp := pc.(*net.UDPConn) // "udp" always gives a *net.UDPConn, which quic-go needs for GSO
	qt := &quicgo.Transport{Conn: udp, StatelessResetKey: (*quicgo.StatelessResetKey)(t.cfg.StatelessResetKey)}
	var ln acceptor
	if t.cfg.EarlyData {
		ln, err = qt.ListenEarly(t.tlsConf, t.cfg.quicConfig(false))
	} else {
		ln, err = qt.Listen(t.tlsConf, t.cfg.quicConfig(false))
	}
	if err != nil {
		qt.Close()
		udp.Close()
		return nil, wrapErr(op, err)
	}
	l := &listener{ln: ln, qt: qt, udp: udp, gone: make(chan struct{}),
		queue: make(chan *quicgo.Conn, acceptQueue), acceptDone: make(chan struct{}),
		early: t.cfg.EarlyData, handshakeTimeout: t.cfg.handshakeTimeout(), handshakes: make(chan struct{}, maxEarlyHandshakes), stop: make(chan struct{})}
	go l.acceptLoop()
	return l, nil
}

// acceptQueue is how many handshaken sessions wait for Accept. quic-go
// itself queues only 32 and refuses the rest (CONNECTION_REFUSED), which a
// burst of clients meeting a busy accept loop would hit; a goroutine that
// does nothing but take them off quic-go's queue keeps that from happening.
const acceptQueue = 256

// maxEarlyHandshakes bounds the sessions of an early-data listener that
// wait for their handshake to complete before they are queued for Accept.
// Each costs a goroutine; beyond the bound the server is overloaded and a
// new session is refused at once.
const maxEarlyHandshakes = 1024

// acceptor is quic-go's Listener or EarlyListener.
type acceptor interface {
	Accept(context.Context) (*quicgo.Conn, error)
	Close() error
}

// acceptLoop moves sessions from quic-go's small queue to l.queue. Beyond
// acceptQueue waiting sessions the server is overloaded, and a new session
// is closed at once with a clear reason.
//
// An early-data listener gets sessions from quic-go before their handshake
// completes. Only those whose client resumed with 0-RTT are queued at once:
// their requests were sent under a key that only a client of an earlier,
// verified session holds. Every other session waits for its handshake, as
// with a plain listener, so that a flood of forged first packets cannot
// fill the server's session slots.
func (l *listener) acceptLoop() {
	defer close(l.acceptDone)
	for {
		conn, err := l.ln.Accept(context.Background())
		if err != nil {
			l.mu.Lock()
			l.acceptErr = err
			l.mu.Unlock()
			l.waiting.Wait()
			return
		}
		if !l.early || conn.ConnectionState().Used0RTT {
			l.enqueue(conn)
			continue
		}
		select {
		case l.handshakes <- struct{}{}:
		default:
			conn.CloseWithError(quicgo.ApplicationErrorCode(transport.CodeInternal), "server busy: too many handshakes in progress")
			continue
		}
		l.waiting.Go(func() {
			defer func() { <-l.handshakes }()
			select {
			case <-conn.HandshakeComplete():
				// HandshakeComplete is also closed when the handshake
				// fails; enqueue only a live session.
				if conn.Context().Err() == nil {
					l.enqueue(conn)
				}
			case <-conn.Context().Done():
			case <-l.stop:
				conn.CloseWithError(quicgo.ApplicationErrorCode(transport.CodeNoError), "listener closed")
			}
		})
	}
}

func (l *listener) enqueue(conn *quicgo.Conn) {
	select {
	case l.queue <- conn:
	default:
		conn.CloseWithError(quicgo.ApplicationErrorCode(transport.CodeInternal), "server busy: too many sessions waiting")
	}
}

// listener accepts sessions. Its socket and quic-go Transport outlive Close
// until the last accepted session has ended, because closing them would
// kill those sessions without a CONNECTION_CLOSE.
type listener struct {
	ln  acceptor
	qt  *quicgo.Transport
	udp *net.UDPConn

	queue      chan *quicgo.Conn // handshaken sessions waiting for Accept
	acceptDone chan struct{}     // closed when acceptLoop ends

	early            bool           // sessions come from quic-go before their handshake completes
	handshakeTimeout time.Duration  // the longest a handshake may take
	handshakes       chan struct{}  // slots for sessions waiting for their handshake
	waiting          sync.WaitGroup // those waits
	stop             chan struct{}  // closed by Close: waiting sessions are refused

	mu        sync.Mutex
	acceptErr error // why acceptLoop ended
	closed    bool
	live      int // accepted sessions not yet ended
	released  bool
	gone      chan struct{} // closed once the socket is closed
}

// Accept waits for the next session whose handshake has completed. After
// Close it returns an error that unwraps to net.ErrClosed; when ctx ends
// first, an error that unwraps to ctx.Err().
func (l *listener) Accept(ctx context.Context) (transport.Session, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, closedErr("accept", errListenerClosed, nil)
	}
	var conn *quicgo.Conn
	select {
	case conn = <-l.queue:
	case <-ctx.Done():
		return nil, wrapErr("accept", ctx.Err())
	case <-l.acceptDone:
		select {
		case conn = <-l.queue:
		default:
			l.mu.Lock()
			err := l.acceptErr
			l.mu.Unlock()
			return nil, wrapErr("accept", err)
		}
	}
	s := newSession(conn, false)
	s.handshakeTimeout = l.handshakeTimeout
	l.mu.Lock()
	if l.closed {
		// Close won the race: this session was never handed out.
		l.mu.Unlock()
		s.CloseWithError(transport.CodeNoError, "listener closed")
		return nil, closedErr("accept", errListenerClosed, nil)
	}
	l.live++
	l.mu.Unlock()
	context.AfterFunc(s.ctx, func() {
		l.mu.Lock()
		l.live--
		release := l.closed && l.live == 0
		l.mu.Unlock()
		if release {
			l.release()
		}
	})
	return s, nil
}

// Addr is the local UDP address, with the real port.
func (l *listener) Addr() net.Addr { return l.udp.LocalAddr() }

// Close stops accepting sessions. Sessions already accepted keep working
// until they close; the socket closes with the last of them. Until then the
// port stays bound and new clients' handshakes time out instead of being
// refused. Closing twice is harmless.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	release := l.live == 0
	l.mu.Unlock()
	close(l.stop)
	err := wrapErr("close listener", l.ln.Close())
	// Sessions that completed their handshake but were never accepted.
	<-l.acceptDone
	for {
		select {
		case conn := <-l.queue:
			conn.CloseWithError(quicgo.ApplicationErrorCode(transport.CodeNoError), "listener closed")
			continue
		default:
		}
		break
	}
	if release {
		if rerr := l.release(); err == nil {
			err = rerr
		}
	}
	return err
}

// release closes the quic-go Transport and the socket, once.
func (l *listener) release() error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	defer close(l.gone)
	err := l.qt.Close()
	if cerr := l.udp.Close(); err == nil {
		err = cerr
	}
	return wrapErr("close listener", err)
}
