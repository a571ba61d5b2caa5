// Package wire encodes and decodes the messages of ferry's application
// protocol (docs/protocol.md) strictly: every frame is length-prefixed, every
// length is checked against a per-type maximum before anything is allocated,
// and a decoder refuses unknown types, trailing bytes, out-of-range values and
// any field the specification does not allow. Encoding is canonical, so that
// decoding a frame and encoding the result gives back the same bytes.
//
// A frame is
//
//	uint32 big-endian length | type byte | body
//
// where length counts the type byte and the body. Integers in bodies are
// fixed-width big-endian; byte strings carry a length prefix of their own.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Version is the protocol version this package speaks. It goes in Hello and
// HelloReply; the ALPN (transport.ALPN) names the same generation.
const Version = 1

// Limits of the protocol. Each is a property of the wire format, the same for
// every implementation.
const (
	// HeaderSize is the size of a frame header: length and type.
	HeaderSize = 5
	// MaxRequestFrame bounds the length field of LIST and GET frames.
	MaxRequestFrame = 4 << 10
	// MaxEchoPayload bounds the payload of ECHO and ECHO_REPLY.
	MaxEchoPayload = 64 << 10
	// MaxListFrame bounds the length field of a LIST_ENTRIES frame.
	MaxListFrame = 64 << 10
	// MaxFrame is the largest frame of any type (an ECHO with the largest
	// payload). A peer may announce a smaller maximum, never below MinFrame.
	MaxFrame = 1 + 8 + 4 + MaxEchoPayload
	// MinFrame is the smallest maximum frame a peer may announce in its
	// hello: every message except a long ECHO or LIST_ENTRIES fits.
	MinFrame = MaxRequestFrame
	// MaxPath bounds the byte length of a path in LIST and GET. Paths that
	// fit but break the server's naming rules get a BAD_REQUEST error, not a
	// decoding error, so that the session goes on.
	MaxPath = MaxRequestFrame - 1 - 8 - 2 - 8 - 1
	// MaxName bounds the byte length of an entry name in LIST_ENTRIES.
	MaxName = 255
	// MaxMessage bounds the byte length of the message in ERROR.
	MaxMessage = 1024
	// MaxDigest bounds the byte length of a digest.
	MaxDigest = 64
	// MaxAlgorithms bounds the digest algorithms listed in HELLO_REPLY.
	MaxAlgorithms = 16
	// MaxMode is the largest permission value: rwx for owner, group and
	// others. Set-id and sticky bits are never sent.
	MaxMode = 0o777
	// DataHeaderSize is the size of a data-stream header.
	DataHeaderSize = 12
	// MaxManifestPath bounds the byte length of a path in MANIFEST: the
	// name rule's limit for a whole path.
	MaxManifestPath = 1024
	// MaxLinkTarget bounds the byte length of a symlink target in
	// MANIFEST. A longer target is not sent (the entry goes without it).
	MaxLinkTarget = 1024
)

// Capability bits of HelloReply.Flags.
const (
	// FlagFind: the server answers FIND (globs and folder manifests).
	FlagFind uint64 = 1 << 0
	// FlagLinks: the server answers FIND in mode FindTreeLinks (folder
	// manifests with symlink targets).
	FlagLinks uint64 = 1 << 1
)

// Codes for transport.Session.CloseWithError and transport.Stream.Abort.
// They lie above the codes the transports reserve for themselves.
const (
	// SessionProtocolError: the peer broke the protocol (a malformed frame,
	// a message out of place, a repeated request ID).
	SessionProtocolError = 0x100
	// SessionTooBusy: the server has as many sessions as it allows.
	SessionTooBusy = 0x101
	// SessionShutdown: the server is shutting down.
	SessionShutdown = 0x102
	// SessionIdle: no request for longer than the server's idle timeout.
	SessionIdle = 0x103
	// SessionTimeout: the hello did not arrive in time.
	SessionTimeout = 0x104
	// SessionVersion: no protocol version both sides speak.
	SessionVersion = 0x105

	// StreamCancelled: the client no longer wants the data.
	StreamCancelled = 0x110
	// StreamRefused: the server has no GET for this data stream, or the GET
	// failed, or the header was malformed or late.
	StreamRefused = 0x111
	// StreamFileChanged: the file changed while it was sent; an ERROR with
	// FILE_CHANGED follows on the control stream.
	StreamFileChanged = 0x112
	// StreamFailed: the server could not read the file; an ERROR follows.
	StreamFailed = 0x113
)

// DataMagic opens every data stream, before the request ID.
var DataMagic = [4]byte{'F', 'R', 'Y', 'D'}

// Type identifies a message.
type Type byte

// Message types.
const (
	TypeHello       Type = 0x01
	TypeHelloReply  Type = 0x02
	TypeGoAway      Type = 0x03
	TypeEcho        Type = 0x10
	TypeEchoReply   Type = 0x11
	TypeList        Type = 0x20
	TypeListEntries Type = 0x21
	TypeListEnd     Type = 0x22
	TypeFind        Type = 0x23
	TypeManifest    Type = 0x24
	TypeGet         Type = 0x30
	TypeFile        Type = 0x31
	TypeDone        Type = 0x32
	TypeError       Type = 0x3f
)

var typeNames = map[Type]string{
	TypeHello: "HELLO", TypeHelloReply: "HELLO_REPLY", TypeGoAway: "GOAWAY", TypeEcho: "ECHO",
	TypeEchoReply: "ECHO_REPLY", TypeList: "LIST", TypeListEntries: "LIST_ENTRIES",
	TypeListEnd: "LIST_END", TypeFind: "FIND", TypeManifest: "MANIFEST", TypeGet: "GET", TypeFile: "FILE", TypeDone: "DONE",
	TypeError: "ERROR",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type 0x%02x", byte(t))
}

// maxLength is the largest length field allowed for a frame of type t, or 0
// for an unknown type. Fixed-size messages have their exact size here and
// are checked again, exactly, by their decoders.
func maxLength(t Type) uint32 {
	switch t {
	case TypeHello:
		return 1 + 2 + 4 + 8
	case TypeHelloReply:
		return 1 + 2 + 4 + 2 + 8 + 1 + MaxAlgorithms
	case TypeGoAway:
		return 1
	case TypeEcho, TypeEchoReply:
		return MaxFrame
	case TypeList, TypeGet, TypeFind:
		return MaxRequestFrame
	case TypeListEntries, TypeManifest:
		return MaxListFrame
	case TypeListEnd:
		return 1 + 8 + 4
	case TypeFile:
		return 1 + 8 + 8 + 8 + 4 + 1 + 8 + 1 + MaxDigest
	case TypeDone:
		return 1 + 8 + 1 + MaxDigest
	case TypeError:
		return 1 + 8 + 2 + 2 + MaxMessage
	}
	return 0
}

// MaxLength reports the largest length field that a frame of type t may
// carry, and false for a type this version does not know.
func MaxLength(t Type) (uint32, bool) {
	n := maxLength(t)
	return n, n != 0
}

// Algorithm identifies a digest algorithm.
type Algorithm byte

// Digest algorithms. Both produce 32-byte digests.
const (
	BLAKE3 Algorithm = 1 // BLAKE3 with 256-bit output, unkeyed
	SHA256 Algorithm = 2 // SHA-256 (FIPS 180-4)
)

func (a Algorithm) String() string {
	switch a {
	case BLAKE3:
		return "blake3"
	case SHA256:
		return "sha256"
	}
	return fmt.Sprintf("algorithm %d", byte(a))
}

// ErrorCode is the code in an ERROR message.
type ErrorCode uint16

// Error codes.
const (
	CodeNotFound     ErrorCode = 1 // no such file or directory
	CodeNotRegular   ErrorCode = 2 // GET of something that is not a regular file
	CodeAccessDenied ErrorCode = 3 // the server may not read it
	CodeBadRequest   ErrorCode = 4 // a path that breaks the naming rules, an unsupported algorithm, an offset past the end
	CodeTooBusy      ErrorCode = 5 // too many requests in flight on this session, or shutting down
	CodeFileChanged  ErrorCode = 6 // the file changed while it was being sent
	CodeInternal     ErrorCode = 7 // anything else; the server logs the details
	CodeTooLarge     ErrorCode = 8 // a FIND whose answer is over the server's limits
)

func (c ErrorCode) String() string {
	switch c {
	case CodeNotFound:
		return "NOT_FOUND"
	case CodeNotRegular:
		return "NOT_REGULAR"
	case CodeAccessDenied:
		return "ACCESS_DENIED"
	case CodeBadRequest:
		return "BAD_REQUEST"
	case CodeTooBusy:
		return "TOO_BUSY"
	case CodeFileChanged:
		return "FILE_CHANGED"
	case CodeInternal:
		return "INTERNAL"
	case CodeTooLarge:
		return "TOO_LARGE"
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// EntryType is the kind of a directory entry in LIST_ENTRIES.
type EntryType byte

// Entry types.
const (
	EntryFile    EntryType = 1 // regular file
	EntryDir     EntryType = 2 // directory
	EntrySymlink EntryType = 3 // symbolic link (not followed)
	EntryOther   EntryType = 4 // device, FIFO, socket...
)

func (t EntryType) String() string {
	switch t {
	case EntryFile:
		return "file"
	case EntryDir:
		return "dir"
	case EntrySymlink:
		return "symlink"
	case EntryOther:
		return "other"
	}
	return fmt.Sprintf("entry type %d", byte(t))
}

// ErrMalformed is matched (with errors.Is) by every decoding error.
var ErrMalformed = errors.New("malformed frame")

// FormatError reports a frame or message that breaks the format.
type FormatError struct {
	Type   Type // 0 when the type was not read yet
	Reason string
}

func (e *FormatError) Error() string {
	if e.Type == 0 {
		return "ferry protocol: malformed frame: " + e.Reason
	}
	return fmt.Sprintf("ferry protocol: malformed %v: %s", e.Type, e.Reason)
}

// Is makes a FormatError match ErrMalformed.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

func errf(t Type, format string, args ...any) error {
	return &FormatError{Type: t, Reason: fmt.Sprintf(format, args...)}
}

// Message is one protocol message.
type Message interface {
	// Type is the message's type byte.
	Type() Type
	// appendBody appends the encoded body; it assumes valid fields.
	appendBody(b []byte) []byte
	// check validates the fields against the format.
	check() error
	// decode fills the message from a body; it aliases nothing it keeps
	// unless the message documents it.
	decode(d *decoder) error
}

// Hello is the first message on the control stream, from the client.
type Hello struct {
	Version  uint16
	MaxFrame uint32 // the largest frame length the client accepts, MinFrame..MaxFrame
	Flags    uint64 // capabilities; none defined yet, receivers ignore unknown bits
}

// HelloReply is the server's answer to Hello.
type HelloReply struct {
	Version      uint16
	MaxFrame     uint32      // the largest frame length the server accepts, MinFrame..MaxFrame
	MaxTransfers uint16      // requests (GET and LIST) the server runs at once per session, at least 1
	Flags        uint64      // capabilities; none defined yet
	Algorithms   []Algorithm // digest algorithms the server offers, 1..MaxAlgorithms, no zero, no repeats
}

// GoAway tells the client that the server is shutting down: it answers
// requests already sent, refuses new ones with TOO_BUSY, and the client
// closes the session once its requests are answered. It has no body.
type GoAway struct{}

// Echo asks the server to send Payload back. On decoding, Payload aliases
// the Reader's buffer until the next ReadMessage.
type Echo struct {
	ID      uint64
	Payload []byte
}

// EchoReply answers Echo with the same ID and payload. On decoding, Payload
// aliases the Reader's buffer until the next ReadMessage.
type EchoReply struct {
	ID      uint64
	Payload []byte
}

// List asks for the entries of a directory. Path "." is the root.
type List struct {
	ID   uint64
	Path string // opaque bytes on the wire, 1..MaxPath; the server validates them
}

// Entry is one directory entry in ListEntries.
type Entry struct {
	Name    string    // one UTF-8 path element, 1..MaxName bytes, without '/' or NUL
	Type    EntryType // 1..4
	Size    int64     // ≥ 0
	ModTime int64     // nanoseconds since the Unix epoch, UTC
	Mode    uint32    // permission bits, ≤ MaxMode
}

// EncodedSize is the number of bytes e takes in a LIST_ENTRIES body.
func (e *Entry) EncodedSize() int { return 2 + len(e.Name) + 1 + 8 + 8 + 4 }

// ListEntries carries some of the entries of a directory; a listing takes
// zero or more of them, then ListEnd.
type ListEntries struct {
	ID      uint64
	Entries []Entry // at least one
}

// ListEntriesOverhead is the size of a LIST_ENTRIES frame without entries.
const ListEntriesOverhead = HeaderSize + 8 + 2

// ListEnd ends a listing. Skipped counts entries the server left out
// because their names break the naming rules.
type ListEnd struct {
	ID      uint64
	Skipped uint32
}

// FindMode says what a Find asks for.
type FindMode byte

// Find modes.
const (
	// FindGlob: Path is a pattern; the answer lists the entries whose
	// paths match it, component by component, with path.Match.
	FindGlob FindMode = 1
	// FindTree: Path is a directory; the answer lists everything beneath
	// it, parents before children, paths relative to it.
	FindTree FindMode = 2
	// FindTreeLinks: as FindTree, and each symlink entry carries its
	// target (ManifestEntry.Target) when the server can send it. Only for
	// a server that announced FlagLinks: an older one closes the session
	// over the unknown mode.
	FindTreeLinks FindMode = 3
)

func (m FindMode) String() string {
	switch m {
	case FindGlob:
		return "glob"
	case FindTree:
		return "tree"
	case FindTreeLinks:
		return "tree with link targets"
	}
	return fmt.Sprintf("find mode %d", byte(m))
}

// Find asks for a glob expansion or a folder manifest. The answer is zero
// or more Manifest frames, then ListEnd, or an ErrorReply.
type Find struct {
	ID   uint64
	Mode FindMode
	Path string // opaque bytes on the wire, 1..MaxPath; the server validates them
}

// ManifestEntry is one entry of a Manifest: a slash-separated path and
// what it names.
type ManifestEntry struct {
	Path    string    // 1..MaxManifestPath bytes of UTF-8, no NUL, no empty, "." or ".." element, no leading or trailing '/'
	Type    EntryType // 1..4
	Size    int64     // ≥ 0
	ModTime int64     // nanoseconds since the Unix epoch, UTC
	Mode    uint32    // permission bits, ≤ MaxMode
	// Target is the symlink's target as readlink(2) gave it: empty, or
	// 1..MaxLinkTarget bytes of UTF-8 without NUL, and then only for
	// EntrySymlink. Opaque to the codec: receivers judge where it leads.
	// On the wire an entry with a target has type byte 5
	// (symlinkWithTarget), followed by the target after the mode.
	Target string
}

// symlinkWithTarget is the MANIFEST type byte of a symlink entry that
// carries its target. It never appears in ManifestEntry.Type: the decoder
// turns it into EntrySymlink with a Target, the encoder back.
const symlinkWithTarget = 5

// EncodedSize is the number of bytes e takes in a MANIFEST body.
func (e *ManifestEntry) EncodedSize() int {
	n := 2 + len(e.Path) + 1 + 8 + 8 + 4
	if e.Target != "" {
		n += 2 + len(e.Target)
	}
	return n
}

// Manifest carries some of the entries answering a Find.
type Manifest struct {
	ID      uint64
	Entries []ManifestEntry // at least one
}

// ManifestOverhead is the size of a MANIFEST frame without entries.
const ManifestOverhead = HeaderSize + 8 + 2

// Get asks for the bytes [Offset, size) of a regular file, sent on the data
// stream whose header names ID.
type Get struct {
	ID        uint64
	Path      string // opaque bytes on the wire, 1..MaxPath
	Offset    int64  // ≥ 0
	Algorithm Algorithm
}

// File announces the file a Get is sending.
type File struct {
	ID           uint64
	Size         int64  // ≥ Offset
	ModTime      int64  // nanoseconds since the Unix epoch
	Mode         uint32 // ≤ MaxMode
	Algorithm    Algorithm
	Offset       int64  // the offset of the Get, repeated
	PrefixDigest []byte // digest of [0, Offset); empty exactly when Offset is 0
}

// Done ends a successful Get: Digest covers the whole file, [0, Size).
type Done struct {
	ID     uint64
	Digest []byte // 1..MaxDigest bytes
}

// ErrorReply ends a request that failed. ID 0 names no request.
type ErrorReply struct {
	ID      uint64
	Code    ErrorCode // nonzero
	Message string    // UTF-8, ≤ MaxMessage bytes, for people
}

func (*Hello) Type() Type       { return TypeHello }
func (*HelloReply) Type() Type  { return TypeHelloReply }
func (*GoAway) Type() Type      { return TypeGoAway }
func (*Echo) Type() Type        { return TypeEcho }
func (*EchoReply) Type() Type   { return TypeEchoReply }
func (*List) Type() Type        { return TypeList }
func (*ListEntries) Type() Type { return TypeListEntries }
func (*ListEnd) Type() Type     { return TypeListEnd }
func (*Find) Type() Type        { return TypeFind }
func (*Manifest) Type() Type    { return TypeManifest }
func (*Get) Type() Type         { return TypeGet }
func (*File) Type() Type        { return TypeFile }
func (*Done) Type() Type        { return TypeDone }
func (*ErrorReply) Type() Type  { return TypeError }

// newMessage returns an empty message of type t, or nil.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeHelloReply:
		return new(HelloReply)
	case TypeGoAway:
		return new(GoAway)
	case TypeEcho:
		return new(Echo)
	case TypeEchoReply:
		return new(EchoReply)
	case TypeList:
		return new(List)
	case TypeListEntries:
		return new(ListEntries)
	case TypeListEnd:
		return new(ListEnd)
	case TypeFind:
		return new(Find)
	case TypeManifest:
		return new(Manifest)
	case TypeGet:
		return new(Get)
	case TypeFile:
		return new(File)
	case TypeDone:
		return new(Done)
	case TypeError:
		return new(ErrorReply)
	}
	return nil
}

// AppendFrame appends m as a complete frame to b. It refuses a message whose
// fields break the format, so that a valid peer never sends a frame the
// other side must reject.
func AppendFrame(b []byte, m Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(m.Type()))
	b = m.appendBody(b)
	n := len(b) - start - 4
	if uint32(n) > maxLength(m.Type()) {
		return b[:start], errf(m.Type(), "%d bytes is over the limit of %d", n, maxLength(m.Type()))
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// Decode decodes one complete frame (header included) that must hold
// exactly one message.
func Decode(frame []byte) (Message, error) {
	if len(frame) < HeaderSize {
		return nil, errf(0, "%d bytes is shorter than a frame header", len(frame))
	}
	n := binary.BigEndian.Uint32(frame)
	t := Type(frame[4])
	if err := checkHeader(n, t, MaxFrame); err != nil {
		return nil, err
	}
	if uint64(n) != uint64(len(frame)-4) {
		return nil, errf(t, "length field %d, but %d bytes follow", n, len(frame)-4)
	}
	return decodeBody(t, frame[HeaderSize:])
}

func checkHeader(n uint32, t Type, limit uint32) error {
	max := maxLength(t)
	if max == 0 {
		return errf(0, "unknown message type 0x%02x", byte(t))
	}
	if n == 0 {
		return errf(0, "length 0")
	}
	if n > max {
		return errf(t, "length %d is over the limit of %d for this type", n, max)
	}
	if n > limit {
		return errf(t, "length %d is over the announced limit of %d", n, limit)
	}
	return nil
}

func decodeBody(t Type, body []byte) (Message, error) {
	m := newMessage(t)
	d := &decoder{t: t, b: body}
	if err := m.decode(d); err != nil {
		return nil, err
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errf(t, "%d trailing bytes", len(d.b))
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// decoder reads fields from a body. The first error sticks; later reads
// return zero values.
type decoder struct {
	t   Type
	b   []byte
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = errf(d.t, "%s: need %d bytes, have %d", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) byte {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// nonNegative reads a uint64 that must fit an int64.
func (d *decoder) nonNegative(what string) int64 {
	v := d.u64(what)
	if v > math.MaxInt64 && d.err == nil {
		d.err = errf(d.t, "%s %d is out of range", what, v)
	}
	return int64(v)
}

// bytes16 reads a uint16 length and that many bytes, at most max.
func (d *decoder) bytes16(max int, what string) []byte {
	n := int(d.u16(what + " length"))
	if d.err == nil && n > max {
		d.err = errf(d.t, "%s of %d bytes is over the limit of %d", what, n, max)
		return nil
	}
	return d.take(n, what)
}

func (d *decoder) done() error { return d.err }

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendBytes16(b []byte, s string) []byte {
	b = appendU16(b, uint16(len(s)))
	return append(b, s...)
}

// --- Hello

func (m *Hello) check() error {
	if m.Version == 0 {
		return errf(TypeHello, "version 0")
	}
	return checkMaxFrame(TypeHello, m.MaxFrame)
}

func checkMaxFrame(t Type, n uint32) error {
	if n < MinFrame || n > MaxFrame {
		return errf(t, "maximum frame %d is outside %d..%d", n, MinFrame, MaxFrame)
	}
	return nil
}

func (m *Hello) appendBody(b []byte) []byte {
	b = appendU16(b, m.Version)
	b = appendU32(b, m.MaxFrame)
	return appendU64(b, m.Flags)
}

func (m *Hello) decode(d *decoder) error {
	m.Version = d.u16("version")
	m.MaxFrame = d.u32("maximum frame")
	m.Flags = d.u64("flags")
	return d.done()
}

// --- HelloReply

func (m *HelloReply) check() error {
	if m.Version == 0 {
		return errf(TypeHelloReply, "version 0")
	}
	if err := checkMaxFrame(TypeHelloReply, m.MaxFrame); err != nil {
		return err
	}
	if m.MaxTransfers == 0 {
		return errf(TypeHelloReply, "maximum transfers 0")
	}
	if len(m.Algorithms) == 0 || len(m.Algorithms) > MaxAlgorithms {
		return errf(TypeHelloReply, "%d algorithms, want 1..%d", len(m.Algorithms), MaxAlgorithms)
	}
	var seen [256]bool
	for _, a := range m.Algorithms {
		if a == 0 || seen[a] {
			return errf(TypeHelloReply, "algorithm %d is zero or repeated", byte(a))
		}
		seen[a] = true
	}
	return nil
}

func (m *HelloReply) appendBody(b []byte) []byte {
	b = appendU16(b, m.Version)
	b = appendU32(b, m.MaxFrame)
	b = appendU16(b, m.MaxTransfers)
	b = appendU64(b, m.Flags)
	b = append(b, byte(len(m.Algorithms)))
	for _, a := range m.Algorithms {
		b = append(b, byte(a))
	}
	return b
}

func (m *HelloReply) decode(d *decoder) error {
	m.Version = d.u16("version")
	m.MaxFrame = d.u32("maximum frame")
	m.MaxTransfers = d.u16("maximum transfers")
	m.Flags = d.u64("flags")
	n := int(d.u8("algorithm count"))
	if n > MaxAlgorithms {
		return errf(TypeHelloReply, "%d algorithms, want 1..%d", n, MaxAlgorithms)
	}
	raw := d.take(n, "algorithms")
	m.Algorithms = make([]Algorithm, len(raw))
	for i, a := range raw {
		m.Algorithms[i] = Algorithm(a)
	}
	return d.done()
}

// --- GoAway

func (*GoAway) check() error               { return nil }
func (*GoAway) appendBody(b []byte) []byte { return b }
func (*GoAway) decode(d *decoder) error    { return d.done() }

// --- Echo and EchoReply

func checkPayload(t Type, p []byte) error {
	if len(p) > MaxEchoPayload {
		return errf(t, "payload of %d bytes is over the limit of %d", len(p), MaxEchoPayload)
	}
	return nil
}

func appendPayload(b []byte, id uint64, p []byte) []byte {
	b = appendU64(b, id)
	b = appendU32(b, uint32(len(p)))
	return append(b, p...)
}

func decodePayload(d *decoder) (uint64, []byte) {
	id := d.u64("id")
	n := d.u32("payload length")
	if d.err == nil && n > MaxEchoPayload {
		d.err = errf(d.t, "payload of %d bytes is over the limit of %d", n, MaxEchoPayload)
	}
	return id, d.take(int(n), "payload")
}

func (m *Echo) check() error               { return checkPayload(TypeEcho, m.Payload) }
func (m *Echo) appendBody(b []byte) []byte { return appendPayload(b, m.ID, m.Payload) }
func (m *Echo) decode(d *decoder) error    { m.ID, m.Payload = decodePayload(d); return d.done() }
func (m *EchoReply) check() error          { return checkPayload(TypeEchoReply, m.Payload) }
func (m *EchoReply) appendBody(b []byte) []byte {
	return appendPayload(b, m.ID, m.Payload)
}
func (m *EchoReply) decode(d *decoder) error { m.ID, m.Payload = decodePayload(d); return d.done() }

// --- List

func checkPath(t Type, p string) error {
	if len(p) == 0 || len(p) > MaxPath {
		return errf(t, "path of %d bytes, want 1..%d", len(p), MaxPath)
	}
	return nil
}

func (m *List) check() error { return checkPath(TypeList, m.Path) }

func (m *List) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	return appendBytes16(b, m.Path)
}

func (m *List) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Path = string(d.bytes16(MaxPath, "path"))
	return d.done()
}

// --- ListEntries

// CheckName reports whether name may be an entry name on the wire.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxName {
		return errf(TypeListEntries, "name of %d bytes, want 1..%d", len(name), MaxName)
	}
	if !utf8.ValidString(name) {
		return errf(TypeListEntries, "name is not UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return errf(TypeListEntries, "name holds '/' or NUL")
		}
	}
	if name == "." || name == ".." {
		return errf(TypeListEntries, "name %q", name)
	}
	return nil
}

func (m *ListEntries) check() error {
	if len(m.Entries) == 0 || len(m.Entries) > math.MaxUint16 {
		return errf(TypeListEntries, "%d entries, want 1..%d", len(m.Entries), math.MaxUint16)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if err := CheckName(e.Name); err != nil {
			return err
		}
		if e.Type < EntryFile || e.Type > EntryOther {
			return errf(TypeListEntries, "entry type %d", byte(e.Type))
		}
		if e.Size < 0 {
			return errf(TypeListEntries, "size %d", e.Size)
		}
		if e.Mode > MaxMode {
			return errf(TypeListEntries, "mode %#o", e.Mode)
		}
	}
	return nil
}

func (m *ListEntries) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = appendU16(b, uint16(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		b = appendBytes16(b, e.Name)
		b = append(b, byte(e.Type))
		b = appendU64(b, uint64(e.Size))
		b = appendU64(b, uint64(e.ModTime))
		b = appendU32(b, e.Mode)
	}
	return b
}

func (m *ListEntries) decode(d *decoder) error {
	m.ID = d.u64("id")
	n := int(d.u16("entry count"))
	// Each entry takes at least 24 bytes: refuse a count the body cannot
	// hold before allocating for it.
	if d.err == nil && n*24 > len(d.b) {
		return errf(TypeListEntries, "%d entries cannot fit in %d bytes", n, len(d.b))
	}
	m.Entries = make([]Entry, n)
	for i := range m.Entries {
		e := &m.Entries[i]
		e.Name = string(d.bytes16(MaxName, "name"))
		e.Type = EntryType(d.u8("entry type"))
		e.Size = d.nonNegative("size")
		e.ModTime = int64(d.u64("modification time"))
		e.Mode = d.u32("mode")
	}
	return d.done()
}

// --- ListEnd

func (m *ListEnd) check() error { return nil }

func (m *ListEnd) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	return appendU32(b, m.Skipped)
}

func (m *ListEnd) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Skipped = d.u32("skipped")
	return d.done()
}

// --- Find

func (m *Find) check() error {
	if m.Mode != FindGlob && m.Mode != FindTree && m.Mode != FindTreeLinks {
		return errf(TypeFind, "mode %d", byte(m.Mode))
	}
	return checkPath(TypeFind, m.Path)
}

func (m *Find) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = append(b, byte(m.Mode))
	return appendBytes16(b, m.Path)
}

func (m *Find) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Mode = FindMode(d.u8("mode"))
	m.Path = string(d.bytes16(MaxPath, "path"))
	return d.done()
}

// --- Manifest

// CheckManifestPath reports whether p may be a path in MANIFEST. It is a
// format check only: receivers apply their own, stricter name rule.
func CheckManifestPath(p string) error {
	if len(p) == 0 || len(p) > MaxManifestPath {
		return errf(TypeManifest, "path of %d bytes, want 1..%d", len(p), MaxManifestPath)
	}
	if !utf8.ValidString(p) {
		return errf(TypeManifest, "path is not UTF-8")
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] == 0 {
			return errf(TypeManifest, "path holds NUL")
		}
		if i == len(p) || p[i] == '/' {
			if c := p[start:i]; c == "" || c == "." || c == ".." {
				return errf(TypeManifest, "path has an empty, \".\" or \"..\" element")
			}
			start = i + 1
		}
	}
	return nil
}

func (m *Manifest) check() error {
	if len(m.Entries) == 0 || len(m.Entries) > math.MaxUint16 {
		return errf(TypeManifest, "%d entries, want 1..%d", len(m.Entries), math.MaxUint16)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if err := CheckManifestPath(e.Path); err != nil {
			return err
		}
		if e.Type < EntryFile || e.Type > EntryOther {
			return errf(TypeManifest, "entry type %d", byte(e.Type))
		}
		if e.Size < 0 {
			return errf(TypeManifest, "size %d", e.Size)
		}
		if e.Mode > MaxMode {
			return errf(TypeManifest, "mode %#o", e.Mode)
		}
		if e.Target != "" {
			if e.Type != EntrySymlink {
				return errf(TypeManifest, "a link target on a %v entry", e.Type)
			}
			if err := CheckLinkTarget(e.Target); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckLinkTarget reports whether t may be a symlink target in MANIFEST:
// 1..MaxLinkTarget bytes of UTF-8 without NUL. It is a format check only:
// where the target leads is for the receiver to judge.
func CheckLinkTarget(t string) error {
	if len(t) == 0 || len(t) > MaxLinkTarget {
		return errf(TypeManifest, "link target of %d bytes, want 1..%d", len(t), MaxLinkTarget)
	}
	if !utf8.ValidString(t) {
		return errf(TypeManifest, "link target is not UTF-8")
	}
	if strings.IndexByte(t, 0) >= 0 {
		return errf(TypeManifest, "link target holds NUL")
	}
	return nil
}

func (m *Manifest) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = appendU16(b, uint16(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		b = appendBytes16(b, e.Path)
		if e.Target != "" {
			b = append(b, symlinkWithTarget)
		} else {
			b = append(b, byte(e.Type))
		}
		b = appendU64(b, uint64(e.Size))
		b = appendU64(b, uint64(e.ModTime))
		b = appendU32(b, e.Mode)
		if e.Target != "" {
			b = appendBytes16(b, e.Target)
		}
	}
	return b
}

func (m *Manifest) decode(d *decoder) error {
	m.ID = d.u64("id")
	n := int(d.u16("entry count"))
	// Each entry takes at least 24 bytes: refuse a count the body cannot
	// hold before allocating for it.
	if d.err == nil && n*24 > len(d.b) {
		return errf(TypeManifest, "%d entries cannot fit in %d bytes", n, len(d.b))
	}
	m.Entries = make([]ManifestEntry, n)
	for i := range m.Entries {
		e := &m.Entries[i]
		e.Path = string(d.bytes16(MaxManifestPath, "path"))
		e.Type = EntryType(d.u8("entry type"))
		e.Size = d.nonNegative("size")
		e.ModTime = int64(d.u64("modification time"))
		e.Mode = d.u32("mode")
		if e.Type == symlinkWithTarget {
			e.Type = EntrySymlink
			e.Target = string(d.bytes16(MaxLinkTarget, "link target"))
			if d.err == nil && e.Target == "" {
				return errf(TypeManifest, "empty link target")
			}
		}
	}
	return d.done()
}

// --- Get

func (m *Get) check() error {
	if err := checkPath(TypeGet, m.Path); err != nil {
		return err
	}
	if m.Offset < 0 {
		return errf(TypeGet, "offset %d", m.Offset)
	}
	if m.Algorithm == 0 {
		return errf(TypeGet, "algorithm 0")
	}
	return nil
}

func (m *Get) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = appendBytes16(b, m.Path)
	b = appendU64(b, uint64(m.Offset))
	return append(b, byte(m.Algorithm))
}

func (m *Get) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Path = string(d.bytes16(MaxPath, "path"))
	m.Offset = d.nonNegative("offset")
	m.Algorithm = Algorithm(d.u8("algorithm"))
	return d.done()
}

// --- File

func (m *File) check() error {
	if m.Size < 0 || m.Offset < 0 || m.Offset > m.Size {
		return errf(TypeFile, "offset %d and size %d", m.Offset, m.Size)
	}
	if m.Mode > MaxMode {
		return errf(TypeFile, "mode %#o", m.Mode)
	}
	if m.Algorithm == 0 {
		return errf(TypeFile, "algorithm 0")
	}
	if (m.Offset == 0) != (len(m.PrefixDigest) == 0) {
		return errf(TypeFile, "prefix digest of %d bytes with offset %d", len(m.PrefixDigest), m.Offset)
	}
	if len(m.PrefixDigest) > MaxDigest {
		return errf(TypeFile, "prefix digest of %d bytes", len(m.PrefixDigest))
	}
	return nil
}

func appendDigest(b, digest []byte) []byte {
	b = append(b, byte(len(digest)))
	return append(b, digest...)
}

func decodeDigest(d *decoder) []byte {
	n := int(d.u8("digest length"))
	if d.err == nil && n > MaxDigest {
		d.err = errf(d.t, "digest of %d bytes is over the limit of %d", n, MaxDigest)
		return nil
	}
	return append([]byte(nil), d.take(n, "digest")...)
}

func (m *File) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = appendU64(b, uint64(m.Size))
	b = appendU64(b, uint64(m.ModTime))
	b = appendU32(b, m.Mode)
	b = append(b, byte(m.Algorithm))
	b = appendU64(b, uint64(m.Offset))
	return appendDigest(b, m.PrefixDigest)
}

func (m *File) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Size = d.nonNegative("size")
	m.ModTime = int64(d.u64("modification time"))
	m.Mode = d.u32("mode")
	m.Algorithm = Algorithm(d.u8("algorithm"))
	m.Offset = d.nonNegative("offset")
	m.PrefixDigest = decodeDigest(d)
	if len(m.PrefixDigest) == 0 {
		m.PrefixDigest = nil
	}
	return d.done()
}

// --- Done

func (m *Done) check() error {
	if len(m.Digest) == 0 || len(m.Digest) > MaxDigest {
		return errf(TypeDone, "digest of %d bytes, want 1..%d", len(m.Digest), MaxDigest)
	}
	return nil
}

func (m *Done) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	return appendDigest(b, m.Digest)
}

func (m *Done) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Digest = decodeDigest(d)
	return d.done()
}

// --- ErrorReply

func (m *ErrorReply) check() error {
	if m.Code == 0 {
		return errf(TypeError, "code 0")
	}
	if len(m.Message) > MaxMessage {
		return errf(TypeError, "message of %d bytes is over the limit of %d", len(m.Message), MaxMessage)
	}
	if !utf8.ValidString(m.Message) {
		return errf(TypeError, "message is not UTF-8")
	}
	return nil
}

func (m *ErrorReply) appendBody(b []byte) []byte {
	b = appendU64(b, m.ID)
	b = appendU16(b, uint16(m.Code))
	return appendBytes16(b, m.Message)
}

func (m *ErrorReply) decode(d *decoder) error {
	m.ID = d.u64("id")
	m.Code = ErrorCode(d.u16("code"))
	m.Message = string(d.bytes16(MaxMessage, "message"))
	return d.done()
}
