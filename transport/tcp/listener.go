package tcp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferryproject/ferry/transport"
)

// Listen announces on addr. A TLS transport's listener also admits plain TCP
// sessions when Config.AllowPlaintext is set.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	var lc net.ListenConfig
	lc.KeepAlive = t.cfg.KeepAlive
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	l := &listener{
		t:        t,
		ln:       ln,
		accepted: make(chan *session),
		done:     make(chan struct{}),
		sessions: map[sessionID]*session{},
		waiting:  map[sessionID]chan struct{}{},
		pending:  make(chan struct{}, t.cfg.MaxPendingHandshakes),
	}
	go l.acceptLoop()
	return l, nil
}

type listener struct {
	t        *Transport
	ln       net.Listener
	accepted chan *session
	pending  chan struct{} // one token per handshake in progress

	closeOnce sync.Once
	done      chan struct{}

	mu       sync.Mutex
	sessions map[sessionID]*session
	waiting  map[sessionID]chan struct{} // closed when the session registers
	err      error                       // why acceptLoop stopped
}

var _ transport.Listener = (*listener)(nil)

func (l *listener) Addr() net.Addr { return l.ln.Addr() }

func (l *listener) Accept(ctx context.Context) (transport.Session, error) {
	select {
	case s := <-l.accepted:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		l.mu.Lock()
		err := l.err
		l.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("%s listener: %w", l.t.Name(), net.ErrClosed)
		}
		return nil, err
	}
}

// Close stops accepting sessions. Sessions already accepted keep working,
// and may still open stream connections: the socket stays open, refusing new
// sessions, until the last of them ends.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		idle := len(l.sessions) == 0
		l.mu.Unlock()
		if idle {
			_ = l.ln.Close()
		}
	})
	return nil
}

func (l *listener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *listener) acceptLoop() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.mu.Lock()
			if l.err == nil {
				l.err = fmt.Errorf("%s listener: %w", l.t.Name(), err)
			}
			l.mu.Unlock()
			l.Close()
			return
		}
		select {
		case l.pending <- struct{}{}:
			go func() {
				defer func() { <-l.pending }()
				l.handshake(c.(*net.TCPConn))
			}()
		default:
			// Too many handshakes in progress: shed load rather than queue
			// it, so slow or stalled clients cannot lock out the rest.
			_ = c.Close()
		}
	}
}

// peekByte returns the first byte the client sent without consuming it
// (MSG_PEEK), so the connection can go on as plain TCP, with sendfile, or to
// crypto/tls untouched. It honours the connection's read deadline.
func peekByte(c *net.TCPConn) (byte, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	return b[0], nil
}

// handshake takes a new connection through TLS (if any) and the preambles,
// then makes it a session or joins it to one.
func (l *listener) handshake(tcpc *net.TCPConn) {
	_ = tcpc.SetNoDelay(true)
	deadline := time.Now().Add(l.t.cfg.HandshakeTimeout)
	_ = tcpc.SetDeadline(deadline)
	var nc net.Conn = tcpc
	plain := l.t.tls == nil
	var peerCert []byte
	if !plain {
		first, err := peekByte(tcpc)
		if err != nil {
			tcpc.Close()
			return
		}
		if first == magic[0] && l.t.cfg.AllowPlaintext {
			plain = true
		} else {
			batcher := &recordBatcher{Conn: tcpc}
			tc := tls.Server(batcher, l.t.tls)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				tcpc.Close()
				return
			}
			st := tc.ConnectionState()
			if st.NegotiatedProtocol != transport.ALPN {
				// Go accepts a client that offers no ALPN at all; ferry
				// does not.
				tcpc.Close()
				return
			}
			if len(st.PeerCertificates) > 0 {
				peerCert = st.PeerCertificates[0].Raw
			}
			nc = newAsyncWriteConn(tc, tcpc, batcher)
		}
	}
	if _, err := nc.Write(appendServerPreamble(nil, l.t.cfg.MaxStreams)); err != nil {
		nc.Close()
		return
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	kind, id, err := readClientPreamble(br)
	if err != nil {
		nc.Close()
		return
	}
	// Clear the handshake deadline on the socket itself too: under TLS, nc
	// keeps its own write deadline and would leave the socket's in force.
	_ = tcpc.SetDeadline(time.Time{})
	_ = nc.SetDeadline(time.Time{})
	sc := newStreamConn(nc, tcpc, br)
	sc.greeted = true

	if kind == kindSession {
		if l.isClosed() {
			nc.Close()
			return
		}
		s := newSession(l.t, id, false, sc, l, plain)
		s.peerCert = peerCert
		if !l.register(s) {
			nc.Close() // a duplicate session id: not from an honest client
			return
		}
		go s.readSignals()
		timer := time.NewTimer(l.t.cfg.HandshakeTimeout)
		defer timer.Stop()
		select {
		case l.accepted <- s:
		case <-l.done:
			s.end(fmt.Errorf("tcp listener closed before the session was accepted: %w", net.ErrClosed))
		case <-timer.C:
			// Nobody accepts: the server is overloaded.
			_ = s.CloseWithError(transport.CodeInternal, "server busy: session not accepted in time")
		}
		return
	}

	s := l.waitSession(id, deadline)
	if s == nil || s.plain != plain || !bytes.Equal(s.peerCert, peerCert) {
		// Unknown session, or a connection that tries to join a session
		// with another security level or client identity.
		nc.Close()
		return
	}
	if err := s.addServerConn(sc); err != nil {
		var b [resetFrameLen]byte
		b[0] = frameReset
		binary.BigEndian.PutUint64(b[1:], uint64(transport.CodeStreamLimit))
		_, _ = nc.Write(b[:])
		sc.lingerKill()
		return
	}
	s.serveConn(sc)
}

func (l *listener) register(s *session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.sessions[s.id]; dup {
		return false
	}
	l.sessions[s.id] = s
	if ch, ok := l.waiting[s.id]; ok {
		close(ch)
		delete(l.waiting, s.id)
	}
	return true
}

// waitSession finds the session a stream connection joins. The client
// dials its first stream connection in parallel with the signalling
// connection, so the join may arrive first: wait for it until deadline.
func (l *listener) waitSession(id sessionID, deadline time.Time) *session {
	l.mu.Lock()
	if s, ok := l.sessions[id]; ok {
		l.mu.Unlock()
		return s
	}
	if len(l.waiting) >= cap(l.pending) {
		l.mu.Unlock()
		return nil
	}
	ch, ok := l.waiting[id]
	if !ok {
		ch = make(chan struct{})
		l.waiting[id] = ch
	}
	l.mu.Unlock()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	case <-l.done:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sessions[id]; ok {
		return s
	}
	if l.waiting[id] == ch {
		delete(l.waiting, id)
	}
	return nil
}

func (l *listener) forget(s *session) {
	l.mu.Lock()
	if l.sessions[s.id] == s {
		delete(l.sessions, s.id)
	}
	idle := len(l.sessions) == 0
	l.mu.Unlock()
	if idle && l.isClosed() {
		_ = l.ln.Close()
	}
}
