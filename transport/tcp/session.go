package tcp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ferryproject/ferry/transport"
)

// session is a transport.Session over TCP: a signalling connection that
// carries only the greeting and the close frame, and stream connections that
// each carry one stream at a time.
type session struct {
	t      *Transport
	id     sessionID
	client bool
	plain  bool
	addr   string // the dialed address (client)
	sig    *streamConn
	lst    *listener // the listener that accepted it (server)

	// peerCert is the raw leaf certificate the client presented on the
	// signalling connection (server, mutual TLS); stream connections must
	// present the same one.
	peerCert []byte

	ctx    context.Context
	cancel context.CancelCauseFunc

	accept chan *stream // server: streams whose first frame arrived

	sigWriteMu sync.Mutex

	mu         sync.Mutex
	conns      map[*streamConn]struct{} // every live stream connection
	idle       []*streamConn            // client: finished connections ready for reuse
	maxStreams int                      // client: from the greeting, 0 until then
	prewarming bool
	changed    chan struct{} // closed and replaced whenever the fields above change
	err        error         // why the session ended
}

var (
	_ transport.Session         = (*session)(nil)
	_ transport.HandshakeStater = (*session)(nil)
)

func newSession(t *Transport, id sessionID, client bool, sig *streamConn, lst *listener, plain bool) *session {
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &session{
		t: t, id: id, client: client, plain: plain, sig: sig, lst: lst,
		ctx: ctx, cancel: cancel,
		conns:   map[*streamConn]struct{}{},
		changed: make(chan struct{}),
	}
	if !client {
		s.accept = make(chan *stream)
	}
	return s
}

func (s *session) Context() context.Context { return s.ctx }
func (s *session) LocalAddr() net.Addr      { return s.sig.nc.LocalAddr() }
func (s *session) RemoteAddr() net.Addr     { return s.sig.nc.RemoteAddr() }

// notifyLocked wakes everyone waiting in OpenStream. Needs s.mu.
func (s *session) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *session) closeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// OpenStream hands out an idle stream connection, or dials a new one while
// the server's limit allows, or waits for one to be free.
func (s *session) OpenStream(ctx context.Context) (transport.Stream, error) {
	if !s.client {
		return nil, transport.ErrWrongSide
	}
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if n := len(s.idle); n > 0 {
			sc := s.idle[n-1]
			s.idle = s.idle[:n-1]
			// Only a connection that carried a stream before can have gone
			// stale while idle. On a fresh one (the first, dialed with the
			// session) the server's greeting and TLS session tickets are
			// expected to be waiting.
			if sc.greeted && sc.stale() {
				delete(s.conns, sc)
				s.mu.Unlock()
				sc.kill()
				continue
			}
			s.mu.Unlock()
			return newStream(sc, s), nil
		}
		limit := s.maxStreams
		if limit == 0 {
			limit = minGuaranteedStreams
		}
		if !s.prewarming && len(s.conns) < limit {
			// Reserve the slot with a placeholder while dialing.
			placeholder := &streamConn{}
			s.conns[placeholder] = struct{}{}
			s.mu.Unlock()
			sc, err := s.t.dialConn(ctx, s.addr, kindJoin, s.id)
			s.mu.Lock()
			delete(s.conns, placeholder)
			if err == nil && s.err != nil {
				sc.kill()
				err = s.err
			}
			if err != nil {
				s.notifyLocked()
				s.mu.Unlock()
				return nil, err
			}
			s.conns[sc] = struct{}{}
			s.mu.Unlock()
			return newStream(sc, s), nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.ctx.Done():
		}
	}
}

// adoptFirst waits in the background for the first stream connection,
// dialed in parallel with the signalling connection, and makes it the first
// idle connection. OpenStream waits for it rather than dialing another.
func (s *session) adoptFirst(first <-chan *streamConn) {
	s.mu.Lock()
	s.prewarming = true
	s.mu.Unlock()
	go func() {
		var sc *streamConn
		select {
		case sc = <-first:
		case <-s.ctx.Done():
			go func() {
				if sc := <-first; sc != nil {
					sc.kill()
				}
			}()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.prewarming = false
		s.notifyLocked()
		if sc == nil {
			return
		}
		if s.err != nil {
			sc.kill()
			return
		}
		s.conns[sc] = struct{}{}
		s.idle = append(s.idle, sc)
	}()
}

// AcceptStream returns the next stream whose first frame has arrived.
func (s *session) AcceptStream(ctx context.Context) (transport.Stream, error) {
	if s.client {
		return nil, transport.ErrWrongSide
	}
	select {
	case st := <-s.accept:
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, s.closeErr()
	}
}

// recycle takes back a connection whose stream ended cleanly in both
// directions.
func (s *session) recycle(sc *streamConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		sc.kill()
		return
	}
	if s.client {
		if len(s.idle) >= s.t.cfg.MaxIdleConns {
			delete(s.conns, sc)
			sc.closeGracefully()
		} else {
			s.idle = append(s.idle, sc)
		}
		s.notifyLocked()
		return
	}
	go s.serveConn(sc)
}

// forget drops a connection that was closed.
func (s *session) forget(sc *streamConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[sc]; ok {
		delete(s.conns, sc)
		s.notifyLocked()
	}
}

// addServerConn admits a stream connection that joined the session.
func (s *session) addServerConn(sc *streamConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if len(s.conns) >= s.t.cfg.MaxStreams {
		return fmt.Errorf("tcp: session %v is at its limit of %d streams", s.id, s.t.cfg.MaxStreams)
	}
	s.conns[sc] = struct{}{}
	return nil
}

// serveConn waits for the first frame of the next stream on a server-side
// connection and offers that stream to AcceptStream. A connection carries
// its next stream only after the previous one ended cleanly, so there is at
// most one serveConn per connection.
func (s *session) serveConn(sc *streamConn) {
	b, err := sc.br.Peek(1)
	if err != nil || b[0] == frameReset {
		// A reset before any data belongs to the stream that just ended
		// (its peer closed it with data unread): the peer closes the
		// connection next, so do not offer it as a new stream.
		sc.kill()
		s.forget(sc)
		return
	}
	st := newStream(sc, s)
	select {
	case s.accept <- st:
	case <-s.ctx.Done():
		sc.kill()
		s.forget(sc)
	}
}

// readSignals reads the signalling connection until the session ends. On a
// client it first reads the server's greeting.
func (s *session) readSignals() {
	if s.client {
		maxStreams, err := readServerPreamble(s.sig.br)
		if err != nil {
			s.end(closedError(fmt.Errorf("%s session with %s: %w", s.t.Name(), s.addr, err)))
			return
		}
		s.mu.Lock()
		s.maxStreams = maxStreams
		s.notifyLocked()
		s.mu.Unlock()
	}
	code, reason, err := readCloseFrame(s.sig.br)
	if err != nil {
		s.end(closedError(fmt.Errorf("%s session: the connection to the peer was lost: %w", s.t.Name(), noEOF(err))))
		return
	}
	s.end(&transport.SessionError{Code: code, Reason: reason, Remote: true})
}

// CloseWithError sends the close frame on the signalling connection and
// closes every connection of the session.
func (s *session) CloseWithError(code transport.ErrorCode, reason string) error {
	if !s.end(&transport.SessionError{Code: code, Reason: reason}) {
		return nil
	}
	s.sigWriteMu.Lock()
	defer s.sigWriteMu.Unlock()
	_ = s.sig.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := s.sig.nc.Write(appendCloseFrame(nil, code, reason)); err != nil {
		s.sig.kill()
		return nil
	}
	s.sig.lingerKill()
	return nil
}

// end records why the session ended, cancels its context and closes the
// stream connections. It reports whether this call ended the session.
func (s *session) end(err error) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	s.err = err
	conns := s.conns
	s.conns = map[*streamConn]struct{}{}
	s.idle = nil
	s.notifyLocked()
	s.mu.Unlock()
	s.cancel(err)
	for sc := range conns {
		if sc.nc != nil { // not a dialing placeholder
			sc.kill()
		}
	}
	if s.sigLost(err) {
		s.sig.kill()
	}
	if s.client {
		s.t.forget(s)
	} else if s.lst != nil {
		s.lst.forget(s)
	}
	return true
}

// sigLost reports whether err came from the peer or from the signalling
// connection failing, in which case it can be closed at once. A local close
// lingers instead, so the close frame reaches the peer.
func (s *session) sigLost(err error) bool {
	serr, ok := err.(*transport.SessionError)
	return !ok || serr.Remote
}

// HandshakeState describes the TLS handshake of the signalling connection,
// which the session's Dial or Accept completed. crypto/tls over TCP has no
// 0-RTT, so EarlyData is always false. A plain TCP session reports
// transport.ErrNoTLS.
func (s *session) HandshakeState(ctx context.Context) (transport.HandshakeState, error) {
	tc, ok := s.sig.nc.(interface{ ConnectionState() tls.ConnectionState })
	if s.plain || !ok {
		return transport.HandshakeState{}, transport.ErrNoTLS
	}
	return transport.HandshakeState{TLS: tc.ConnectionState()}, nil
}
