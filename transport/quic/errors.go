package quic

// This file is the only place that knows quic-go's errors. Every error a
// public method returns passes through wrapErr (or is made by one of the
// helpers below), so callers see ferry's errors (package transport) while
// quic-go's error stays in the chain for logs and for errors.As.

import (
	"errors"
	"io"
	"net"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/transport"
)

// cryptoNoApplicationProtocol is the QUIC CRYPTO_ERROR carrying the TLS
// alert no_application_protocol (0x100 + 120): the two ends share no ALPN.
// A server refusing our ALPN sends it; a client whose server selected none
// sends it too ("tls: server did not select an ALPN protocol").
const cryptoNoApplicationProtocol = quicgo.TransportErrorCode(0x100 + 120)

// opError is the error every public method returns on failure. It names
// the operation, carries ferry's meaning (err, may be nil) and the error it
// came from (cause, may be nil), and unwraps to both. It is a net.Error so
// that deadline and idle timeouts can be told apart the usual way, also by
// code that type-asserts (x/net/nettest does).
type opError struct {
	op      string
	err     error // transport-level meaning: *transport.StreamError, ErrWrongProtocol, net.ErrClosed, …
	cause   error // what quic-go, the OS or the context reported
	timeout bool
	detail  bool // the cause adds information the user needs, so print it
}

func (e *opError) Error() string {
	msg := "quic " + e.op + ": "
	switch {
	case e.err == nil:
		return msg + e.cause.Error()
	case e.cause == nil || !e.detail:
		return msg + e.err.Error()
	default:
		return msg + e.err.Error() + " (" + e.cause.Error() + ")"
	}
}

func (e *opError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.err != nil {
		errs = append(errs, e.err)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Timeout reports a deadline that passed, an idle or handshake timeout, or
// a context deadline.
func (e *opError) Timeout() bool { return e.timeout }

// Temporary is required by net.Error; nothing here is worth retrying as is.
func (e *opError) Temporary() bool { return false }

// wrapErr translates an error from quic-go (or from the OS or a context)
// for the operation op. io.EOF passes through untouched: it is the clean end
// of a stream, and io.Copy and friends compare it with ==.
func wrapErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	e := &opError{op: op, cause: err}
	if nerr, ok := errors.AsType[net.Error](err); ok && nerr.Timeout() {
		// Deadlines, idle and handshake timeouts, context deadlines. The
		// idle and handshake timeouts already unwrap to net.ErrClosed.
		e.timeout = true
	}
	if se, ok := errors.AsType[*quicgo.StreamError](err); ok {
		e.err = &transport.StreamError{Code: transport.ErrorCode(se.ErrorCode), Remote: se.Remote}
	} else if ae, ok := errors.AsType[*quicgo.ApplicationError](err); ok {
		e.err = &transport.SessionError{
			Code:   transport.ErrorCode(ae.ErrorCode),
			Reason: ae.ErrorMessage,
			Remote: ae.Remote,
		}
	} else if te, ok := errors.AsType[*quicgo.TransportError](err); ok && te.ErrorCode == cryptoNoApplicationProtocol {
		e.err, e.detail = transport.ErrWrongProtocol, true
	} else if _, ok := errors.AsType[*quicgo.VersionNegotiationError](err); ok {
		// The peer speaks no QUIC version we do: not ferry/1 either.
		e.err, e.detail = transport.ErrWrongProtocol, true
	} else if errors.Is(err, quicgo.ErrServerClosed) {
		e.err = errListenerClosed
	} else if errors.Is(err, quicgo.ErrTransportClosed) {
		e.err = errTransportClosed
	} else if errors.Is(err, quicgo.ErrStreamClosed) {
		// Write after CloseWrite; quic-go's sentinel does not unwrap
		// to net.ErrClosed, ferry's contract requires it.
		e.err = errWriteClosed
	}
	return e
}

var (
	// errStreamClosed is the meaning of Read and Write after Close.
	errStreamClosed = closedError("use of closed stream")
	// errWriteClosed is the meaning of Write after CloseWrite.
	errWriteClosed = closedError("stream closed for writing")
	// errListenerClosed is the meaning of Accept after Close.
	errListenerClosed = closedError("listener closed")
	// errTransportClosed is the meaning of Dial after Close.
	errTransportClosed = closedError("transport closed")
)

// closedError is a message that unwraps to net.ErrClosed.
type closedError string

func (e closedError) Error() string { return string(e) }
func (e closedError) Unwrap() error { return net.ErrClosed }

// closedErr reports an operation on something closed locally. cause, if
// not nil, is what the interrupted quic-go call returned.
func closedErr(op string, what closedError, cause error) error {
	if cause == io.EOF {
		cause = nil
	}
	return &opError{op: op, err: what, cause: cause}
}

// sideErr reports a stream opened or accepted on the wrong side.
func sideErr(op string) error {
	return &opError{op: op, err: transport.ErrWrongSide}
}
