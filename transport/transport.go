// Package transport defines how ferry moves bytes between two machines: a
// Transport dials and listens for Sessions, and a Session carries any number
// of independent, reliable, bidirectional byte Streams.
//
// Three implementations live in the sub-packages: plain TCP and TLS 1.3 over
// TCP (package tcp) and QUIC (package quic). They are interchangeable: the
// same program, the same protocol and the same conformance suite
// (package transporttest) run over each of them.
//
// # Direction of streams
//
// Streams are opened by the side that dialed the session and accepted by the
// side that listened. This mirrors how ferry's protocol works (the client asks,
// the server answers) and lets the TCP implementations give every stream a
// connection of its own, which only the dialing side can create. The QUIC
// implementation enforces the same rule so that no caller comes to depend on a
// QUIC-only behaviour: OpenStream on an accepted session and AcceptStream on a
// dialed session return ErrWrongSide.
//
// # Errors
//
// Everything that is closed, by either side, returns errors that unwrap to
// net.ErrClosed. A stream aborted by the peer returns a *StreamError with
// Remote set; a session closed with a code returns a *SessionError. A peer that
// does not speak ferry's protocol version yields an error that unwraps to
// ErrWrongProtocol. Errors from the layer below (crypto/tls, quic-go, the
// operating system) stay in the chain.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// ALPN is the application protocol that the TLS and QUIC transports negotiate.
// Both ends require it; a peer that offers none or another one is refused.
// The plain TCP transport sends the same version in a preamble.
const ALPN = "ferry/1"

// Transport dials and listens for sessions of one kind (TCP, TLS or QUIC).
// A Transport is safe for concurrent use.
type Transport interface {
	// Name is the short name users type to choose the transport:
	// "tcp", "tls" or "quic".
	Name() string

	// Dial opens a session to addr ("host:port"). It returns once the session
	// is established and, where the transport has one, the handshake and the
	// peer's identity have been verified. ctx bounds the whole dial.
	Dial(ctx context.Context, addr string) (Session, error)

	// Listen announces on addr ("host:port"; port 0 picks a free port) and
	// returns a Listener for incoming sessions.
	Listen(ctx context.Context, addr string) (Listener, error)

	// Close releases what the Transport holds for dialing (the QUIC transport
	// keeps one UDP socket for all its dials). Sessions that were dialed
	// through it are closed too. Listeners are closed separately.
	Close() error
}

// Listener accepts incoming sessions. Closing a Listener stops accepting;
// sessions already accepted keep working until they are closed themselves.
// A Listener is safe for concurrent use.
type Listener interface {
	// Accept waits for the next session whose handshake has completed. After
	// Close it returns an error that unwraps to net.ErrClosed.
	//
	// A QUIC listener configured to accept early data also hands out a
	// session whose client resumed with 0-RTT as soon as it arrives, before
	// the handshake completes, so that its first requests are answered
	// without waiting a round trip; see HandshakeState.
	Accept(ctx context.Context) (Session, error)

	// Addr is the address the listener is bound to, with the real port when
	// port 0 was asked for.
	Addr() net.Addr

	// Close stops listening.
	Close() error
}

// Session is a connection between two peers that carries independent,
// reliable byte streams: data on one stream never waits behind data on
// another stream, and on QUIC each stream is a QUIC stream.
//
// All methods are safe for concurrent use.
type Session interface {
	// OpenStream opens a new stream to the peer. Only the dialing side may
	// open streams (see the package documentation); the accepting side gets
	// ErrWrongSide. It blocks while the peer's limit of concurrent streams is
	// reached, until a stream ends, ctx is done or the session closes.
	//
	// A stream may not be announced to the peer before its first byte is
	// written, so the opener should write without waiting for the peer.
	OpenStream(ctx context.Context) (Stream, error)

	// AcceptStream waits for the next stream the peer opened. Only the
	// accepting side accepts streams; the dialing side gets ErrWrongSide.
	AcceptStream(ctx context.Context) (Stream, error)

	// CloseWithError closes the session and every stream in it. The peer's
	// pending and later calls fail with a *SessionError carrying code and
	// reason (a short text, not a secret). Data still in flight may be lost:
	// a protocol that must not lose it waits for the peer's acknowledgement
	// before closing. Closing twice is harmless.
	CloseWithError(code ErrorCode, reason string) error

	// Context is cancelled when the session ends; context.Cause tells why.
	Context() context.Context

	// LocalAddr and RemoteAddr are the addresses of the two ends.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// HandshakeStater is implemented by the sessions of the transports that run
// TLS (tls and quic). Plain TCP sessions implement it too and report
// ErrNoTLS.
type HandshakeStater interface {
	// HandshakeState waits until the session's handshake has completed (it
	// may still be running on a session that sent or accepted early data)
	// and describes it. ctx bounds the wait.
	HandshakeState(ctx context.Context) (HandshakeState, error)
}

// HandshakeState says how a session's security was set up.
type HandshakeState struct {
	// TLS is the connection state of the session's TLS handshake (of its
	// first connection, on the TCP-based transport). TLS.DidResume tells
	// a resumed session, which skipped the certificate exchange but was
	// verified all the same: a resumption ticket is only issued by the
	// server that was verified when it was made, and ferry's
	// verification callbacks run on resumed handshakes too.
	TLS tls.ConnectionState

	// EarlyData is true when the client sent its first requests in 0-RTT,
	// before the handshake completed, and the server accepted them. Early
	// data can be replayed by an attacker who recorded it, so a protocol
	// must only send requests there that are safe to repeat (ferry's are
	// all read-only: echo, list, fetch).
	EarlyData bool
}

// ErrNoTLS reports a handshake state asked of a plain TCP session.
var ErrNoTLS = errors.New("the session does not use TLS")

// Stream is one reliable, ordered, bidirectional byte stream within a
// Session. It is a net.Conn, so io.Copy, deadlines and nettest work on it.
//
// Read returns io.EOF only after the peer closed its write side (CloseWrite or
// Close) and every byte before that has been read: an EOF always means the
// peer finished on purpose. A stream that ends in any other way (abort, session
// close, lost connection) returns an error, never a clean EOF.
//
// All methods are safe for concurrent use, as net.Conn requires: concurrent
// Reads (or Writes) are serialized, so a message written by one Write is never
// interleaved with another's. Close and Abort unblock pending Reads and Writes.
type Stream interface {
	net.Conn

	// CloseWrite ends the write side: the peer reads everything written so
	// far, then io.EOF. Reading continues to work. Write after CloseWrite
	// returns an error that unwraps to net.ErrClosed.
	CloseWrite() error

	// Abort ends both directions at once with an application error code.
	// Unsent data is discarded. The peer's Read and Write fail with a
	// *StreamError{Code: code, Remote: true}. Aborting an ended stream is
	// harmless.
	Abort(code ErrorCode)

	// Close ends both directions without an error: the write side is closed
	// like CloseWrite, and the read side stops accepting data (a peer that
	// is still writing sees its stream aborted). Read and Write after Close
	// return errors that unwrap to net.ErrClosed.
	Close() error
}

// ErrorCode is an application error code carried by a stream abort or a
// session close. On QUIC it is the 62-bit application error code on the
// wire; on TCP and TLS it travels in the transport's own frames.
type ErrorCode uint64

// Error codes that the transports themselves use. Applications define their
// own codes above these.
const (
	// CodeNoError closes a session or stream normally.
	CodeNoError ErrorCode = 0
	// CodeInternal reports a failure inside the transport.
	CodeInternal ErrorCode = 1
	// CodeStreamLimit refuses a stream beyond the peer's limit.
	CodeStreamLimit ErrorCode = 2
	// CodeClosed reports that the stream was closed while the peer was still
	// writing to it.
	CodeClosed ErrorCode = 3
)

var (
	// ErrWrongProtocol reports a peer that does not speak ferry/1: another
	// program on the port, another ALPN, or an incompatible ferry version.
	ErrWrongProtocol = errors.New("peer does not speak the ferry/1 protocol")

	// ErrWrongSide reports a stream opened by the accepting side or accepted
	// by the dialing side (see the package documentation).
	ErrWrongSide = errors.New("streams are opened by the dialing side and accepted by the listening side")
)

// StreamError reports a stream aborted with a code, by the peer (Remote) or
// locally.
type StreamError struct {
	Code   ErrorCode
	Remote bool
}

func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by the peer"
	}
	return fmt.Sprintf("stream aborted %s with code %d", who, e.Code)
}

// Is makes every StreamError match net.ErrClosed: the stream is unusable.
func (e *StreamError) Is(target error) bool { return target == net.ErrClosed }

// SessionError reports a session closed with a code and reason, by the peer
// (Remote) or locally. It matches net.ErrClosed.
type SessionError struct {
	Code   ErrorCode
	Reason string
	Remote bool
}

func (e *SessionError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by the peer"
	}
	msg := fmt.Sprintf("session closed %s (code %d)", who, e.Code)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes every SessionError match net.ErrClosed.
func (e *SessionError) Is(target error) bool { return target == net.ErrClosed }
