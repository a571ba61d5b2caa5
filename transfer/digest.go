package transfer

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/ferryproject/ferry/internal/wire"
)

// serverAlgorithms are the digests the server offers, in its order of
// preference.
var serverAlgorithms = []wire.Algorithm{wire.BLAKE3, wire.SHA256}

// newHash returns a fresh digest state for a. Give it back with putHash
// once nothing refers to it any more: a BLAKE3 state is about 9 KiB, and
// allocating one per file showed up in the small-files profile.
func newHash(a wire.Algorithm) (hash.Hash, error) {
	switch a {
	case wire.BLAKE3:
		return blake3Pool.Get().(*blake3.Hasher), nil
	case wire.SHA256:
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %v", a)
}

var blake3Pool = sync.Pool{New: func() any { return blake3.New() }}

// putHash resets h and keeps it for a later newHash. h may be nil.
func putHash(h hash.Hash) {
	if b, ok := h.(*blake3.Hasher); ok {
		b.Reset()
		blake3Pool.Put(b)
	}
}

func parseAlgorithm(name string) (wire.Algorithm, error) {
	switch name {
	case "", "blake3":
		return wire.BLAKE3, nil
	case "sha256":
		return wire.SHA256, nil
	}
	return 0, fmt.Errorf("unknown digest algorithm %q (want blake3 or sha256)", name)
}

// bufSize is the size of the copy buffers on both sides: large enough that
// a syscall and a hash call cover many packets, small enough to pool.
const bufSize = 256 << 10

// bufPool holds the client's copy buffers (the server has its own pool). A
// fresh 256 KiB buffer per file was most of the client's allocation when
// fetching many small files, and the collections it caused.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
