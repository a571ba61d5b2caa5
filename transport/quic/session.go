package quic

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/transport"
)

// session adapts a *quicgo.Conn to transport.Session.
type session struct {
	conn   *quicgo.Conn
	dialed bool // streams are opened by the dialing side only

	// ctx ends with the connection; its cause is the translated close
	// error, so that nothing quic-go specific leaks through Context.
	ctx context.Context

	// early is set on a session dialed with 0-RTT, until and after its
	// handshake completes; nil otherwise.
	early *early

	// handshakeTimeout bounds how long CloseWithError waits for a
	// handshake still in progress (0-RTT sessions).
	handshakeTimeout time.Duration
}

var (
	_ transport.Session         = (*session)(nil)
	_ transport.HandshakeStater = (*session)(nil)
)

func newSession(conn *quicgo.Conn, dialed bool) *session {
	ctx, cancel := context.WithCancelCause(context.Background())
	context.AfterFunc(conn.Context(), func() {
		cancel(wrapErr("session", context.Cause(conn.Context())))
	})
	return &session{conn: conn, dialed: dialed, ctx: ctx}
}

// OpenStream opens a stream on a dialed session, waiting while the peer's
// stream limit is reached. The peer learns of the stream with its first
// byte.
func (s *session) OpenStream(ctx context.Context) (transport.Stream, error) {
	if !s.dialed {
		return nil, sideErr("open stream")
	}
	if s.early != nil {
		if st, ok, err := s.openEarly(ctx); ok {
			return st, err
		}
	}
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, wrapErr("open stream", err)
	}
	return newStream(str, s.conn), nil
}

// AcceptStream waits for the next stream the peer opened on an accepted
// session.
func (s *session) AcceptStream(ctx context.Context) (transport.Stream, error) {
	if s.dialed {
		return nil, sideErr("accept stream")
	}
	str, err := s.conn.AcceptStream(ctx)
	if err != nil {
		return nil, wrapErr("accept stream", err)
	}
	return newStream(str, s.conn), nil
}

// CloseWithError sends CONNECTION_CLOSE with code and reason and returns
// once it has been sent. Streams fail at once; unacknowledged data is lost.
//
// On a session whose handshake is still running (one that sent or accepted
// 0-RTT), it first waits for the handshake, at most the handshake timeout:
// a close sent before then travels in packets that cannot carry the code
// and the reason (RFC 9000, section 10.2.3), and the peer would learn
// neither.
func (s *session) CloseWithError(code transport.ErrorCode, reason string) error {
	select {
	case <-s.conn.HandshakeComplete():
	default:
		t := time.NewTimer(s.handshakeTimeout)
		select {
		case <-s.conn.HandshakeComplete():
		case <-s.conn.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}
	// quic-go's CloseWithError always returns nil and ignores repeats.
	return s.conn.CloseWithError(quicgo.ApplicationErrorCode(code), reason)
}

// HandshakeState waits for the handshake to complete and describes it. On
// either side, EarlyData tells that the client's 0-RTT data was accepted.
func (s *session) HandshakeState(ctx context.Context) (transport.HandshakeState, error) {
	select {
	case <-s.conn.HandshakeComplete():
	case <-ctx.Done():
		return transport.HandshakeState{}, wrapErr("handshake state", ctx.Err())
	}
	cs := s.conn.ConnectionState()
	if !cs.TLS.HandshakeComplete {
		// HandshakeComplete is closed when the handshake fails too.
		return transport.HandshakeState{}, wrapErr("handshake state", context.Cause(s.conn.Context()))
	}
	return transport.HandshakeState{TLS: cs.TLS, EarlyData: cs.Used0RTT}, nil
}

func (s *session) Context() context.Context { return s.ctx }
func (s *session) LocalAddr() net.Addr      { return s.conn.LocalAddr() }
func (s *session) RemoteAddr() net.Addr     { return s.conn.RemoteAddr() }

// stream adapts a *quicgo.Stream to transport.Stream.
//
// quic-go forbids calling Close (the FIN) after CancelWrite and concurrently
// with Write. Close, CloseWrite and Abort therefore decide under mu, and a
// FIN is only sent when no Write is in flight. When one is, the write side is
// reset with CodeClosed instead: a FIN then would give the peer a clean EOF
// after a truncated write, and an EOF must always mean the sender finished
// on purpose.
type stream struct {
	str  *quicgo.Stream
	conn *quicgo.Conn

	closed atomic.Bool // Close was called; read without mu on the read path

	mu        sync.Mutex
	writers   int  // Writes in flight (quic-go serialises them itself)
	writeDone bool // the send side has ended: FIN, reset or abort
	aborted   bool
	abortCode transport.ErrorCode
}

var _ transport.Stream = (*stream)(nil)

func newStream(str *quicgo.Stream, conn *quicgo.Conn) *stream {
	return &stream{str: str, conn: conn}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, closedErr("read", errStreamClosed, nil)
	}
	n, err := s.str.Read(p)
	if err != nil && err != io.EOF {
		if s.closed.Load() {
			// Close interrupted this Read (CancelRead woke it up).
			return n, closedErr("read", errStreamClosed, err)
		}
		return n, wrapErr("read", err)
	}
	return n, err
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	switch {
	case s.closed.Load():
		s.mu.Unlock()
		return 0, closedErr("write", errStreamClosed, nil)
	case s.aborted:
		s.mu.Unlock()
		return 0, s.abortErr("write")
	case s.writeDone:
		s.mu.Unlock()
		return 0, closedErr("write", errWriteClosed, nil)
	}
	s.writers++
	s.mu.Unlock()

	n, err := s.str.Write(p)

	s.mu.Lock()
	s.writers--
	closed := s.closed.Load()
	s.mu.Unlock()
	if err != nil {
		if closed {
			return n, closedErr("write", errStreamClosed, err)
		}
		return n, wrapErr("write", err)
	}
	return n, nil
}

// CloseWrite sends a FIN: the peer reads what was written, then io.EOF.
// Calling it while a Write is in flight resets the send side with
// CodeClosed and reports that. After Abort it reports the abort.
func (s *stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		return closedErr("close write", errStreamClosed, nil)
	case s.aborted:
		return s.abortErr("close write")
	case s.writeDone:
		return nil
	}
	s.writeDone = true
	if s.writers > 0 {
		s.str.CancelWrite(quicgo.StreamErrorCode(transport.CodeClosed))
		return &opError{op: "close write during a write", err: &transport.StreamError{Code: transport.CodeClosed}}
	}
	if err := s.str.Close(); err != nil {
		// The peer's STOP_SENDING already reset the send side; the
		// stream context holds its *quicgo.StreamError.
		return wrapErr("close write", context.Cause(s.str.Context()))
	}
	return nil
}

// Close ends both directions: FIN on the send side (a reset with CodeClosed
// if a Write is in flight), STOP_SENDING with CodeClosed on the receive side
// unless it has already reached EOF. Blocked Reads and Writes return at once
// with errors that unwrap to net.ErrClosed, as do later ones.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	if !s.writeDone {
		s.writeDone = true
		if s.writers > 0 {
			s.str.CancelWrite(quicgo.StreamErrorCode(transport.CodeClosed))
		} else {
			// An error here means the peer's STOP_SENDING reset the
			// send side already; there is nothing left to close.
			_ = s.str.Close()
		}
	}
	s.mu.Unlock()
	// CancelRead is a no-op after EOF, and safe with a Read in flight.
	s.str.CancelRead(quicgo.StreamErrorCode(transport.CodeClosed))
	return nil
}

// Abort resets both directions with code. It is a no-op after Close or a
// previous Abort.
func (s *stream) Abort(code transport.ErrorCode) {
	s.mu.Lock()
	if s.closed.Load() || s.aborted {
		s.mu.Unlock()
		return
	}
	s.aborted, s.abortCode, s.writeDone = true, code, true
	s.mu.Unlock()
	// Both are safe concurrently with Read and Write, and CancelWrite is
	// allowed after Close (FIN): it stops delivering what is still unsent.
	s.str.CancelWrite(quicgo.StreamErrorCode(code))
	s.str.CancelRead(quicgo.StreamErrorCode(code))
}

func (s *stream) abortErr(op string) error {
	return &opError{op: op, err: &transport.StreamError{Code: s.abortCode}}
}

func (s *stream) LocalAddr() net.Addr                { return s.conn.LocalAddr() }
func (s *stream) RemoteAddr() net.Addr               { return s.conn.RemoteAddr() }
func (s *stream) SetDeadline(t time.Time) error      { return s.str.SetDeadline(t) }
func (s *stream) SetReadDeadline(t time.Time) error  { return s.str.SetReadDeadline(t) }
func (s *stream) SetWriteDeadline(t time.Time) error { return s.str.SetWriteDeadline(t) }
