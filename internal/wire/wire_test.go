package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// samples holds one valid message of each type, several for some; the fuzz
// target starts from their frames.
func samples() []Message {
	return []Message{
		&Hello{Version: 1, MaxFrame: MaxFrame, Flags: 0},
		&Hello{Version: 7, MaxFrame: MinFrame, Flags: 1<<63 | 5},
		&HelloReply{Version: 1, MaxFrame: MaxFrame, MaxTransfers: 16, Algorithms: []Algorithm{BLAKE3, SHA256}},
		&GoAway{},
		&Echo{ID: 1, Payload: []byte{}},
		&Echo{ID: 2, Payload: []byte("hello\x00\xff")},
		&Echo{ID: 1<<64 - 1, Payload: bytes.Repeat([]byte{0xab}, MaxEchoPayload)},
		&EchoReply{ID: 3, Payload: []byte("x")},
		&List{ID: 4, Path: "."},
		&List{ID: 4, Path: "../\x00odd\\path"},
		&ListEntries{ID: 5, Entries: []Entry{
			{Name: "a.txt", Type: EntryFile, Size: 12, ModTime: 1700000000123456789, Mode: 0o644},
			{Name: "dir", Type: EntryDir, Size: 4096, ModTime: -1, Mode: 0o755},
			{Name: "ünïcode", Type: EntrySymlink, Mode: 0o777},
			{Name: "fifo", Type: EntryOther},
		}},
		&ListEnd{ID: 6, Skipped: 3},
		&Get{ID: 7, Path: "sub/file.bin", Offset: 0, Algorithm: BLAKE3},
		&Get{ID: 8, Path: "f", Offset: 1 << 40, Algorithm: SHA256},
		&File{ID: 9, Size: 100, ModTime: 42, Mode: 0o600, Algorithm: BLAKE3},
		&File{ID: 10, Size: 100, ModTime: 42, Mode: 0o600, Algorithm: SHA256, Offset: 50, PrefixDigest: bytes.Repeat([]byte{1}, 32)},
		&Done{ID: 11, Digest: bytes.Repeat([]byte{2}, 32)},
		&ErrorReply{ID: 12, Code: CodeNotFound, Message: "no such file: x"},
		&ErrorReply{ID: 0, Code: 999, Message: ""},
		&ErrorReply{ID: 13, Code: CodeTooLarge, Message: "more than 10000 matches"},
		&Find{ID: 14, Mode: FindGlob, Path: "logs/*.gz"},
		&Find{ID: 15, Mode: FindTree, Path: "../\x00odd"},
		&Manifest{ID: 16, Entries: []ManifestEntry{
			{Path: "a.txt", Type: EntryFile, Size: 12, ModTime: 1700000000123456789, Mode: 0o644},
			{Path: "sub", Type: EntryDir, ModTime: -1, Mode: 0o755},
			{Path: "sub/ünï code.sh", Type: EntryFile, Size: 1 << 40, Mode: 0o755},
			{Path: "sub/link", Type: EntrySymlink, Mode: 0o777},
			{Path: "sub/fifo", Type: EntryOther},
		}},
		&Find{ID: 17, Mode: FindTreeLinks, Path: "."},
		&Manifest{ID: 18, Entries: []ManifestEntry{
			{Path: "sub", Type: EntryDir, Mode: 0o755},
			{Path: "sub/up", Type: EntrySymlink, Mode: 0o777, Target: "../a.txt"},
			{Path: "sub/abs", Type: EntrySymlink, Mode: 0o777, Target: "/etc/passwd"},
			{Path: "sub/ctl", Type: EntrySymlink, Target: "\x1b[2J\u202e"},
			{Path: "sub/no-target", Type: EntrySymlink},
			{Path: "sub/long", Type: EntrySymlink, Target: strings.Repeat("a/", MaxLinkTarget/2)},
		}},
	}
}

func frame(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := AppendFrame(nil, m)
	if err != nil {
		t.Fatalf("AppendFrame(%v): %v", m.Type(), err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	var stream []byte
	for _, m := range samples() {
		b := frame(t, m)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%v): %v", m.Type(), err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Errorf("%v: got %+v, want %+v", m.Type(), got, m)
		}
		stream = append(stream, b...)
	}
	// The same frames back to back through a Reader.
	r := NewReader(bytes.NewReader(stream), MaxFrame)
	for _, m := range samples() {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage(%v): %v", m.Type(), err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Errorf("%v through Reader: got %+v, want %+v", m.Type(), got, m)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

// normalize maps empty slices to nil so that DeepEqual compares contents.
func normalize(m Message) Message {
	switch m := m.(type) {
	case *Echo:
		c := *m
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
		return &c
	case *EchoReply:
		c := *m
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
		return &c
	}
	return m
}

func TestDecodeRejects(t *testing.T) {
	good := frame(t, &Get{ID: 1, Path: "f", Algorithm: BLAKE3})
	withLen := func(b []byte, n uint32) []byte {
		c := bytes.Clone(b)
		binary.BigEndian.PutUint32(c, n)
		return c
	}
	hdr := func(n uint32, typ Type, body ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(append(b, byte(typ)), body...)
	}
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "shorter than a frame header"},
		{"unknown type", hdr(1, 0x7e), "unknown message type 0x7e"},
		{"type zero", hdr(1, 0), "unknown message type 0x00"},
		{"length zero", hdr(0, TypeGet), "length 0"},
		{"trailing byte", withLen(append(bytes.Clone(good), 0), uint32(len(good)-3)), "1 trailing bytes"},
		{"short body", withLen(good[:len(good)-1], uint32(len(good)-5)), "need 1 bytes"},
		{"length mismatch", withLen(good, 100), "but"},
		{"huge length", hdr(0xffffffff, TypeEcho), "over the limit"},
		{"request over 4 KiB", hdr(MaxRequestFrame+1, TypeGet), "over the limit of 4096"},
		{"echo payload over max", hdr(MaxFrame+1, TypeEcho), "over the limit"},
		{"echo payload length lies", func() []byte {
			b := frame(t, &Echo{ID: 1, Payload: []byte("abc")})
			binary.BigEndian.PutUint32(b[13:], 1<<30)
			return b
		}(), "over the limit"},
		{"hello version 0", frame0(&Hello{Version: 0, MaxFrame: MaxFrame}), "version 0"},
		{"hello small frame", frame0(&Hello{Version: 1, MaxFrame: 10}), "maximum frame"},
		{"get offset out of range", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint64(b[len(b)-9:], 1<<63)
			return b
		}(), "out of range"},
		{"get algorithm 0", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-1] = 0
			return b
		}(), "algorithm 0"},
		{"file offset past size", frame0(&File{ID: 1, Size: 1, Offset: 2, Algorithm: 1, PrefixDigest: []byte{1}}), "offset 2 and size 1"},
		{"file prefix without offset", frame0(&File{ID: 1, Size: 1, Algorithm: 1, PrefixDigest: []byte{1}}), "prefix digest"},
		{"done empty digest", frame0(&Done{ID: 1}), "digest of 0 bytes"},
		{"error code 0", frame0(&ErrorReply{ID: 1}), "code 0"},
		{"error not utf-8", frame0(&ErrorReply{ID: 1, Code: 1, Message: "\xff"}), "not UTF-8"},
		{"entry name slash", frame0(&ListEntries{ID: 1, Entries: []Entry{{Name: "a/b", Type: EntryFile}}}), "'/'"},
		{"entry name dotdot", frame0(&ListEntries{ID: 1, Entries: []Entry{{Name: "..", Type: EntryFile}}}), `".."`},
		{"entry mode", frame0(&ListEntries{ID: 1, Entries: []Entry{{Name: "a", Type: EntryFile, Mode: 0o4755}}}), "mode"},
		{"no entries", frame0(&ListEntries{ID: 1}), "0 entries"},
		{"entry count lies", hdr(1+8+2, TypeListEntries, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff), "cannot fit"},
		{"find mode 0", frame0(&Find{ID: 1, Path: "a"}), "mode 0"},
		{"find empty path", frame0(&Find{ID: 1, Mode: FindTree}), "path of 0 bytes"},
		{"manifest dotdot", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a/../b", Type: EntryFile}}}), `".."`},
		{"manifest absolute", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "/etc/passwd", Type: EntryFile}}}), "empty"},
		{"manifest trailing slash", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a/", Type: EntryDir}}}), "empty"},
		{"manifest NUL", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a\x00b", Type: EntryFile}}}), "NUL"},
		{"manifest not utf-8", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a\xff", Type: EntryFile}}}), "UTF-8"},
		{"manifest path too long", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: strings.Repeat("a", MaxManifestPath+1), Type: EntryFile}}}), "over the limit"},
		{"manifest type 6", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: 6}}}), "entry type 6"},
		{"manifest type 5 without target", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: symlinkWithTarget}}}), "link target length"},
		{"manifest empty target", func() []byte {
			b := append(frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: symlinkWithTarget}}}), 0, 0)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}(), "empty link target"},
		{"manifest target NUL", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntrySymlink, Target: "x\x00y"}}}), "NUL"},
		{"manifest target not utf-8", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntrySymlink, Target: "\xff"}}}), "UTF-8"},
		{"manifest target too long", frame0(&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntrySymlink, Target: strings.Repeat("a", MaxLinkTarget+1)}}}), "over the limit"},
		{"find mode 4", frame0(&Find{ID: 1, Mode: 4, Path: "a"}), "mode 4"},
		{"manifest no entries", frame0(&Manifest{ID: 1}), "0 entries"},
		{"manifest count lies", hdr(1+8+2, TypeManifest, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff), "cannot fit"},
		{"hello reply repeated algorithm", frame0(&HelloReply{Version: 1, MaxFrame: MaxFrame, MaxTransfers: 1, Algorithms: []Algorithm{1, 1}}), "repeated"},
		{"hello reply no transfers", frame0(&HelloReply{Version: 1, MaxFrame: MaxFrame, Algorithms: []Algorithm{1}}), "maximum transfers 0"},
		{"hello reply trailing", func() []byte {
			b := frame(t, &HelloReply{Version: 1, MaxFrame: MaxFrame, MaxTransfers: 1, Algorithms: []Algorithm{1}})
			b = append(b, 9)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}(), "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.frame)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", m)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not match ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// frame0 encodes m without checking its fields, to build invalid frames.
func frame0(m Message) []byte {
	b := []byte{0, 0, 0, 0, byte(m.Type())}
	b = m.appendBody(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func TestAppendFrameRefusesInvalid(t *testing.T) {
	bad := []Message{
		&Echo{ID: 1, Payload: make([]byte, MaxEchoPayload+1)},
		&Get{ID: 1, Path: "", Algorithm: BLAKE3},
		&Get{ID: 1, Path: strings.Repeat("a", MaxPath+1), Algorithm: BLAKE3},
		&Get{ID: 1, Path: "a", Offset: -1, Algorithm: BLAKE3},
		&ErrorReply{ID: 1, Code: 1, Message: strings.Repeat("m", MaxMessage+1)},
		&ListEntries{ID: 1, Entries: []Entry{{Name: "", Type: EntryFile}}},
		&File{ID: 1, Size: -1, Algorithm: 1},
		&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntryFile, Target: "b"}}},
		&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntrySymlink, Target: "b\x00"}}},
		&Manifest{ID: 1, Entries: []ManifestEntry{{Path: "a", Type: EntrySymlink, Target: strings.Repeat("b", MaxLinkTarget+1)}}},
	}
	for _, m := range bad {
		b, err := AppendFrame([]byte("keep"), m)
		if err == nil {
			t.Errorf("AppendFrame(%+v) succeeded", m)
		}
		if string(b) != "keep" {
			t.Errorf("AppendFrame(%v) changed the buffer on failure", m.Type())
		}
	}
	// The longest valid path still fits a request frame.
	frame(t, &Get{ID: 1<<64 - 1, Path: strings.Repeat("a", MaxPath), Offset: 1, Algorithm: BLAKE3})
}

func TestReaderLimits(t *testing.T) {
	// A frame over the reader's announced limit is refused from its header
	// alone: the reader must not wait for (or allocate) the body.
	big := frame(t, &Echo{ID: 1, Payload: make([]byte, 10000)})
	r := NewReader(bytes.NewReader(big[:HeaderSize]), 8192)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("frame over the limit: %v, want ErrMalformed", err)
	}
	if r.buf != nil {
		t.Errorf("reader allocated %d bytes for a refused frame", cap(r.buf))
	}
	// Truncation in the middle of a frame is not a clean EOF.
	r = NewReader(bytes.NewReader(big[:100]), MaxFrame)
	if _, err := r.ReadMessage(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated frame: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestDataHeader(t *testing.T) {
	b := AppendDataHeader(nil, 0x0102030405060708)
	if len(b) != DataHeaderSize {
		t.Fatalf("header is %d bytes", len(b))
	}
	id, err := ReadDataHeader(bytes.NewReader(b))
	if err != nil || id != 0x0102030405060708 {
		t.Fatalf("ReadDataHeader = %#x, %v", id, err)
	}
	b[0] = 'X'
	if _, err := ParseDataHeader(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad magic: %v", err)
	}
	if _, err := ReadDataHeader(bytes.NewReader(b[:5])); err != io.ErrUnexpectedEOF {
		t.Errorf("short header: %v", err)
	}
}
