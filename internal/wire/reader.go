package wire

import (
	"encoding/binary"
	"errors"
	"io"
)

// Reader reads frames from a stream, one at a time. It checks each header
// against the per-type maximum and the limit given to NewReader before it
// reads or allocates the body, and it reuses one buffer for all bodies.
type Reader struct {
	r     io.Reader
	limit uint32
	hdr   [HeaderSize]byte
	buf   []byte
}

// NewReader returns a Reader that accepts frames up to limit bytes (the
// length field), which is clamped to MinFrame..MaxFrame.
func NewReader(r io.Reader, limit uint32) *Reader {
	limit = min(max(limit, MinFrame), MaxFrame)
	return &Reader{r: r, limit: limit}
}

// ReadMessage reads and decodes the next frame. Byte slices in the message
// (Echo and EchoReply payloads) alias the Reader's buffer until the next
// call; strings and digests are copies.
//
// A clean end of stream before a frame begins returns io.EOF; an end in the
// middle of a frame returns io.ErrUnexpectedEOF. A frame that breaks the
// format returns a *FormatError (matching ErrMalformed); the stream is then
// out of step and must be abandoned.
func (r *Reader) ReadMessage() (Message, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	t := Type(r.hdr[4])
	if err := checkHeader(n, t, r.limit); err != nil {
		return nil, err
	}
	size := int(n) - 1
	if cap(r.buf) < size {
		// Grow to the limit of this type at most, never to what the
		// length field alone claims.
		r.buf = make([]byte, size, max(size, min(2*cap(r.buf), int(r.limit))))
	}
	body := r.buf[:size]
	if _, err := io.ReadFull(r.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodeBody(t, body)
}

// AppendDataHeader appends the header that opens a data stream for the
// request id.
func AppendDataHeader(b []byte, id uint64) []byte {
	b = append(b, DataMagic[:]...)
	return binary.BigEndian.AppendUint64(b, id)
}

// ReadDataHeader reads a data-stream header and returns its request id.
func ReadDataHeader(r io.Reader) (uint64, error) {
	var h [DataHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	return ParseDataHeader(h[:])
}

// ParseDataHeader decodes a data-stream header of exactly DataHeaderSize
// bytes.
func ParseDataHeader(h []byte) (uint64, error) {
	if len(h) != DataHeaderSize {
		return 0, errf(0, "data header of %d bytes, want %d", len(h), DataHeaderSize)
	}
	if [4]byte(h[:4]) != DataMagic {
		return 0, errf(0, "data stream does not start with the magic %q", DataMagic[:])
	}
	return binary.BigEndian.Uint64(h[4:]), nil
}
