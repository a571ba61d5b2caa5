package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
)

// ClientConfig tunes a Client. The zero value works.
type ClientConfig struct {
	// Digest is the digest algorithm for GET: "blake3" (the default) or
	// "sha256". Dial fails if the server does not offer it.
	Digest string
	// StallTimeout is how long a data stream may deliver nothing, once the
	// server has announced its file, before the transfer fails with
	// ErrStalled (the partial file is kept). Without it, a TCP connection
	// whose network was cut waits for the kernel to give up, many minutes
	// later. Default 60s, the server's write timeout: a server gives up as
	// soon on a client that reads nothing.
	StallTimeout time.Duration
}

// DefaultStallTimeout is ClientConfig.StallTimeout's default.
const DefaultStallTimeout = 60 * time.Second

// Client is one session with a server. Its methods are safe for concurrent
// use, and run concurrently over the session: requests are pipelined and
// their replies may come in any order.
type Client struct {
	sess transport.Session
	ctrl transport.Stream
	alg  wire.Algorithm
	// ready is closed once the server's HELLO_REPLY has been read and the
	// three fields below are set; read them only after <-ready.
	ready chan struct{}
	// serverMax is the server's maximum frame.
	serverMax uint32
	canFind   bool          // the server answers FIND
	canLinks  bool          // the server answers FIND with link targets
	sem       chan struct{} // GET and LIST slots: the server's MaxTransfers
	stall     time.Duration // ClientConfig.StallTimeout

	wmu  sync.Mutex
	wbuf []byte

	nextID atomic.Uint64

	mu        sync.Mutex
	calls     map[uint64]*call
	goingAway bool
	done      chan struct{} // closed when the reader stops
	err       error         // why, set before done is closed
}

type call struct {
	ch        chan wire.Message
	abandoned chan struct{}
}

// maxListEntries bounds what List collects from a server.
const maxListEntries = 1 << 20

// Dial opens a session to the server at addr over t, and exchanges hellos.
// ctx bounds the whole dial; the Client lives until Close.
func Dial(ctx context.Context, t transport.Transport, addr string, cfg ClientConfig) (*Client, error) {
	alg, err := parseAlgorithm(cfg.Digest)
	if err != nil {
		return nil, err
	}
	sess, err := t.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c, err := handshake(ctx, sess, alg)
	if err != nil {
		sess.CloseWithError(transport.CodeNoError, "")
		return nil, err
	}
	c.stall = cfg.StallTimeout
	if c.stall <= 0 {
		c.stall = DefaultStallTimeout
	}
	return c, nil
}

// handshake sends HELLO and returns at once: the reply is read by the
// Client's reader, and requests that need what it says wait for it (ready).
// A small first request (an echo, a GET's request frame) rides right behind
// HELLO, so a fresh session answers its first request one round trip after
// the transport is up instead of two.
func handshake(ctx context.Context, sess transport.Session, alg wire.Algorithm) (*Client, error) {
	ctrl, err := sess.OpenStream(ctx)
	if err != nil {
		return nil, sessionError(err)
	}
	stop := context.AfterFunc(ctx, func() { ctrl.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	frame, _ := wire.AppendFrame(nil, &wire.Hello{Version: wire.Version, MaxFrame: wire.MaxFrame})
	if _, err := ctrl.Write(frame); err != nil {
		return nil, helloError(ctx, sess, err)
	}
	if !stop() {
		return nil, ctx.Err()
	}
	c := &Client{
		sess:  sess,
		ctrl:  ctrl,
		alg:   alg,
		ready: make(chan struct{}),
		calls: make(map[uint64]*call),
		done:  make(chan struct{}),
	}
	go c.read(wire.NewReader(ctrl, wire.MaxFrame))
	go c.probe()
	return c, nil
}

// probeInterval is how often a client with transfers (GET, LIST, FIND) in
// flight sends an ECHO that nothing waits for. Its point is the packet, not the reply: a
// client that only receives sends nothing but acknowledgements and QUIC
// keep-alives, and quic-go answers neither with a stateless reset (it
// resets only packets larger than a reset, so that two endpoints cannot
// reset each other forever). A server that crashed and came back on the
// same port with the same key (ferry serve derives it from its identity)
// answers the probe's packet with one, and the client's transfers fail
// within a probe interval instead of after the idle timeout (30 s). Over
// TCP the server's kernel resets the connection without help.
var probeInterval = 5 * time.Second

// probePayload is the probe's ECHO payload: with the frame and packet
// headers, larger than any stateless reset quic-go sends.
var probePayload = make([]byte, 64)

// probe sends an ECHO every probeInterval while transfers are in flight,
// until the session ends.
func (c *Client) probe() {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		select {
		case <-c.ready: // sem is set
		default:
			continue // no transfer runs before the server's hello
		}
		// Transfers hold request slots; echoes do not, and need no probe:
		// each is a packet of its own.
		c.mu.Lock()
		goingAway := c.goingAway
		c.mu.Unlock()
		if len(c.sem) > 0 && !goingAway {
			// An ID that no call waits for: the reader drops the reply.
			c.send(&wire.Echo{ID: c.nextID.Add(1), Payload: probePayload})
		}
	}
}

// readHello reads and checks the server's HELLO_REPLY, then opens ready.
func (c *Client) readHello(r *wire.Reader) error {
	m, err := r.ReadMessage()
	if err != nil {
		return helloError(context.Background(), c.sess, err)
	}
	hr, ok := m.(*wire.HelloReply)
	if !ok {
		c.sess.CloseWithError(wire.SessionProtocolError, "expected HELLO_REPLY")
		return fmt.Errorf("%w: %v instead of HELLO_REPLY", ErrProtocol, m.Type())
	}
	if hr.Version != wire.Version {
		c.sess.CloseWithError(wire.SessionVersion, "unsupported version")
		return fmt.Errorf("%w: server chose protocol version %d", transport.ErrWrongProtocol, hr.Version)
	}
	offered := false
	for _, a := range hr.Algorithms {
		offered = offered || a == c.alg
	}
	if !offered {
		c.sess.CloseWithError(transport.CodeNoError, "")
		return fmt.Errorf("the server does not offer the %v digest", c.alg)
	}
	c.serverMax = hr.MaxFrame
	c.canFind = hr.Flags&wire.FlagFind != 0
	c.canLinks = hr.Flags&wire.FlagLinks != 0
	c.sem = make(chan struct{}, hr.MaxTransfers)
	close(c.ready)
	return nil
}

// Ready waits until the server has answered the client's hello, and
// returns why the session failed if it did. Dial does not wait for the
// answer, so that a first small request (an echo) rides right behind the
// hello; a caller that wants a refused or foreign server reported as a
// failure to connect calls Ready after Dial.
func (c *Client) Ready(ctx context.Context) error { return c.waitReady(ctx) }

// waitReady waits for the server's HELLO_REPLY.
func (c *Client) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.err
	}
}

func helloError(ctx context.Context, sess transport.Session, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("hello: %w", ctx.Err())
	}
	if errors.Is(err, wire.ErrMalformed) {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return fmt.Errorf("hello: %w", sessionError(sessionCause(sess, err)))
}

// sessionCause returns why sess ended, which tells more than the error of
// a stream (a server that refused the session with a code), waiting
// briefly for the session to notice the close that failed the stream.
func sessionCause(sess transport.Session, err error) error {
	if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-sess.Context().Done():
		if cause := context.Cause(sess.Context()); cause != nil {
			var se *transport.SessionError
			if errors.As(cause, &se) {
				return cause
			}
		}
	case <-t.C:
	}
	return err
}

// Close closes the session. Requests in flight fail.
func (c *Client) Close() error {
	c.sess.CloseWithError(transport.CodeNoError, "")
	<-c.done
	return nil
}

// read dispatches replies to their calls until the control stream ends.
func (c *Client) read(r *wire.Reader) {
	err := c.readHello(r)
	helloFailed := err != nil
	for !helloFailed {
		var m wire.Message
		m, err = r.ReadMessage()
		if err != nil {
			break
		}
		var id uint64
		switch m := m.(type) {
		case *wire.EchoReply:
			m.Payload = bytes.Clone(m.Payload) // it aliases the reader's buffer
			id = m.ID
		case *wire.ListEntries:
			id = m.ID
		case *wire.ListEnd:
			id = m.ID
		case *wire.Manifest:
			id = m.ID
		case *wire.File:
			id = m.ID
		case *wire.Done:
			id = m.ID
		case *wire.ErrorReply:
			id = m.ID
		case *wire.GoAway:
			c.mu.Lock()
			c.goingAway = true
			idle := len(c.calls) == 0
			c.mu.Unlock()
			if idle {
				c.sess.CloseWithError(transport.CodeNoError, "")
			}
			continue
		default:
			err = fmt.Errorf("%w: unexpected %v", ErrProtocol, m.Type())
			c.sess.CloseWithError(wire.SessionProtocolError, "unexpected "+m.Type().String())
		}
		if err != nil {
			break
		}
		c.mu.Lock()
		cl := c.calls[id]
		c.mu.Unlock()
		if cl == nil {
			continue // a request given up on; its ID is never reused
		}
		select {
		case cl.ch <- m:
		case <-cl.abandoned:
		}
	}
	switch {
	case helloFailed:
		// readHello explained it already.
	case errors.Is(err, wire.ErrMalformed):
		c.sess.CloseWithError(wire.SessionProtocolError, "malformed frame")
		err = fmt.Errorf("%w: %w", ErrProtocol, err)
	case errors.Is(err, ErrProtocol):
	case errors.Is(err, io.EOF):
		err = errors.New("the server ended the session")
	default:
		err = sessionError(sessionCause(c.sess, err))
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// start registers a new request.
func (c *Client) start(buffer int) (uint64, *call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return 0, nil, c.err
	default:
	}
	if c.goingAway {
		return 0, nil, fmt.Errorf("%w: the server is shutting down", ErrBusy)
	}
	id := c.nextID.Add(1)
	cl := &call{ch: make(chan wire.Message, buffer), abandoned: make(chan struct{})}
	c.calls[id] = cl
	return id, cl, nil
}

// finish unregisters a request; after GOAWAY the last one closes the
// session.
func (c *Client) finish(id uint64) {
	c.mu.Lock()
	cl := c.calls[id]
	delete(c.calls, id)
	last := c.goingAway && len(c.calls) == 0
	c.mu.Unlock()
	if cl != nil {
		close(cl.abandoned)
	}
	if last {
		c.sess.CloseWithError(transport.CodeNoError, "")
	}
}

// recv waits for the next reply of a call.
func (c *Client) recv(ctx context.Context, cl *call) (wire.Message, error) {
	select {
	case m := <-cl.ch:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		select {
		case m := <-cl.ch:
			return m, nil
		default:
		}
		return nil, c.err
	}
}

func (c *Client) send(m wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := wire.AppendFrame(c.wbuf[:0], m)
	if err != nil {
		return err
	}
	c.wbuf = b[:0]
	if _, err := c.ctrl.Write(b); err != nil {
		select {
		case <-c.done:
			return c.err
		default:
		}
		return sessionError(err)
	}
	return nil
}

// acquire takes a request slot, so that the client never has more requests
// in flight than the server runs.
func (c *Client) acquire(ctx context.Context) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.err
	}
}

func (c *Client) release() { <-c.sem }

func unexpected(m wire.Message) error {
	return fmt.Errorf("%w: unexpected %v", ErrProtocol, m.Type())
}

func remoteError(m *wire.ErrorReply) error {
	return &RemoteError{Code: m.Code, Message: m.Message}
}

// MaxEchoPayload is the largest payload Echo sends.
const MaxEchoPayload = wire.MaxEchoPayload

// Echo sends payload to the server and returns what came back, which is
// checked to be the same bytes (ErrIntegrity otherwise).
func (c *Client) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) > MaxEchoPayload {
		return nil, fmt.Errorf("echo payload of %d bytes is over the limit of %d", len(payload), MaxEchoPayload)
	}
	if 1+8+4+len(payload) > wire.MinFrame {
		// Every server takes frames of MinFrame bytes; a larger echo waits
		// for the server's limit.
		if err := c.waitReady(ctx); err != nil {
			return nil, err
		}
		if 1+8+4+len(payload) > int(c.serverMax) {
			return nil, fmt.Errorf("echo payload of %d bytes is over the server's limit of %d", len(payload), int(c.serverMax)-1-8-4)
		}
	}
	id, cl, err := c.start(1)
	if err != nil {
		return nil, err
	}
	defer c.finish(id)
	if err := c.send(&wire.Echo{ID: id, Payload: payload}); err != nil {
		return nil, err
	}
	m, err := c.recv(ctx, cl)
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *wire.EchoReply:
		if !bytes.Equal(m.Payload, payload) {
			return m.Payload, fmt.Errorf("%w: echo came back different", ErrIntegrity)
		}
		return m.Payload, nil
	case *wire.ErrorReply:
		return nil, remoteError(m)
	}
	return nil, c.violation(m)
}

// violation closes the session over a reply out of place.
func (c *Client) violation(m wire.Message) error {
	c.sess.CloseWithError(wire.SessionProtocolError, "unexpected "+m.Type().String())
	return unexpected(m)
}

// Entry is one entry of a directory listing.
type Entry struct {
	Name    string // one path element; print it with safefs.Printable
	Type    wire.EntryType
	IsDir   bool
	Size    int64 // bytes, for regular files
	ModTime time.Time
	Mode    fs.FileMode // permission bits only
}

// List returns the entries of the directory path on the server ("" or "."
// is the served folder itself), in the server's order.
func (c *Client) List(ctx context.Context, path string) ([]Entry, error) {
	if path == "" {
		path = "."
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	id, cl, err := c.start(16)
	if err != nil {
		return nil, err
	}
	defer c.finish(id)
	if err := c.send(&wire.List{ID: id, Path: path}); err != nil {
		return nil, err
	}
	var out []Entry
	for {
		m, err := c.recv(ctx, cl)
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case *wire.ListEntries:
			if len(out)+len(m.Entries) > maxListEntries {
				return nil, fmt.Errorf("listing has more than %d entries", maxListEntries)
			}
			for _, e := range m.Entries {
				out = append(out, Entry{
					Name: e.Name, Type: e.Type, IsDir: e.Type == wire.EntryDir, Size: e.Size,
					ModTime: time.Unix(0, e.ModTime), Mode: fs.FileMode(e.Mode),
				})
			}
		case *wire.ListEnd:
			return out, nil
		case *wire.ErrorReply:
			return nil, remoteError(m)
		default:
			return nil, c.violation(m)
		}
	}
}
