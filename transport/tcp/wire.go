package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/ferryproject/ferry/transport"
)

// The byte layout below is specified in docs/tcp-framing.md; keep the two
// in step.

// magic opens every connection in both directions. On plain TCP it is the
// protocol version check; under TLS the ALPN already did that, and the magic
// only confirms it. Its first byte, 'f', can never start a TLS record (0x16),
// which lets one port serve TLS and plain TCP.
const magic = "ferry/1\n"

// Connection kinds in the client preamble.
const (
	kindSession byte = 'S' // the session's signalling connection
	kindJoin    byte = 'J' // a stream connection joining an existing session
)

const (
	sessionIDLen      = 16
	clientPreambleLen = len(magic) + 1 + sessionIDLen // magic, kind, session ID
	serverPreambleLen = len(magic) + 4                // magic, max streams
)

// Frame types. Stream connections carry data, fin and reset frames;
// the signalling connection carries close frames.
const (
	frameData  byte = 1 // uint32 length, then that many payload bytes
	frameFin   byte = 2 // the sender's write side ended cleanly
	frameReset byte = 3 // uint64 code: the sender aborted the stream
	frameClose byte = 4 // uint64 code, uint16 reason length, reason: session closed
)

const (
	frameHeaderLen  = 1 + 4 // type, and a uint32 (data length) or first half of a code
	resetFrameLen   = 1 + 8
	maxReasonLen    = 1024
	maxDataFrameLen = 1 << 30 // bounds one frame so a length never overflows int32 platforms
)

type sessionID [sessionIDLen]byte

func (id sessionID) String() string { return fmt.Sprintf("%x", id[:4]) }

func appendClientPreamble(b []byte, kind byte, id sessionID) []byte {
	b = append(b, magic...)
	b = append(b, kind)
	return append(b, id[:]...)
}

func appendServerPreamble(b []byte, maxStreams int) []byte {
	b = append(b, magic...)
	return binary.BigEndian.AppendUint32(b, uint32(maxStreams))
}

// wrongProtocol explains what the peer sent instead of ferry's magic.
func wrongProtocol(got []byte) error {
	return fmt.Errorf("%w: it sent %s", transport.ErrWrongProtocol, strconv.QuoteToASCII(string(got)))
}

func readClientPreamble(r *bufio.Reader) (kind byte, id sessionID, err error) {
	b, err := r.Peek(clientPreambleLen)
	if err != nil {
		if len(b) > 0 && string(b) != magic[:min(len(b), len(magic))] {
			return 0, id, wrongProtocol(b)
		}
		return 0, id, fmt.Errorf("reading the client preamble: %w", err)
	}
	if string(b[:len(magic)]) != magic {
		return 0, id, wrongProtocol(b)
	}
	kind = b[len(magic)]
	if kind != kindSession && kind != kindJoin {
		return 0, id, fmt.Errorf("%w: unknown connection kind %#x", transport.ErrWrongProtocol, kind)
	}
	copy(id[:], b[len(magic)+1:])
	_, _ = r.Discard(clientPreambleLen)
	return kind, id, nil
}

// errNoGreeting is a connection closed before the server greeted it. On
// the first connection of a session it means the peer is not a ferry
// server; on a later stream connection the session may simply have been
// closed, which the signalling connection tells.
var errNoGreeting = errors.New("the server closed the connection without a ferry greeting")

func readServerPreamble(r *bufio.Reader) (maxStreams int, err error) {
	b, err := r.Peek(serverPreambleLen)
	if err != nil {
		if len(b) > 0 && string(b) != magic[:min(len(b), len(magic))] {
			return 0, wrongProtocol(b)
		}
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return 0, fmt.Errorf("%w: %w", transport.ErrWrongProtocol, errNoGreeting)
		}
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%w: the server closed the connection in the middle of its ferry greeting", transport.ErrWrongProtocol)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err // a net.Error, as callers of Read expect
		}
		return 0, fmt.Errorf("reading the server greeting: %w", err)
	}
	if string(b[:len(magic)]) != magic {
		return 0, wrongProtocol(b)
	}
	n := binary.BigEndian.Uint32(b[len(magic):])
	_, _ = r.Discard(serverPreambleLen)
	if n == 0 {
		return 0, fmt.Errorf("%w: the server allows no streams", transport.ErrWrongProtocol)
	}
	return int(min(n, 1<<16)), nil
}

// errBadFrame reports a frame that violates the framing rules; the
// connection carrying it is unusable.
var errBadFrame = errors.New("malformed frame from peer")

// readCloseFrame reads one frame from the signalling connection. Only close
// frames are allowed there.
func readCloseFrame(r *bufio.Reader) (code transport.ErrorCode, reason string, err error) {
	t, err := r.ReadByte()
	if err != nil {
		return 0, "", err
	}
	if t != frameClose {
		return 0, "", fmt.Errorf("%w: type %d on the signalling connection", errBadFrame, t)
	}
	var hdr [10]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, "", noEOF(err)
	}
	code = transport.ErrorCode(binary.BigEndian.Uint64(hdr[:8]))
	n := int(binary.BigEndian.Uint16(hdr[8:]))
	if n > maxReasonLen {
		return 0, "", fmt.Errorf("%w: close reason of %d bytes", errBadFrame, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, "", noEOF(err)
	}
	return code, string(buf), nil
}

func appendCloseFrame(b []byte, code transport.ErrorCode, reason string) []byte {
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b = append(b, frameClose)
	b = binary.BigEndian.AppendUint64(b, uint64(code))
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...)
}

// noEOF turns an EOF in the middle of a frame into io.ErrUnexpectedEOF: the
// peer stopped mid-frame, which is never a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// closed marks an error as the end of a session or stream: it matches
// net.ErrClosed, as the transport contract requires, without adding Go's
// "use of closed network connection" to the message a user reads.
type closed struct{ err error }

func closedError(err error) error      { return &closed{err} }
func (c *closed) Error() string        { return c.err.Error() }
func (c *closed) Unwrap() error        { return c.err }
func (c *closed) Is(target error) bool { return target == net.ErrClosed }
