package transfer

import (
	"errors"
	"fmt"

	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
)

// Sentinel errors. A *RemoteError matches the sentinel of its code with
// errors.Is.
var (
	ErrNotFound     = errors.New("no such file or directory on the server")
	ErrNotRegular   = errors.New("not a regular file")
	ErrAccessDenied = errors.New("access denied by the server")
	ErrBadRequest   = errors.New("request refused by the server")
	ErrBusy         = errors.New("server busy")
	ErrFileChanged  = errors.New("file changed on the server while it was being sent")
	ErrInternal     = errors.New("internal error on the server")

	// ErrIntegrity reports data that failed verification: a digest that
	// does not match, more or fewer bytes than announced, an echo that came
	// back different. Nothing is published under the real name.
	ErrIntegrity = errors.New("integrity check failed")

	// ErrExists reports a destination file that exists already (see
	// GetOptions.Replace).
	ErrExists = errors.New("destination file exists")

	// ErrProtocol reports a server that broke the protocol.
	ErrProtocol = errors.New("server broke the ferry protocol")

	// ErrLocalName reports a local name that the file cannot be saved
	// under: it breaks the name rule, or is too long to leave room for the
	// part file's suffix, or ends in that suffix. It wraps the
	// safefs.NameError that says why.
	ErrLocalName = errors.New("cannot save the file under that name")

	// ErrStalled reports a data stream on which nothing arrived for
	// ClientConfig.StallTimeout: the network was cut or the server hangs.
	// The partial file is kept for a resume.
	ErrStalled = errors.New("the transfer stalled")
)

// RemoteError is an ERROR message from the server.
type RemoteError struct {
	Code    wire.ErrorCode
	Message string // from the server; print it with safefs.Printable
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "server: " + codeSentinel(e.Code).Error()
	}
	return "server: " + e.Message
}

// Is matches the sentinel of the error's code.
func (e *RemoteError) Is(target error) bool { return codeSentinel(e.Code) == target }

func codeSentinel(c wire.ErrorCode) error {
	switch c {
	case wire.CodeNotFound:
		return ErrNotFound
	case wire.CodeNotRegular:
		return ErrNotRegular
	case wire.CodeAccessDenied:
		return ErrAccessDenied
	case wire.CodeBadRequest:
		return ErrBadRequest
	case wire.CodeTooBusy:
		return ErrBusy
	case wire.CodeFileChanged:
		return ErrFileChanged
	case wire.CodeTooLarge:
		return ErrTooLarge
	}
	return ErrInternal
}

// sessionError makes the error that ended a client's session readable.
func sessionError(err error) error {
	var se *transport.SessionError
	if errors.As(err, &se) && se.Remote {
		switch se.Code {
		case wire.SessionTooBusy:
			return fmt.Errorf("%w: the server has too many sessions, try again later (%w)", ErrBusy, err)
		case wire.SessionShutdown:
			return fmt.Errorf("the server is shutting down: %w", err)
		case wire.SessionIdle:
			return fmt.Errorf("the server closed an idle session: %w", err)
		case wire.SessionProtocolError:
			return fmt.Errorf("the server reports a protocol violation: %w", err)
		case wire.SessionVersion:
			return fmt.Errorf("%w: no common protocol version (%w)", transport.ErrWrongProtocol, err)
		}
	}
	return fmt.Errorf("connection to the server lost: %w", err)
}
