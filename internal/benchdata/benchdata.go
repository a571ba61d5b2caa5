// Package benchdata names and generates the synthetic files of ferry bench.
//
// The files form a read-only tree whose names carry their sizes, so that a
// client's choice of workload needs no setting on the server:
//
//	bulk-SIZE.bin                  one file of SIZE bytes
//	small-COUNTxSIZE/NNNNNNN.bin   COUNT files, seven-digit index from 0
//	parallel-COUNTxSIZE/N.bin      COUNT files, decimal index from 0
//
// SIZE is written as [FormatSize] writes it ("64KiB", "1GiB", "1500B"), and
// only that spelling names a file: every file has exactly one name.
//
// The contents of a file depend only on its name: the AES-128-CTR key
// stream (initial counter block zero) under the first 16 bytes of
// SHA-256(name), where name is the path above ("bulk-1GiB.bin",
// "small-1000x64KiB/0000000.bin"). It is pseudo-random, so no layer can
// compress it, and it can be generated from any offset, so that ranged
// reads (a resumed get) cost no more than sequential ones.
//
// "ferry bench --prepare" writes these files to disk and "ferry serve
// --bench" serves them without touching a disk; both use [Open], so their
// bytes are the same.
package benchdata

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Caps on what a name may ask for. A name beyond them is not found, so that
// no request can make the server list or promise an absurd tree.
const (
	MaxBulkSize      = 64 << 30
	MaxSmallCount    = 100_000
	MaxSmallSize     = 16 << 20
	MaxParallelCount = 64
	MaxParallelSize  = 64 << 30
)

// The workload the root folder lists (the defaults of ferry bench). Every
// other workload is there too, but only when asked for by name.
const (
	DefaultBulkSize      = 1 << 30
	DefaultSmallCount    = 1000
	DefaultSmallSize     = 64 << 10
	DefaultParallelCount = 4
	DefaultParallelSize  = 64 << 20
)

// ModTime is the modification time of every file and folder of the tree:
// the contents never change.
var ModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrNotFound reports a path that is not in the tree.
var ErrNotFound = errors.New("not a bench file")

// ErrNotDir reports a folder operation on a file.
var ErrNotDir = errors.New("not a folder")

// ErrIsDir reports a file operation on a folder.
var ErrIsDir = errors.New("is a folder")

// FormatSize writes n in the largest binary unit that divides it exactly:
// "1GiB", "64KiB", "1500B". It is the spelling of sizes in names.
func FormatSize(n int64) string {
	for _, u := range units {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

var units = []struct {
	name string
	v    int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// BulkPath is the path of the bulk file of size bytes.
func BulkPath(size int64) string { return "bulk-" + FormatSize(size) + ".bin" }

// SmallDir is the folder of count small files of size bytes.
func SmallDir(count int, size int64) string {
	return fmt.Sprintf("small-%dx%s", count, FormatSize(size))
}

// SmallPath is small file i (from 0) of SmallDir(count, size).
func SmallPath(count int, size int64, i int) string {
	return SmallDir(count, size) + "/" + smallName(i)
}

func smallName(i int) string { return fmt.Sprintf("%07d.bin", i) }

// ParallelDir is the folder of count parallel files of size bytes.
func ParallelDir(count int, size int64) string {
	return fmt.Sprintf("parallel-%dx%s", count, FormatSize(size))
}

// ParallelPath is parallel file i (from 0) of ParallelDir(count, size).
func ParallelPath(count int, size int64, i int) string {
	return ParallelDir(count, size) + "/" + parallelName(i)
}

func parallelName(i int) string { return strconv.Itoa(i) + ".bin" }

// Entry is a file or folder of the tree.
type Entry struct {
	Name string // the last component of its path
	Dir  bool
	Size int64 // bytes, for files
}

// node is a parsed path.
type node struct {
	kind  byte // 0 root, 'b' bulk file, 's' small, 'p' parallel
	count int
	size  int64
	index int // -1 for the folder of small or parallel
}

func (n node) path() string {
	switch n.kind {
	case 'b':
		return BulkPath(n.size)
	case 's':
		if n.index < 0 {
			return SmallDir(n.count, n.size)
		}
		return SmallPath(n.count, n.size, n.index)
	case 'p':
		if n.index < 0 {
			return ParallelDir(n.count, n.size)
		}
		return ParallelPath(n.count, n.size, n.index)
	}
	return ""
}

func (n node) entry() Entry {
	p := n.path()
	name := p[strings.LastIndexByte(p, '/')+1:]
	if n.kind == 0 || n.index < 0 && n.kind != 'b' {
		return Entry{Name: name, Dir: true}
	}
	return Entry{Name: name, Size: n.size}
}

// parse resolves p, a slash-separated path relative to the root ("" or "."
// is the root). Only the canonical spelling of a path resolves: parse(p)
// succeeds exactly when parse(p).path() == p.
func parse(p string) (node, error) {
	if p == "" || p == "." {
		return node{}, nil
	}
	first, rest, nested := strings.Cut(p, "/")
	switch {
	case strings.HasPrefix(first, "bulk-") && strings.HasSuffix(first, ".bin"):
		size, ok := parseSize(strings.TrimSuffix(strings.TrimPrefix(first, "bulk-"), ".bin"))
		if !ok || size > MaxBulkSize {
			return node{}, ErrNotFound
		}
		if nested {
			return node{}, ErrNotFound // beneath a file, as ENOTDIR maps
		}
		return node{kind: 'b', size: size, index: -1}, nil
	case strings.HasPrefix(first, "small-"):
		count, size, ok := parseCountSize(strings.TrimPrefix(first, "small-"))
		if !ok || count > MaxSmallCount || size > MaxSmallSize {
			return node{}, ErrNotFound
		}
		n := node{kind: 's', count: count, size: size, index: -1}
		if !nested {
			return n, nil
		}
		digits, ok := strings.CutSuffix(rest, ".bin")
		if !ok || len(digits) != 7 || !allDigits(digits) {
			return node{}, ErrNotFound
		}
		n.index, _ = strconv.Atoi(digits)
		if n.index >= count {
			return node{}, ErrNotFound
		}
		return n, nil
	case strings.HasPrefix(first, "parallel-"):
		count, size, ok := parseCountSize(strings.TrimPrefix(first, "parallel-"))
		if !ok || count > MaxParallelCount || size > MaxParallelSize {
			return node{}, ErrNotFound
		}
		n := node{kind: 'p', count: count, size: size, index: -1}
		if !nested {
			return n, nil
		}
		digits, ok := strings.CutSuffix(rest, ".bin")
		i, ok2 := parseNumber(digits)
		if !ok || !ok2 || i >= int64(count) {
			return node{}, ErrNotFound
		}
		n.index = int(i)
		return n, nil
	}
	return node{}, ErrNotFound
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber reads a decimal number in its canonical spelling (no sign, no
// leading zero) of at most 15 digits.
func parseNumber(s string) (int64, bool) {
	if s == "" || len(s) > 15 || !allDigits(s) || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseSize reads a size as FormatSize writes it, and only so.
func parseSize(s string) (int64, bool) {
	num, mult := strings.TrimSuffix(s, "B"), int64(1)
	if len(num) == len(s) {
		return 0, false
	}
	for _, u := range units {
		if t, ok := strings.CutSuffix(s, u.name); ok {
			num, mult = t, u.v
			break
		}
	}
	n, ok := parseNumber(num)
	if !ok || n == 0 || n > (1<<62)/mult {
		return 0, false
	}
	n *= mult
	return n, FormatSize(n) == s
}

func parseCountSize(s string) (int, int64, bool) {
	c, sz, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, false
	}
	count, ok1 := parseNumber(c)
	size, ok2 := parseSize(sz)
	if !ok1 || !ok2 || count == 0 || count > 1<<30 {
		return 0, 0, false
	}
	return int(count), size, true
}

// Stat describes the entry at p ("" or "." is the root). The error is
// ErrNotFound for a path that is not in the tree.
func Stat(p string) (Entry, error) {
	n, err := parse(p)
	if err != nil {
		return Entry{}, err
	}
	return n.entry(), nil
}

// ReadDir lists the folder p ("" or "." is the root), sorted by name in
// byte order. The root lists the default workload only. The error is
// ErrNotFound or ErrNotDir.
func ReadDir(p string) ([]Entry, error) {
	n, err := parse(p)
	if err != nil {
		return nil, err
	}
	var out []Entry
	switch {
	case n.kind == 0:
		out = []Entry{
			{Name: BulkPath(DefaultBulkSize), Size: DefaultBulkSize},
			{Name: SmallDir(DefaultSmallCount, DefaultSmallSize), Dir: true},
			{Name: ParallelDir(DefaultParallelCount, DefaultParallelSize), Dir: true},
		}
	case n.kind == 'b' || n.index >= 0:
		return nil, ErrNotDir
	default:
		name := smallName
		if n.kind == 'p' {
			name = parallelName
		}
		out = make([]Entry, n.count)
		for i := range out {
			out[i] = Entry{Name: name(i), Size: n.size}
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// File is the contents of one file of the tree. Its ReadAt is safe for
// concurrent use.
type File struct {
	name  string
	size  int64
	block cipher.Block
}

var _ io.ReaderAt = (*File)(nil)

// Open returns the file at p. The error is ErrNotFound, or ErrIsDir for a
// folder.
func Open(p string) (*File, error) {
	n, err := parse(p)
	if err != nil {
		return nil, err
	}
	if e := n.entry(); e.Dir {
		return nil, ErrIsDir
	}
	return Content(n.path(), n.size), nil
}

// Content returns the file of size bytes at path name, with no check of
// the name or the caps: it is what "ferry bench --prepare" writes, for any
// size. For a path in the tree, Open(name) has the same bytes.
func Content(name string, size int64) *File {
	key := sha256.Sum256([]byte(name))
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return &File{name: name, size: size, block: block}
}

// Name is the file's path in the tree.
func (f *File) Name() string { return f.name }

// Size is the file's length in bytes.
func (f *File) Size() int64 { return f.size }

// ReadAt reads len(p) bytes from off, as io.ReaderAt does: fewer only at
// the end of the file, with io.EOF.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("benchdata: negative offset")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := len(p)
	if left := f.size - off; int64(n) > left {
		n = int(left)
	}
	f.keyStream(p[:n], off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// keyStream fills p with the key stream from offset off.
func (f *File) keyStream(p []byte, off int64) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	s := cipher.NewCTR(f.block, iv[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var junk [aes.BlockSize]byte
		s.XORKeyStream(junk[:skip], junk[:skip])
	}
	clear(p)
	s.XORKeyStream(p, p)
}

// WriteTo writes the whole file to w.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, min(f.size, 1<<20))
	var off int64
	for off < f.size {
		n, _ := f.ReadAt(buf[:min(int64(len(buf)), f.size-off)], off)
		m, err := w.Write(buf[:n])
		off += int64(m)
		if err != nil {
			return off, err
		}
	}
	return off, nil
}
