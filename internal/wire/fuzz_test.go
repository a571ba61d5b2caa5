package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecode checks that Decode never panics, that everything it accepts
// encodes back to exactly the same bytes (the encoding is canonical), and
// that the Reader agrees with Decode.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, err := AppendFrame(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 1, 0x7f})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, byte(TypeEcho)})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		rm, rerr := NewReader(bytes.NewReader(b), MaxFrame).ReadMessage()
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not match ErrMalformed", err)
			}
			// The reader may accept a prefix of b that is a frame on its own.
			if rerr == nil {
				fb, _ := AppendFrame(nil, rm)
				if len(fb) >= len(b) {
					t.Fatalf("Reader accepted what Decode refused: %v", err)
				}
			}
			return
		}
		if rerr != nil {
			t.Fatalf("Decode accepted but Reader refused: %v", rerr)
		}
		again, err := AppendFrame(nil, m)
		if err != nil {
			t.Fatalf("re-encoding a decoded %v: %v", m.Type(), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%v: re-encoded frame differs:\n got %x\nwant %x", m.Type(), again, b)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("decoding the re-encoded frame: %v", err)
		}
		b2, _ := AppendFrame(nil, m2)
		if !bytes.Equal(b2, b) {
			t.Fatalf("second round trip differs")
		}
	})
}

// FuzzReader feeds a stream of arbitrary bytes to a Reader with a small
// limit: it must never panic, never hold a buffer over its limit, and stop
// at the first error.
func FuzzReader(f *testing.F) {
	var all []byte
	for _, m := range samples() {
		b, _ := AppendFrame(nil, m)
		all = append(all, b...)
	}
	f.Add(all, uint32(MinFrame))
	f.Add(all, uint32(MaxFrame))
	f.Fuzz(func(t *testing.T, b []byte, limit uint32) {
		r := NewReader(bytes.NewReader(b), limit)
		for range 1000 {
			_, err := r.ReadMessage()
			if cap(r.buf) > int(r.limit) {
				t.Fatalf("buffer of %d bytes over the limit %d", cap(r.buf), r.limit)
			}
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
		}
	})
}

func FuzzDataHeader(f *testing.F) {
	f.Add(AppendDataHeader(nil, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseDataHeader(b)
		if err != nil {
			return
		}
		if again := AppendDataHeader(nil, id); !bytes.Equal(again, b) {
			t.Fatalf("data header round trip: %x != %x", again, b)
		}
	})
}
