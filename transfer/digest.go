package transfer

import (
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/zeebo/blake3"

	"github.com/ferryproject/ferry/internal/wire"
)

// serverAlgorithms are the digests the server offers, in its order of
// preference.
var serverAlgorithms = []wire.Algorithm{wire.BLAKE3, wire.SHA256}

func newHash(a wire.Algorithm) (hash.Hash, error) {
	switch a {
	case wire.BLAKE3:
		return blake3.New(), nil
	case wire.SHA256:
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %v", a)
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
