package tcp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ferryproject/ferry/transport"
)

// Config tunes a Transport. The zero value works; every field documents its
// default.
type Config struct {
	// HandshakeTimeout bounds the TLS handshake and the exchange of
	// preambles on every connection, on both sides. Default 10 s.
	HandshakeTimeout time.Duration

	// MaxStreams is the number of stream connections a listener admits per
	// session, announced to clients in its greeting; clients never exceed
	// it. Default 100.
	MaxStreams int

	// MaxIdleConns is how many finished stream connections a client keeps
	// per session for reuse. Default 16.
	MaxIdleConns int

	// MaxPendingHandshakes bounds the connections a listener handshakes at
	// once; beyond it new connections are closed at once, so a flood of
	// slow clients cannot exhaust the server. Default 256.
	MaxPendingHandshakes int

	// KeepAlive is the TCP keep-alive period. Default 15 s (Go's default).
	KeepAlive time.Duration

	// AllowPlaintext lets the listener of a TLS transport also accept
	// plain TCP sessions on the same port: the first byte tells them apart.
	// Plain TCP is unencrypted and unauthenticated. Default false. It has
	// no effect on dialing.
	AllowPlaintext bool
}

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 100
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = 16
	}
	if c.MaxPendingHandshakes <= 0 {
		c.MaxPendingHandshakes = 256
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 15 * time.Second
	}
	return c
}

// minGuaranteedStreams is how many stream connections a client may open
// before it has read the server's greeting. Every listener admits at least
// this many (docs/tcp-framing.md).
const minGuaranteedStreams = 4

// Transport is a transport.Transport over TCP, with or without TLS 1.3.
type Transport struct {
	cfg Config
	tls *tls.Config // nil for plain TCP

	mu       sync.Mutex
	sessions map[*session]struct{} // dialed sessions, closed by Close
	closed   bool
}

var _ transport.Transport = (*Transport)(nil)

// NewTLS returns a transport that runs every connection over TLS 1.3 with
// ALPN transport.ALPN. tlsConf decides identity and verification: a listener
// needs Certificates, a dialer needs a way to verify the server (RootCAs or a
// VerifyConnection). The configuration is cloned; MinVersion is raised to TLS
// 1.3 and NextProtos set to ferry's ALPN. A dialer without a
// ClientSessionCache gets one, so the extra connections of a session resume
// TLS instead of running full handshakes.
func NewTLS(tlsConf *tls.Config, cfg Config) (*Transport, error) {
	if tlsConf == nil {
		return nil, errors.New("tcp: NewTLS needs a tls.Config")
	}
	c := tlsConf.Clone()
	c.MinVersion = tls.VersionTLS13
	c.NextProtos = []string{transport.ALPN}
	if c.ClientSessionCache == nil {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return &Transport{cfg: cfg.withDefaults(), tls: c, sessions: map[*session]struct{}{}}, nil
}

// NewPlaintext returns a transport over plain TCP: no encryption, no
// authentication. Anyone on the path can read and change the data. Use it
// only where that is acceptable, and say so to the user.
func NewPlaintext(cfg Config) *Transport {
	return &Transport{cfg: cfg.withDefaults(), sessions: map[*session]struct{}{}}
}

// Name is "tls" or "tcp".
func (t *Transport) Name() string {
	if t.tls != nil {
		return "tls"
	}
	return "tcp"
}

// Close closes every session dialed through t. Listeners are closed
// separately.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	sessions := make([]*session, 0, len(t.sessions))
	for s := range t.sessions {
		sessions = append(sessions, s)
	}
	t.mu.Unlock()
	for _, s := range sessions {
		_ = s.CloseWithError(transport.CodeNoError, "transport closed")
	}
	return nil
}

// Dial opens a session: one signalling connection, plus a first stream
// connection dialed in parallel so that the first stream costs no extra round
// trip. The server's identity is verified by the TLS handshake of every
// connection.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Session, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("tcp: dial on a closed transport: %w", net.ErrClosed)
	}
	var id sessionID
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("tcp: making a session id: %w", err)
	}
	// The first stream connection is dialed at the same time as the
	// signalling connection, so the first stream costs no round trip of
	// its own; the server holds the join until the session is known.
	first := make(chan *streamConn, 1)
	firstCtx, cancelFirst := context.WithTimeout(context.Background(), t.cfg.HandshakeTimeout)
	go func() {
		defer cancelFirst()
		sc, err := t.dialConn(firstCtx, addr, kindJoin, id)
		if err != nil {
			sc = nil // OpenStream dials again and reports the error
		}
		first <- sc
	}()
	sig, err := t.dialConn(ctx, addr, kindSession, id)
	if err != nil {
		cancelFirst()
		go func() {
			if sc := <-first; sc != nil {
				sc.kill()
			}
		}()
		return nil, err
	}
	s := newSession(t, id, true, sig, nil, sig.plain)
	s.addr = addr
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		sig.kill()
		return nil, fmt.Errorf("tcp: dial on a closed transport: %w", net.ErrClosed)
	}
	t.sessions[s] = struct{}{}
	t.mu.Unlock()
	go s.readSignals()
	s.adoptFirst(first)
	return s, nil
}

// dialConn makes one connection of a session: TCP, the TLS handshake, and
// the client preamble. It does not wait for the server's greeting, which is
// read with the first response, so that a session costs no extra round trip.
func (t *Transport) dialConn(ctx context.Context, addr string, kind byte, id sessionID) (*streamConn, error) {
	d := net.Dialer{KeepAlive: t.cfg.KeepAlive}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	tcpc := c.(*net.TCPConn)
	_ = tcpc.SetNoDelay(true)
	var nc net.Conn = tcpc
	hctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	if t.tls != nil {
		conf := t.tls
		if conf.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("tls: %w", err)
			}
			conf = conf.Clone()
			conf.ServerName = host
		}
		batcher := &recordBatcher{Conn: tcpc}
		tc := tls.Client(batcher, conf)
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, tlsError(err))
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != transport.ALPN {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w (ALPN %q)", addr, transport.ErrWrongProtocol, p)
		}
		nc = newAsyncWriteConn(tc, tcpc, batcher)
	}
	if dl, ok := hctx.Deadline(); ok {
		_ = nc.SetWriteDeadline(dl)
	}
	if _, err := nc.Write(appendClientPreamble(nil, kind, id)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: sending the preamble to %s: %w", t.Name(), addr, err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return newStreamConn(nc, tcpc, bufio.NewReaderSize(nc, 64<<10)), nil
}

// tlsError marks the TLS failures that mean the peer speaks another protocol.
func tlsError(err error) error {
	// crypto/tls reports an alert received over TCP with an unexported
	// type, so the text is the only way to recognise the ALPN refusal.
	if strings.Contains(err.Error(), "no application protocol") {
		return fmt.Errorf("%w: %w", transport.ErrWrongProtocol, err)
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return fmt.Errorf("%w: the peer does not speak TLS: %w", transport.ErrWrongProtocol, err)
	}
	return err
}

func (t *Transport) forget(s *session) {
	t.mu.Lock()
	delete(t.sessions, s)
	t.mu.Unlock()
}
