package transporttest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/ferryproject/ferry/transport"
)

// The check functions below return "" when err is what the contract asks
// for, or a sentence saying what is wrong with it, so that each check can
// prefix the clause and the call it tested.

// problemCommon catches the outcomes that are wrong for every expected
// failure: no error, a clean end of stream, or the test's own deadline.
func problemCommon(err error) string {
	switch {
	case err == nil:
		return "returned no error"
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("returned io.EOF (%v): a stream that ends this way must never look finished", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("never failed on its own; it ran into the test's deadline (%v)", err)
	}
	return ""
}

// closedProblem wants an error that unwraps to net.ErrClosed.
func closedProblem(err error) string {
	if p := problemCommon(err); p != "" {
		return p
	}
	if !errors.Is(err, net.ErrClosed) {
		return fmt.Sprintf("returned %q (%T), which does not unwrap to net.ErrClosed", err, err)
	}
	return ""
}

// streamErrorProblem wants the error a peer sees after Abort(code).
func streamErrorProblem(err error, code transport.ErrorCode) string {
	if p := problemCommon(err); p != "" {
		return p
	}
	var se *transport.StreamError
	if !errors.As(err, &se) {
		return fmt.Sprintf("returned %q (%T), want a *transport.StreamError{Code: %d, Remote: true} in the chain", err, err, code)
	}
	if se.Code != code || !se.Remote {
		return fmt.Sprintf("returned %q: StreamError{Code: %d, Remote: %t}, want {Code: %d, Remote: true}", err, se.Code, se.Remote, code)
	}
	if !errors.Is(err, net.ErrClosed) {
		return fmt.Sprintf("returned %q, which does not unwrap to net.ErrClosed", err)
	}
	return ""
}

// sessionErrorProblem wants the error a peer sees after
// CloseWithError(code, reason).
func sessionErrorProblem(err error, code transport.ErrorCode, reason string) string {
	if p := problemCommon(err); p != "" {
		return p
	}
	var se *transport.SessionError
	if !errors.As(err, &se) {
		return fmt.Sprintf("returned %q (%T), want a *transport.SessionError{Code: %d, Reason: %q, Remote: true} in the chain", err, err, code, reason)
	}
	if se.Code != code || se.Reason != reason || !se.Remote {
		return fmt.Sprintf("returned %q: SessionError{Code: %d, Reason: %q, Remote: %t}, want {Code: %d, Reason: %q, Remote: true}",
			err, se.Code, se.Reason, se.Remote, code, reason)
	}
	if !errors.Is(err, net.ErrClosed) {
		return fmt.Sprintf("returned %q, which does not unwrap to net.ErrClosed", err)
	}
	return ""
}

// readAll reads r to its end and returns what it read and the error that
// ended it, io.EOF included (unlike io.ReadAll, which hides it).
func readAll(r io.Reader) ([]byte, error) {
	var got []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// writeUntilError writes to w until a Write fails and returns that error.
func writeUntilError(w io.Writer) error {
	buf := make([]byte, 32<<10)
	for {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
}

type readResult struct {
	data []byte
	err  error
}

func asyncReadAll(r io.Reader) <-chan readResult {
	return async(func() readResult {
		b, err := readAll(r)
		return readResult{b, err}
	})
}
