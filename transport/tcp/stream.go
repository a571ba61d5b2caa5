package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferryproject/ferry/transport"
)

// streamConn is one TCP (or TLS over TCP) connection that carries one stream
// at a time. When a stream ends cleanly in both directions the connection is
// reused for the next stream of the same session, so a session that fetches
// many small files pays for a handshake once per concurrent stream, not once
// per file.
type streamConn struct {
	nc    net.Conn     // the TLS connection, or tcp itself
	tcp   *net.TCPConn // the socket underneath, for sendfile and TCP_INFO
	br    *bufio.Reader
	plain bool // nc is tcp: writes may use writev and sendfile

	// greeted is set once the server's greeting has been read from the
	// connection (always true on the server side). Only the stream that owns
	// the connection touches it.
	greeted bool

	killOnce sync.Once
}

func newStreamConn(nc net.Conn, tcp *net.TCPConn, br *bufio.Reader) *streamConn {
	return &streamConn{nc: nc, tcp: tcp, br: br, plain: nc == net.Conn(tcp)}
}

// kill closes the connection at once. A peer still sending gets a TCP reset.
func (c *streamConn) kill() {
	c.killOnce.Do(func() { _ = c.nc.Close() })
}

// stale reports whether an idle connection has received anything. A server
// sends nothing on an idle connection, except a reset for the stream that
// just ended when it closed that stream with the client's data unread; such
// a connection is about to be closed by the server and must not carry a new
// stream.
func (c *streamConn) stale() bool {
	if c.br.Buffered() > 0 {
		return true
	}
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return true
	}
	stale := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		stale = err != unix.EAGAIN || n > 0
	})
	return stale
}

// closeGracefully closes a connection whose stream ended cleanly, after
// queued TLS writes (such as its fin) went out.
func (c *streamConn) closeGracefully() {
	if _, ok := c.nc.(*asyncWriteConn); ok {
		go func() {
			c.flush(time.Second)
			c.kill()
		}()
		return
	}
	c.kill()
}

// flush waits for queued TLS writes to reach crypto/tls (no-op on plain TCP).
func (c *streamConn) flush(timeout time.Duration) {
	if a, ok := c.nc.(*asyncWriteConn); ok {
		a.flush(timeout)
	}
}

// lingerKill closes the connection once everything written so far has been
// acknowledged by the peer's kernel (or after a bound), so that a reset frame
// written just before is not destroyed by the TCP reset that closing a socket
// with unread input sends. Bytes that reached the peer stay readable there even
// after the reset (checked on Linux).
func (c *streamConn) lingerKill() {
	go func() {
		defer c.kill()
		c.flush(time.Second)
		deadline := time.Now().Add(2 * time.Second)
		raw, err := c.tcp.SyscallConn()
		if err != nil {
			return
		}
		for time.Now().Before(deadline) {
			pending, rttMicros, err := unacked(raw)
			if errors.Is(err, errors.ErrUnsupported) {
				// No way to see the acknowledgements here: give them a
				// fixed while.
				time.Sleep(fallbackLinger)
				return
			}
			if err != nil || !pending {
				return
			}
			time.Sleep(lingerPoll(rttMicros))
		}
	}()
}

// fallbackLinger is how long lingerKill waits where the kernel cannot tell
// what the peer has acknowledged (systems without Linux's TCP_INFO).
const fallbackLinger = 250 * time.Millisecond

// lingerPoll is how long lingerKill waits between two looks at the
// unacknowledged bytes: a quarter of the connection's smoothed RTT (in
// microseconds, from TCP_INFO), between 1 ms and 100 ms. A fixed 1 ms cost
// a client about 60 ms of CPU per setup on a 600 ms path (now 3 ms), polling for
// acknowledgements that could not come sooner.
func lingerPoll(rttMicros uint32) time.Duration {
	return min(max(time.Duration(rttMicros)*time.Microsecond/4, time.Millisecond), 100*time.Millisecond)
}

// stream is a transport.Stream over a streamConn.
type stream struct {
	sc   *streamConn
	sess *session

	readMu    sync.Mutex // serializes Read and the finisher
	remaining int64      // payload bytes left in the current data frame
	readErr   error      // sticky: io.EOF after fin, *StreamError after reset

	writeMu    sync.Mutex // serializes Write, CloseWrite, ReadFrom
	hdr        [frameHeaderLen]byte
	pendingHdr []byte // unwritten tail of the current frame header (after a write timeout)
	owed       int64  // payload bytes the current data frame still needs
	writeErr   error  // sticky
	scratch    []byte

	mu                          sync.Mutex // guards the fields below
	finSent, finRecv            bool
	closed, aborted, dirty, end bool // end: the connection was handed on or killed
	readDeadline, writeDeadline time.Time
}

var _ transport.Stream = (*stream)(nil)
var _ io.ReaderFrom = (*stream)(nil)

func newStream(sc *streamConn, sess *session) *stream {
	return &stream{sc: sc, sess: sess}
}

func (s *stream) LocalAddr() net.Addr  { return s.sc.nc.LocalAddr() }
func (s *stream) RemoteAddr() net.Addr { return s.sc.nc.RemoteAddr() }

var errStreamClosed = fmt.Errorf("tcp stream: %w", net.ErrClosed)

// Read implements io.Reader; see transport.Stream for the contract.
func (s *stream) Read(p []byte) (int, error) {
	// Checked before taking readMu: after Close a background drain may hold
	// it for a while.
	if s.isClosed() {
		return 0, errStreamClosed
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.isClosed() {
		return 0, errStreamClosed
	}
	if s.readErr != nil {
		return 0, s.readErr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for s.remaining == 0 {
		if err := s.readFrameHeader(); err != nil {
			return 0, err
		}
		if s.readErr != nil {
			return 0, s.readErr
		}
	}
	if int64(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	n, err := s.sc.br.Read(p)
	s.remaining -= int64(n)
	if err != nil {
		return n, s.readFailed(noEOF(err))
	}
	return n, nil
}

// readFrameHeader consumes the next frame header. It peeks before it
// discards, so a deadline that fires mid-header loses nothing.
func (s *stream) readFrameHeader() error {
	if !s.sc.greeted {
		if _, err := readServerPreamble(s.sc.br); err != nil {
			// A close before any byte of the greeting is not a foreign
			// server: this session's server greeted its first connection,
			// and closing the session closes this one too.
			if errors.Is(err, transport.ErrWrongProtocol) && !errors.Is(err, errNoGreeting) {
				return s.protocolViolation(err)
			}
			// An I/O error: the signalling connection may already know
			// better (it reads the same greeting); readFailed asks it.
			return s.readFailed(err)
		}
		s.sc.greeted = true
	}
	b, err := s.sc.br.Peek(1)
	if err != nil {
		return s.readFailed(err)
	}
	switch b[0] {
	case frameData:
		b, err := s.sc.br.Peek(frameHeaderLen)
		if err != nil {
			return s.readFailed(noEOF(err))
		}
		n := binary.BigEndian.Uint32(b[1:])
		if n == 0 || n > maxDataFrameLen {
			return s.protocolViolation(fmt.Errorf("%w: data frame of %d bytes", errBadFrame, n))
		}
		_, _ = s.sc.br.Discard(frameHeaderLen)
		s.remaining = int64(n)
	case frameFin:
		_, _ = s.sc.br.Discard(1)
		s.readErr = io.EOF
		s.mu.Lock()
		s.finRecv = true
		s.mu.Unlock()
		s.maybeRecycle()
	case frameReset:
		b, err := s.sc.br.Peek(resetFrameLen)
		if err != nil {
			return s.readFailed(noEOF(err))
		}
		code := transport.ErrorCode(binary.BigEndian.Uint64(b[1:]))
		_, _ = s.sc.br.Discard(resetFrameLen)
		serr := &transport.StreamError{Code: code, Remote: true}
		s.readErr = serr
		s.mu.Lock()
		s.aborted, s.dirty = true, true
		s.mu.Unlock()
		s.setWriteErr(serr)
		// The peer closes its end once this frame is acknowledged; close ours
		// so a writer blocked on a full buffer is released.
		s.finish()
	default:
		return s.protocolViolation(fmt.Errorf("%w: unknown type %d on a stream", errBadFrame, b[0]))
	}
	return nil
}

// readFailed turns an error from the connection into the stream's error.
// Timeouts are not sticky: the caller may clear the deadline and read on.
func (s *stream) readFailed(err error) error {
	if s.isClosed() {
		return errStreamClosed
	}
	if aerr := s.localAbort(); aerr != nil {
		return aerr
	}
	if isTimeout(err) {
		return err
	}
	err = s.lost(err)
	s.readErr = err
	return err
}

// lost explains a connection that broke under a stream. The peer closes
// stream connections right after it sends a session close frame on the
// signalling connection; wait a moment for that frame so the caller learns the
// code and reason rather than a bare "connection reset".
func (s *stream) lost(cause error) error {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	s.finish()
	select {
	case <-s.sess.ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
	if err := s.sess.closeErr(); err != nil {
		return err
	}
	return closedError(fmt.Errorf("tcp stream: connection lost before the stream ended: %w", cause))
}

func (s *stream) protocolViolation(err error) error {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	s.finish()
	err = closedError(fmt.Errorf("tcp stream: %w", err))
	s.readErr = err
	return err
}

// Write implements io.Writer; see transport.Stream for the contract.
func (s *stream) Write(p []byte) (n int, err error) {
	if s.isClosed() {
		return 0, errStreamClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return 0, err
	}
	for len(p) > 0 {
		if s.owed == 0 && len(s.pendingHdr) == 0 {
			chunk := min(len(p), maxDataFrameLen)
			s.hdr[0] = frameData
			binary.BigEndian.PutUint32(s.hdr[1:], uint32(chunk))
			s.pendingHdr = s.hdr[:]
			s.owed = int64(chunk)
		}
		k := int(min(int64(len(p)), s.owed))
		hn, pn, err := s.writeFramed(s.pendingHdr, p[:k])
		s.pendingHdr = s.pendingHdr[hn:]
		s.owed -= int64(pn)
		n += pn
		p = p[pn:]
		if err != nil {
			return n, s.writeFailed(err)
		}
	}
	return n, nil
}

// writeFramed writes a (possibly empty) header and a payload, in one system
// call where it can, and reports how much of each went out.
func (s *stream) writeFramed(hdr, payload []byte) (hn, pn int, err error) {
	const coalesce = 16 << 10
	if len(hdr) == 0 {
		pn, err = s.sc.nc.Write(payload)
		return 0, pn, err
	}
	if len(payload) <= coalesce || !s.sc.plain {
		// TLS would put a separate header in a record of its own; copying a
		// small payload is cheaper than a second record or system call.
		if len(payload) <= coalesce {
			if s.scratch == nil {
				s.scratch = make([]byte, 0, frameHeaderLen+coalesce)
			}
			buf := append(append(s.scratch[:0], hdr...), payload...)
			n, err := s.sc.nc.Write(buf)
			hn = min(n, len(hdr))
			return hn, n - hn, err
		}
		hn, err = s.sc.nc.Write(hdr)
		if err != nil {
			return hn, 0, err
		}
		pn, err = s.sc.nc.Write(payload)
		return hn, pn, err
	}
	bufs := net.Buffers{hdr, payload}
	n64, err := bufs.WriteTo(s.sc.tcp)
	n := int(n64)
	hn = min(n, len(hdr))
	return hn, n - hn, err
}

// ReadFrom lets io.Copy and io.CopyN hand a file to a plain TCP stream so the
// kernel sends it with sendfile(2). Other sources, and TLS, take a buffered
// copy.
func (s *stream) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	var f *os.File
	if ok {
		f, ok = lr.R.(*os.File)
	}
	if !ok || !s.sc.plain {
		buf := make([]byte, 256<<10)
		return io.CopyBuffer(writerOnly{s}, r, buf)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return 0, err
	}
	if s.owed != 0 || len(s.pendingHdr) != 0 {
		s.writeMu.Unlock()
		n, err := io.CopyBuffer(writerOnly{s}, r, make([]byte, 256<<10))
		s.writeMu.Lock()
		return n, err
	}
	var total int64
	for lr.N > 0 {
		chunk := min(lr.N, maxDataFrameLen)
		s.hdr[0] = frameData
		binary.BigEndian.PutUint32(s.hdr[1:], uint32(chunk))
		if _, err := s.sc.nc.Write(s.hdr[:]); err != nil {
			// A partial header cannot be completed by the caller: give up on
			// the connection.
			s.owed, s.pendingHdr = 1, nil
			return total, s.writeFailed(err)
		}
		n, err := s.sc.tcp.ReadFrom(&io.LimitedReader{R: f, N: chunk})
		total += n
		lr.N -= n
		if n < chunk {
			// The file ended early or the write failed: the frame stays
			// incomplete, so CloseWrite kills the connection instead of
			// sending a fin, and the peer sees a lost stream, not an EOF.
			s.owed = chunk - n
			if err != nil {
				return total, s.writeFailed(err)
			}
			return total, nil
		}
	}
	return total, nil
}

type writerOnly struct{ io.Writer }

func (s *stream) writable() error {
	if err := s.sess.closeErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed || s.finSent:
		return errStreamClosed
	case s.writeErr != nil:
		return s.writeErr
	}
	return nil
}

func (s *stream) setWriteErr(err error) {
	s.mu.Lock()
	if s.writeErr == nil {
		s.writeErr = err
	}
	s.mu.Unlock()
}

func (s *stream) writeFailed(err error) error {
	if s.isClosed() {
		return errStreamClosed
	}
	if aerr := s.localAbort(); aerr != nil {
		return aerr
	}
	if isTimeout(err) {
		// The frame position survives a timeout (TLS writes go through
		// asyncWriteConn for this); the next Write continues where this
		// one stopped.
		return err
	}
	s.mu.Lock()
	werr, aborted := s.writeErr, s.aborted
	s.mu.Unlock()
	if aborted && werr != nil {
		return werr
	}
	if serr := s.peerReset(); serr != nil {
		s.setWriteErr(serr)
		return serr
	}
	err = s.lost(err)
	s.setWriteErr(err)
	return err
}

// peerReset looks for the reason a write failed: a peer that aborts a
// stream writes a reset frame, then closes its socket, and the reset the
// kernel sends makes our write fail. The frame is still readable (Linux keeps
// received data after a TCP reset), so read on to find it. If a Read is in
// progress it will find the frame itself; wait for it briefly.
func (s *stream) peerReset() *transport.StreamError {
	if !s.readMu.TryLock() {
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			s.mu.Lock()
			serr, ok := s.writeErr.(*transport.StreamError)
			s.mu.Unlock()
			if ok && serr.Remote {
				return serr
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	defer s.readMu.Unlock()
	s.mu.Lock()
	ended := s.end
	if !ended {
		_ = s.sc.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	}
	s.mu.Unlock()
	if ended {
		return nil
	}
	// A fin may come before the reset: the peer closed its write side
	// first, then found us still writing.
	for s.readErr == nil || s.readErr == io.EOF {
		if s.remaining > 0 {
			n, err := s.sc.br.Discard(int(min(s.remaining, 1<<30)))
			s.remaining -= int64(n)
			if err != nil {
				return nil
			}
			continue
		}
		if err := s.readFrameHeader(); err != nil {
			break
		}
	}
	serr, _ := s.readErr.(*transport.StreamError)
	return serr
}

// CloseWrite sends a fin: the peer reads what was written, then io.EOF.
func (s *stream) CloseWrite() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	return s.sendFin()
}

// sendFin needs writeMu.
func (s *stream) sendFin() error {
	if s.owed != 0 || len(s.pendingHdr) != 0 {
		// A data frame was left half written by a failed write; a fin now
		// would corrupt the framing, so the stream dies instead.
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		s.finish()
		err := fmt.Errorf("tcp stream: an earlier write was cut short, so the stream cannot end cleanly: %w", net.ErrClosed)
		s.setWriteErr(err)
		return err
	}
	_ = s.sc.nc.SetWriteDeadline(s.writeDeadlineOrZero())
	if _, err := s.sc.nc.Write([]byte{frameFin}); err != nil {
		return s.writeFailed(err)
	}
	s.mu.Lock()
	s.finSent = true
	s.mu.Unlock()
	s.maybeRecycle()
	return nil
}

func (s *stream) writeDeadlineOrZero() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeDeadline
}

// Abort ends both directions with code; the peer sees a *StreamError.
func (s *stream) Abort(code transport.ErrorCode) {
	s.mu.Lock()
	if s.end || s.aborted {
		s.mu.Unlock()
		return
	}
	s.aborted = true
	s.mu.Unlock()
	serr := &transport.StreamError{Code: code}
	s.setWriteErr(serr)
	s.kick(true, true)
	s.readMu.Lock()
	if s.readErr == nil || s.readErr == io.EOF {
		s.readErr = serr
	}
	s.readMu.Unlock()
	s.writeMu.Lock()
	s.sendReset(code)
	s.writeMu.Unlock()
}

// sendReset needs writeMu. It writes a reset frame if the framing allows and
// closes the connection once the peer has it.
func (s *stream) sendReset(code transport.ErrorCode) {
	s.mu.Lock()
	s.dirty = true
	alreadyEnded := s.end
	s.end = true
	s.mu.Unlock()
	if alreadyEnded {
		return
	}
	defer s.sess.forget(s.sc)
	if s.owed != 0 || len(s.pendingHdr) != 0 {
		s.sc.kill()
		return
	}
	var b [resetFrameLen]byte
	b[0] = frameReset
	binary.BigEndian.PutUint64(b[1:], uint64(code))
	_ = s.sc.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := s.sc.nc.Write(b[:]); err != nil {
		s.sc.kill()
		return
	}
	s.sc.lingerKill()
}

// Close ends both directions without an error: see transport.Stream.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed || s.end {
		s.closed = true
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	// Wait for a Read or Write in progress, kicking it out if it blocks.
	if !s.readMu.TryLock() {
		s.kick(true, false)
		s.readMu.Lock()
	}
	defer s.readMu.Unlock()
	if !s.writeMu.TryLock() {
		s.kick(false, true)
		s.writeMu.Lock()
		s.mu.Lock()
		s.dirty = true // the interrupted write may have left half a frame
		s.mu.Unlock()
	}
	defer s.writeMu.Unlock()

	s.mu.Lock()
	dirty, finSent, finRecv, ended := s.dirty, s.finSent, s.finRecv, s.end
	if !ended {
		_ = s.sc.nc.SetDeadline(time.Time{})
	}
	s.mu.Unlock()
	if ended {
		return nil
	}
	if dirty {
		s.finish()
		return nil
	}
	if !finSent {
		if s.writeErr != nil {
			s.finish()
			return nil
		}
		if err := s.sendFin(); err != nil {
			s.finish()
			return nil
		}
	}
	if finRecv || s.readErr == io.EOF {
		return nil // sendFin recycled the connection
	}
	if s.readErr != nil {
		s.finish()
		return nil
	}
	// The peer has not finished writing. Read on in the background: a fin
	// means a clean end and the connection is reused; more data means the
	// peer is still writing to a stream we closed, so it is aborted.
	go s.drainAfterClose()
	return nil
}

// drainAfterClose runs with no locks held by the caller.
func (s *stream) drainAfterClose() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	_ = s.sc.nc.SetReadDeadline(time.Now().Add(drainTimeout))
	// Data the peer sent before it could know of the close is discarded, up
	// to a budget: a peer that finishes soon after keeps the connection
	// reusable, one that goes on writing is told with a reset.
	start := time.Now()
	for {
		if s.remaining > 0 {
			if time.Since(start) > drainGrace {
				s.writeMu.Lock()
				s.sendReset(transport.CodeClosed)
				s.writeMu.Unlock()
				return
			}
			n, err := s.sc.br.Discard(int(min(s.remaining, 256<<10)))
			s.remaining -= int64(n)
			if err != nil {
				s.finish()
				return
			}
		}
		err := s.readFrameHeader()
		switch {
		case err == nil && s.readErr == io.EOF:
			return // clean: readFrameHeader recycled the connection
		case err == nil && s.readErr == nil:
			continue // more data
		default:
			s.finish()
			return
		}
	}
}

const (
	// drainTimeout bounds how long a closed stream waits for the peer's fin
	// before giving up on reusing its connection.
	drainTimeout = 10 * time.Second
	// drainGrace is how long a closed stream discards data that keeps
	// arriving before it aborts the peer with a reset. Data already in
	// flight or in buffers when Close was called arrives well within it, so
	// a peer that finishes on its own keeps the connection reusable. A reset
	// sent after our fin can, rarely, reach a peer that already reused the
	// connection; the peer's checks for stale input (streamConn.stale,
	// serveConn) catch most of these, and the rest fail one new stream.
	drainGrace = 200 * time.Millisecond
)

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// localAbort returns the error of a local Abort, or nil.
func (s *stream) localAbort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if serr, ok := s.writeErr.(*transport.StreamError); ok && !serr.Remote && s.aborted {
		return serr
	}
	return nil
}

// kick sets a deadline on the connection unless the stream has already
// handed it on: a kick must never reach the next stream on the connection.
func (s *stream) kick(read, write bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end {
		return
	}
	past := time.Unix(1, 0)
	if read {
		_ = s.sc.nc.SetReadDeadline(past)
	}
	if write {
		_ = s.sc.nc.SetWriteDeadline(past)
	}
}

// maybeRecycle hands the connection on once both directions ended cleanly.
func (s *stream) maybeRecycle() {
	s.mu.Lock()
	if s.end || !s.finSent || !s.finRecv || s.dirty || s.aborted {
		s.mu.Unlock()
		return
	}
	s.end = true
	s.mu.Unlock()
	_ = s.sc.nc.SetDeadline(time.Time{})
	s.sess.recycle(s.sc)
}

// finish gives up on the connection: it is closed and forgotten.
func (s *stream) finish() {
	s.mu.Lock()
	if s.end {
		s.mu.Unlock()
		return
	}
	s.end, s.dirty = true, true
	s.mu.Unlock()
	s.sc.kill()
	s.sess.forget(s.sc)
}

func (s *stream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStreamClosed
	}
	s.readDeadline = t
	if s.end {
		return nil // the connection belongs to another stream now
	}
	return s.sc.nc.SetReadDeadline(t)
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStreamClosed
	}
	s.writeDeadline = t
	if s.end {
		return nil
	}
	return s.sc.nc.SetWriteDeadline(t)
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
