// Package transporttest is the conformance suite that every ferry transport
// passes. It checks one implementation of transport.Transport against the
// contract written in package transport, with real sockets on 127.0.0.1, so
// that TCP, TLS and QUIC behave the same wherever ferry's protocol can tell
// them apart.
//
// An implementation calls it in a few lines:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Suite{
//			New: func(t *testing.T) (client, server transport.Transport) {
//				c, s := newClient(t), newServer(t) // closed with t.Cleanup
//				return c, s
//			},
//			WrongProtocolServer: startHTTPServer, // optional
//		}.Run(t)
//	}
//
// # What Run checks
//
// Every failure names the clause of the contract it found broken, as
// "Stream.Abort: …" or "Session.CloseWithError: …".
//
//   - NetConn: a stream is a net.Conn; nettest.TestConn passes with the
//     opened stream as either end (basic IO, ping-pong, racy reads and
//     writes, deadlines, close).
//   - HalfClose: after CloseWrite the peer reads every byte, then io.EOF,
//     and can still answer; Write after CloseWrite fails with net.ErrClosed.
//   - Abort: Abort(code) makes the peer's Read and Write fail with a
//     *transport.StreamError{Code: code, Remote: true}, never io.EOF, also
//     when the peer is blocked in a large Write.
//   - Truncation: a stream cut by an abort or by the session closing reads
//     as an error, never as io.EOF, and never yields bytes that were not
//     written.
//   - ConcurrentStreams: 32 streams carry 256 KiB each way at once, checked
//     with SHA-256, with no cross-talk.
//   - SessionClose: CloseWithError(7, "bye") from either side fails the
//     peer's pending and later calls with a *transport.SessionError{Code: 7,
//     Reason: "bye", Remote: true}, cancels both Contexts, and fails local
//     calls with net.ErrClosed.
//   - Deadlines: a read deadline in the past fails Read with
//     os.ErrDeadlineExceeded and clearing it makes Read work again; a
//     cancelled context unblocks AcceptStream, and OpenStream when the
//     peer's stream limit can be reached.
//   - WrongSide: OpenStream on the accepting side and AcceptStream on the
//     dialing side return transport.ErrWrongSide.
//   - WrongProtocol: a peer that does not speak ferry/1 yields
//     transport.ErrWrongProtocol at Dial or at the first exchange.
//   - Listener: Close fails Accept with net.ErrClosed, accepted sessions
//     outlive their listener, and dialing a closed listener fails.
//   - StreamReuse: 200 short streams one after the other on one session, each
//     ended by CloseWrite on both sides, all work (stream credit returns).
//   - NoGoroutineLeak: once every subtest has cleaned up, no goroutine that
//     the suite started is still running.
//
// # Running it
//
// Run starts no parallel subtests. Its goroutine check counts every
// goroutine in the test binary, so do not run it in parallel with other tests
// of the same package. Every blocking step has a deadline; a slow machine
// can stretch all of them with the environment variable
// FERRY_TEST_TIMEOUT_SCALE (a number, default 1). No check measures time.
package transporttest

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ferryproject/ferry/transport"
)

// Suite checks one transport implementation against the contract in package
// transport.
type Suite struct {
	// New returns a client transport and a server transport for one test;
	// cleanup via t.Cleanup.
	New func(t *testing.T) (client, server transport.Transport)

	// WrongProtocolServer starts, on 127.0.0.1:0, a server of the same
	// socket kind that does not speak ferry/1 (QUIC: another ALPN; TLS: a
	// TLS server with another ALPN; TCP: a server that answers with
	// something else, e.g. an HTTP response) and returns its address.
	// Optional: nil skips that test with a message.
	WrongProtocolServer func(t *testing.T) string

	// EarlyDial says that Dial may return before the handshake completes
	// (QUIC with 0-RTT and a ticket in hand): a dial to a closed port then
	// succeeds, and the failure shows up on the first stream instead; and a
	// session the dialing side closes before the server has confirmed the
	// handshake may reach the peer closed without its code and reason (RFC
	// 9000, section 10.2.3), though closed all the same.
	EarlyDial bool
}

// Run runs every check of the suite as a subtest of t. See the package
// documentation for the list.
func (s Suite) Run(t *testing.T) {
	if s.New == nil {
		t.Fatal("transporttest: Suite.New is nil")
	}
	base := snapshotGoroutines()

	t.Run("Name", s.testName)
	t.Run("Addresses", s.testAddresses)
	t.Run("NetConn", s.testNetConn)
	t.Run("HalfClose", s.testHalfClose)
	t.Run("Close", s.testClose)
	t.Run("Abort", s.testAbort)
	t.Run("Truncation", s.testTruncation)
	t.Run("ConcurrentStreams", s.testConcurrentStreams)
	t.Run("SessionClose", s.testSessionClose)
	t.Run("Deadlines", s.testDeadlines)
	t.Run("WrongSide", s.testWrongSide)
	t.Run("WrongProtocol", s.testWrongProtocol)
	t.Run("Listener", s.testListener)
	t.Run("StreamReuse", s.testStreamReuse)

	// Last, once every subtest above has run its cleanups.
	t.Run("NoGoroutineLeak", func(t *testing.T) { checkGoroutines(t, base) })
}

// pair returns a fresh client and server transport from New and a session
// between them.
func (s Suite) pair(t *testing.T) (dialed, accepted transport.Session) {
	t.Helper()
	client, server := s.New(t)
	return Pair(t, client, server)
}

// Pair listens with server on 127.0.0.1:0, dials it with client and accepts
// the session. It fails the test on any error and closes both sessions and
// the listener with t.Cleanup. The contexts passed to Listen and Dial end
// when Pair returns, so Pair also checks that they do not bound the life of
// the listener or the sessions (as with net.ListenConfig.Listen).
func Pair(t *testing.T, client, server transport.Transport) (dialed, accepted transport.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(setupTimeout))
	defer cancel()
	ln, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Transport.Listen(127.0.0.1:0) on %s: %v", server.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return dialAccept(t, ctx, client, ln)
}

// dialAccept dials ln with client and accepts the session on ln. Both
// sessions are closed with t.Cleanup.
func dialAccept(t *testing.T, ctx context.Context, client transport.Transport, ln transport.Listener) (dialed, accepted transport.Session) {
	t.Helper()
	acc := async(func() sessionResult {
		s, err := ln.Accept(ctx)
		return sessionResult{s, err}
	})
	dialed, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		closeLater(acc)
		t.Fatalf("Transport.Dial(%s) on %s: %v", ln.Addr(), client.Name(), err)
	}
	t.Cleanup(func() { dialed.CloseWithError(transport.CodeNoError, "") })
	var r sessionResult
	select {
	case r = <-acc:
	case <-ctx.Done():
		closeLater(acc)
		t.Fatalf("Listener.Accept: no session within %v although Dial succeeded", scaled(setupTimeout))
	}
	if r.err != nil {
		t.Fatalf("Listener.Accept: %v (Dial succeeded)", r.err)
	}
	accepted = r.s
	t.Cleanup(func() { accepted.CloseWithError(transport.CodeNoError, "") })
	return dialed, accepted
}

type sessionResult struct {
	s   transport.Session
	err error
}

// closeLater closes the session that a pending Accept may still deliver, so
// that a failed setup leaks nothing.
func closeLater(acc <-chan sessionResult) {
	go func() {
		if r := <-acc; r.s != nil {
			r.s.CloseWithError(transport.CodeNoError, "")
		}
	}()
}

// helloByte is what StreamPair writes to announce a stream.
const helloByte = 0x5a

// StreamPair opens a stream on dialed and accepts it on accepted. Streams may
// be lazy (announced to the peer only with their first byte), so the opener
// writes one hello byte that the acceptor reads and discards: both streams
// are then fresh. It fails the test on any error and closes both streams with
// t.Cleanup.
func StreamPair(t *testing.T, dialed, accepted transport.Session) (opened, acceptedStream transport.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(setupTimeout))
	defer cancel()
	opened, acceptedStream, err := streamPair(ctx, dialed, accepted)
	if err != nil {
		t.Fatalf("StreamPair: %v", err)
	}
	t.Cleanup(func() {
		opened.Close()
		acceptedStream.Close()
	})
	return opened, acceptedStream
}

type streamResult struct {
	s   transport.Stream
	err error
}

func streamPair(ctx context.Context, dialed, accepted transport.Session) (opened, acceptedStream transport.Stream, err error) {
	deadline, _ := ctx.Deadline()
	acc := async(func() streamResult {
		s, err := accepted.AcceptStream(ctx)
		if err != nil {
			return streamResult{nil, fmt.Errorf("Session.AcceptStream: %w", err)}
		}
		s.SetReadDeadline(deadline)
		var b [1]byte
		if _, err := io.ReadFull(s, b[:]); err != nil {
			s.Abort(transport.CodeInternal)
			return streamResult{nil, fmt.Errorf("reading the hello byte on the accepted stream: %w", err)}
		}
		if b[0] != helloByte {
			s.Abort(transport.CodeInternal)
			return streamResult{nil, fmt.Errorf("accepted stream began with %#x, want the hello byte %#x (cross-talk?)", b[0], helloByte)}
		}
		s.SetReadDeadline(time.Time{})
		return streamResult{s, nil}
	})
	abandon := func() {
		go func() {
			if r := <-acc; r.s != nil {
				r.s.Abort(transport.CodeInternal)
			}
		}()
	}

	opened, err = dialed.OpenStream(ctx)
	if err != nil {
		abandon()
		return nil, nil, fmt.Errorf("Session.OpenStream: %w", err)
	}
	opened.SetWriteDeadline(deadline)
	if _, err := opened.Write([]byte{helloByte}); err != nil {
		opened.Abort(transport.CodeInternal)
		abandon()
		return nil, nil, fmt.Errorf("writing the hello byte on the opened stream: %w", err)
	}
	opened.SetWriteDeadline(time.Time{})

	select {
	case r := <-acc:
		if r.err != nil {
			opened.Abort(transport.CodeInternal)
			return nil, nil, r.err
		}
		return opened, r.s, nil
	case <-ctx.Done():
		opened.Abort(transport.CodeInternal)
		abandon()
		return nil, nil, fmt.Errorf("the peer did not accept an opened stream that carried a byte: %w", ctx.Err())
	}
}

// Timeouts, before scaling. They bound waiting for something that must
// happen; none of them is a performance expectation.
const (
	setupTimeout = 20 * time.Second // dial, accept, open a stream
	testTimeout  = 60 * time.Second // one check, end to end
	leakTimeout  = 10 * time.Second // goroutines winding down after cleanup
)

// scaled stretches d by FERRY_TEST_TIMEOUT_SCALE for slow machines.
func scaled(d time.Duration) time.Duration {
	if v := os.Getenv("FERRY_TEST_TIMEOUT_SCALE"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return time.Duration(float64(d) * f)
		}
	}
	return d
}

// testContext returns a context for one check, cancelled at cleanup.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), scaled(testTimeout))
	t.Cleanup(cancel)
	return ctx
}

// async runs f in a goroutine and delivers its result on the returned
// channel. The goroutine never touches t, so it may outlive a failed test
// without a panic; it ends when the streams and sessions of the test close.
func async[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// await waits for the result of an async call, failing the test with what
// if ctx ends first.
func await[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("%s: still blocked when the test deadline passed", what)
		panic("unreachable")
	}
}

// setDeadline puts ctx's deadline on every stream, so that no Read or Write
// of a check can block longer than the check itself.
func setDeadline(ctx context.Context, streams ...transport.Stream) {
	d, _ := ctx.Deadline()
	for _, s := range streams {
		s.SetDeadline(d)
	}
}
