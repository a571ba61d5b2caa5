package quic

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/transport"
)

// maxEarlyBuffer bounds what one stream keeps of the bytes written before
// the handshake completed, for sending again if the server rejects 0-RTT.
// A Write that would go beyond it waits for the handshake instead. ferry's
// first requests are a few hundred bytes.
const maxEarlyBuffer = 64 << 10

// early tracks a session dialed with 0-RTT until its handshake completes.
// If the server accepted the 0-RTT data, there is nothing to do. If it
// rejected it, quic-go has discarded that data and failed the streams that
// carried it with Err0RTTRejected; the streams opened so far are then
// opened again, in the same order, and sent what they had sent, so that
// the caller sees one reliable stream, as the transport contract promises.
type early struct {
	mu       sync.Mutex
	resolved bool           // the handshake is over (and streams replayed)
	streams  []*earlyStream // opened before resolution, in order
	done     chan struct{}  // closed on resolution
	err      error          // set before done closes if the session failed
}

// watchEarly starts tracking a session whose Dial returned before the
// handshake completed, which quic-go does only when it sends 0-RTT.
func (s *session) watchEarly() {
	e := &early{done: make(chan struct{})}
	s.early = e
	go func() {
		err := s.resolveEarly(s.handshakeTimeout)
		e.mu.Lock()
		e.resolved, e.err = true, err
		streams := e.streams
		e.streams = nil
		e.mu.Unlock()
		for _, es := range streams {
			es.confirm()
		}
		close(e.done)
	}()
}

// resolveEarly waits for the handshake and, if 0-RTT was rejected, opens the
// early streams again and replays them.
func (s *session) resolveEarly(timeout time.Duration) error {
	select {
	case <-s.conn.HandshakeComplete():
	case <-s.conn.Context().Done():
		return wrapErr("handshake", context.Cause(s.conn.Context()))
	}
	if err := s.conn.Context().Err(); err != nil {
		return wrapErr("handshake", context.Cause(s.conn.Context()))
	}
	if s.conn.ConnectionState().Used0RTT {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// NextConnection resets quic-go's stream maps after a rejection; it
	// returns the same connection.
	if _, err := s.conn.NextConnection(ctx); err != nil {
		return wrapErr("handshake", err)
	}
	s.early.mu.Lock()
	streams := append([]*earlyStream(nil), s.early.streams...)
	s.early.mu.Unlock()
	for _, es := range streams {
		if err := es.replay(ctx, s.conn); err != nil {
			err = wrapErr("resend 0-RTT data", err)
			s.conn.CloseWithError(quicgo.ApplicationErrorCode(transport.CodeInternal), "could not resend rejected 0-RTT data")
			return err
		}
	}
	return nil
}

// openEarly opens a stream while the handshake may still be running. It
// reports ok false once the session is resolved, and the caller opens a
// plain stream.
func (s *session) openEarly(ctx context.Context) (st transport.Stream, ok bool, err error) {
	e := s.early
	e.mu.Lock()
	if e.resolved {
		e.mu.Unlock()
		return nil, false, nil
	}
	// OpenStream, not OpenStreamSync: blocking on the stream limit here
	// would hold up the replay, which needs e.mu.
	str, err := s.conn.OpenStream()
	if err != nil {
		e.mu.Unlock()
		if errors.Is(err, quicgo.Err0RTTRejected) || errors.As(err, new(*quicgo.StreamLimitReachedError)) {
			// Wait for the handshake, then open a plain stream.
			select {
			case <-e.done:
				return nil, false, nil
			case <-ctx.Done():
				return nil, true, wrapErr("open stream", ctx.Err())
			}
		}
		return nil, true, wrapErr("open stream", err)
	}
	es := &earlyStream{cur: newStream(str, s.conn), done: make(chan struct{})}
	e.streams = append(e.streams, es)
	e.mu.Unlock()
	return es, true, nil
}

// earlyStream is a stream opened before the handshake completed. Until then
// it keeps what was written (and whether it was closed for writing), so
// that it can be sent again on a new stream if 0-RTT is rejected. After
// that it only forwards to the current stream.
type earlyStream struct {
	// swap is held for reading by every call that uses cur, and for
	// writing by replay when it replaces cur. A call blocked on the old
	// stream is woken by the rejection, which fails it.
	swap sync.RWMutex
	cur  *stream

	wmu sync.Mutex // serializes Writes and CloseWrite

	mu            sync.Mutex
	sent          []byte // written before resolution
	finished      bool   // CloseWrite called before resolution
	gone          bool   // Close or Abort called: not replayed
	confirmed     bool   // resolved: nothing more is kept
	readDeadline  time.Time
	writeDeadline time.Time
	done          chan struct{} // closed by confirm
}

var _ transport.Stream = (*earlyStream)(nil)

func (es *earlyStream) current() *stream {
	es.swap.RLock()
	defer es.swap.RUnlock()
	return es.cur
}

// confirm ends the tracking: the handshake is over and cur is final.
func (es *earlyStream) confirm() {
	es.mu.Lock()
	es.confirmed, es.sent = true, nil
	es.mu.Unlock()
	close(es.done)
}

// retry reports whether a call that failed with err on stream old should be
// tried again: err is quic-go's 0-RTT rejection, and the replay has put a
// new stream in old's place. It waits for the replay.
func (es *earlyStream) retry(old *stream, err error) bool {
	if !errors.Is(err, quicgo.Err0RTTRejected) {
		return false
	}
	<-es.done
	return es.current() != old
}

// replay opens a new stream for es on conn and sends again what was sent.
func (es *earlyStream) replay(ctx context.Context, conn *quicgo.Conn) error {
	es.swap.Lock()
	defer es.swap.Unlock()
	es.mu.Lock()
	gone, sent, finished := es.gone, es.sent, es.finished
	rd, wd := es.readDeadline, es.writeDeadline
	es.mu.Unlock()
	if gone {
		return nil
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	ns := newStream(str, conn)
	if len(sent) > 0 {
		if _, err := ns.Write(sent); err != nil {
			return err
		}
	}
	if finished {
		if err := ns.CloseWrite(); err != nil {
			return err
		}
	}
	ns.SetReadDeadline(rd)
	ns.SetWriteDeadline(wd)
	es.cur = ns
	return nil
}

func (es *earlyStream) Read(p []byte) (int, error) {
	for {
		cur := es.current()
		n, err := cur.Read(p)
		if n == 0 && es.retry(cur, err) {
			continue
		}
		return n, err
	}
}

func (es *earlyStream) Write(p []byte) (int, error) {
	es.wmu.Lock()
	defer es.wmu.Unlock()
	for {
		es.mu.Lock()
		keep := !es.confirmed
		full := keep && len(es.sent)+len(p) > maxEarlyBuffer
		es.mu.Unlock()
		if full {
			<-es.done
			continue
		}
		es.swap.RLock()
		cur := es.cur
		n, err := cur.Write(p)
		if err == nil && keep {
			es.mu.Lock()
			es.sent = append(es.sent, p...)
			es.mu.Unlock()
		}
		es.swap.RUnlock()
		if err != nil && es.retry(cur, err) {
			continue
		}
		return n, err
	}
}

func (es *earlyStream) CloseWrite() error {
	es.wmu.Lock()
	defer es.wmu.Unlock()
	es.swap.RLock()
	cur := es.cur
	err := cur.CloseWrite()
	es.mu.Lock()
	if !es.confirmed {
		es.finished = true
	}
	es.mu.Unlock()
	es.swap.RUnlock()
	if err != nil && es.retry(cur, err) {
		return nil // the replay sent the FIN
	}
	return err
}

func (es *earlyStream) Close() error {
	es.mu.Lock()
	es.gone = true
	es.mu.Unlock()
	return es.current().Close()
}

func (es *earlyStream) Abort(code transport.ErrorCode) {
	es.mu.Lock()
	es.gone = true
	es.mu.Unlock()
	es.current().Abort(code)
}

func (es *earlyStream) LocalAddr() net.Addr  { return es.current().LocalAddr() }
func (es *earlyStream) RemoteAddr() net.Addr { return es.current().RemoteAddr() }

func (es *earlyStream) SetDeadline(t time.Time) error {
	es.SetReadDeadline(t)
	return es.SetWriteDeadline(t)
}

func (es *earlyStream) SetReadDeadline(t time.Time) error {
	es.swap.RLock()
	defer es.swap.RUnlock()
	es.mu.Lock()
	es.readDeadline = t
	es.mu.Unlock()
	return es.cur.SetReadDeadline(t)
}

func (es *earlyStream) SetWriteDeadline(t time.Time) error {
	es.swap.RLock()
	defer es.swap.RUnlock()
	es.mu.Lock()
	es.writeDeadline = t
	es.mu.Unlock()
	return es.cur.SetWriteDeadline(t)
}
