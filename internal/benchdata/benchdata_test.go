package benchdata

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// stream is the contents of name computed the slow, obvious way: the
// AES-128-CTR key stream from counter zero, in one pass.
func stream(name string, size int64) []byte {
	key := sha256.Sum256([]byte(name))
	block, _ := aes.NewCipher(key[:16])
	out := make([]byte, size)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, out)
	return out
}

// The contents are pinned: a change to the scheme would make files that
// "ferry bench --prepare" wrote earlier differ from what a server serves.
func TestContentKnownAnswer(t *testing.T) {
	f := Content("bulk-1GiB.bin", 1<<30)
	buf := make([]byte, 32)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	// The same as: head -c 32 /dev/zero | openssl enc -aes-128-ctr -iv 00000000000000000000000000000000 \
	//   -K "$(printf bulk-1GiB.bin | sha256sum | cut -c1-32)" | xxd -p -c 64
	const want = "f08418bcf53b10c998312f31fa385e17b61fadac8823d4fe6cf9e780a0186e92"
	if got := hex.EncodeToString(buf); got != want {
		t.Errorf("first 32 bytes of bulk-1GiB.bin = %s, want %s", got, want)
	}
}

func TestReadAt(t *testing.T) {
	for _, size := range []int64{1, 15, 16, 17, 1000, 64<<10 + 3} {
		name := BulkPath(size)
		want := stream(name, size)
		f := Content(name, size)
		if f.Size() != size || f.Name() != name {
			t.Fatalf("Content(%q, %d) is %q of %d bytes", name, size, f.Name(), f.Size())
		}
		var whole bytes.Buffer
		if n, err := f.WriteTo(&whole); err != nil || n != size || !bytes.Equal(whole.Bytes(), want) {
			t.Fatalf("%s: WriteTo wrote %d bytes (%v), equal to the stream: %v", name, n, err, bytes.Equal(whole.Bytes(), want))
		}
		for _, off := range []int64{0, 1, 15, 16, 17, size / 2, size - 1, size} {
			if off > size {
				continue
			}
			for _, n := range []int64{0, 1, 7, 16, 33, size} {
				buf := bytes.Repeat([]byte{0xaa}, int(n))
				got, err := f.ReadAt(buf, off)
				end := min(off+n, size)
				if int64(got) != end-off {
					t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, want %d", name, n, off, got, end-off)
				}
				if (off+n > size) != (err == io.EOF) || err != nil && err != io.EOF {
					t.Fatalf("%s: ReadAt(%d bytes, %d): err %v", name, n, off, err)
				}
				if !bytes.Equal(buf[:got], want[off:end]) {
					t.Fatalf("%s: ReadAt(%d bytes, %d) differs from the stream", name, n, off)
				}
			}
		}
	}
	if _, err := Content("x", 10).ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at a negative offset succeeded")
	}
}

func TestDifferentNamesDifferentBytes(t *testing.T) {
	a, b := make([]byte, 64), make([]byte, 64)
	Content(SmallPath(2, 64, 0), 64).ReadAt(a, 0)
	Content(SmallPath(2, 64, 1), 64).ReadAt(b, 0)
	if bytes.Equal(a, b) {
		t.Error("two small files have the same bytes")
	}
}

func TestStat(t *testing.T) {
	for _, c := range []struct {
		p    string
		want Entry
	}{
		{"", Entry{Dir: true}},
		{".", Entry{Dir: true}},
		{"bulk-1GiB.bin", Entry{Name: "bulk-1GiB.bin", Size: 1 << 30}},
		{"bulk-1500B.bin", Entry{Name: "bulk-1500B.bin", Size: 1500}},
		{"bulk-64GiB.bin", Entry{Name: "bulk-64GiB.bin", Size: 64 << 30}},
		{"small-1000x64KiB", Entry{Name: "small-1000x64KiB", Dir: true}},
		{"small-1000x64KiB/0000999.bin", Entry{Name: "0000999.bin", Size: 64 << 10}},
		{"small-100000x16MiB/0099999.bin", Entry{Name: "0099999.bin", Size: 16 << 20}},
		{"parallel-4x64MiB", Entry{Name: "parallel-4x64MiB", Dir: true}},
		{"parallel-16x1B/15.bin", Entry{Name: "15.bin", Size: 1}},
	} {
		got, err := Stat(c.p)
		if err != nil || got != c.want {
			t.Errorf("Stat(%q) = %+v, %v; want %+v", c.p, got, err, c.want)
		}
	}
	for _, p := range []string{
		"bulk.bin", "bulk-0B.bin", "bulk-1024KiB.bin", "bulk-01MiB.bin", "bulk-1mib.bin", "bulk-1.5MiB.bin",
		"bulk-+1B.bin", "bulk-1B.bin/x", "bulk-65GiB.bin", "bulk-1TiB.bin", "bulk-1GiB.bin.bin", "bulk-1GiB",
		"small-1000x64KiB/0001000.bin", "small-1000x64KiB/000999.bin", "small-1000x64KiB/999.bin",
		"small-1000x64KiB/0000999.bin/x", "small-1000x64KiB/", "small-0x1B", "small-1x0B", "small-01x1B",
		"small-100001x1B", "small-1x17MiB", "small-1x1B/-000000.bin", "small-1X1B", "small-1x1B/0000000.BIN",
		"parallel-4x64MiB/4.bin", "parallel-4x64MiB/00.bin", "parallel-4x64MiB/01.bin", "parallel-65x1B",
		"parallel-1x65GiB", "parallel-4x64MiB/0.bin/0.bin", "other", "small", "parallel-", "../bulk-1B.bin",
		"./bulk-1B.bin", "/bulk-1B.bin", "bulk-99999999999999999999B.bin",
	} {
		if e, err := Stat(p); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%q) = %+v, %v; want ErrNotFound", p, e, err)
		}
	}
}

func TestReadDir(t *testing.T) {
	names := func(es []Entry) string {
		var s []string
		for _, e := range es {
			n := e.Name
			if e.Dir {
				n += "/"
			}
			s = append(s, n)
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct{ p, want string }{
		{"", "bulk-1GiB.bin parallel-4x64MiB/ small-1000x64KiB/"},
		{"small-3x1KiB", "0000000.bin 0000001.bin 0000002.bin"},
		{"parallel-12x1B", "0.bin 1.bin 10.bin 11.bin 2.bin 3.bin 4.bin 5.bin 6.bin 7.bin 8.bin 9.bin"},
	} {
		es, err := ReadDir(c.p)
		if err != nil || names(es) != c.want {
			t.Errorf("ReadDir(%q) = %q, %v; want %q", c.p, names(es), err, c.want)
		}
		for _, e := range es {
			p := e.Name
			if c.p != "" {
				p = c.p + "/" + e.Name
			}
			if got, err := Stat(p); err != nil || got != e {
				t.Errorf("ReadDir(%q) lists %+v, Stat(%q) = %+v, %v", c.p, e, p, got, err)
			}
		}
	}
	if es, err := ReadDir("small-100000x1B"); err != nil || len(es) != MaxSmallCount || es[len(es)-1].Name != "0099999.bin" {
		t.Errorf("ReadDir of the largest small folder: %d entries, %v", len(es), err)
	}
	for _, p := range []string{"bulk-1B.bin", "small-3x1KiB/0000000.bin"} {
		if _, err := ReadDir(p); !errors.Is(err, ErrNotDir) {
			t.Errorf("ReadDir(%q): %v, want ErrNotDir", p, err)
		}
	}
	if _, err := ReadDir("small-0x1B"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadDir of a name out of the scheme: %v, want ErrNotFound", err)
	}
}

func TestOpen(t *testing.T) {
	f, err := Open("small-3x1KiB/0000002.bin")
	if err != nil || f.Size() != 1024 || f.Name() != "small-3x1KiB/0000002.bin" {
		t.Fatalf("Open = %+v, %v", f, err)
	}
	for _, p := range []string{"", "small-3x1KiB", "parallel-1x1B"} {
		if _, err := Open(p); !errors.Is(err, ErrIsDir) {
			t.Errorf("Open(%q): %v, want ErrIsDir", p, err)
		}
	}
	if _, err := Open("small-3x1KiB/0000003.bin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open past the count: %v, want ErrNotFound", err)
	}
}

// FuzzParse checks that a path resolves exactly when it is the canonical
// spelling of an entry within the caps, and that the entry agrees with
// the path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "bulk-1GiB.bin", "bulk-1500B.bin", "bulk-1024KiB.bin", "small-1000x64KiB", "small-1000x64KiB/0000999.bin",
		"small-1x1B/0000000.bin", "parallel-4x64MiB/3.bin", "parallel-16x1TiB", "parallel-4x64MiB/03.bin",
		"bulk-9223372036854775807B.bin", "small-1x1B/0000000.bin/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n, err := parse(p)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("parse(%q): %v", p, err)
			}
			return
		}
		if p == "." {
			return
		}
		if got := n.path(); got != p {
			t.Fatalf("parse(%q) resolves to %q", p, got)
		}
		e := n.entry()
		if !e.Dir && (e.Size < 1 || e.Size > MaxBulkSize) {
			t.Fatalf("parse(%q): size %d", p, e.Size)
		}
		if e.Dir != (n.kind == 0 || n.kind != 'b' && n.index < 0) || e.Name != p[strings.LastIndexByte(p, '/')+1:] {
			t.Fatalf("parse(%q) = %+v", p, e)
		}
		if n.kind == 's' && (n.count > MaxSmallCount || n.size > MaxSmallSize) ||
			n.kind == 'p' && (n.count > MaxParallelCount || n.size > MaxParallelSize) {
			t.Fatalf("parse(%q) is over the caps: %+v", p, n)
		}
	})
}
