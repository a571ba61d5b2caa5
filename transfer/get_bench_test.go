package transfer

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGet fetches one 256 MiB file per operation over one session,
// verified and published, per transport, and reports MB/s: the whole get
// path (hashing on both ends, the partial file, fsync) in one process.
// Compare with BenchmarkThroughput in transport/transporttest, which moves
// the same kind of bytes over a bare stream.
//
//	go test -run '^$' -bench 'Get$' -benchtime 4x ./transfer
func BenchmarkGet(b *testing.B) {
	const size = 256 << 20
	root := b.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, k := range kits(b) {
		b.Run(k.name, func(b *testing.B) {
			addr, _ := serve(b, k, root, ServerConfig{Logger: slog.New(slog.DiscardHandler)})
			c, err := Dial(b.Context(), k.client(b), addr, ClientConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			dest := b.TempDir()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				res, err := c.Get(b.Context(), "big.bin", GetOptions{DestDir: dest, Name: fmt.Sprint(i)})
				if err != nil || res.Size != size {
					b.Fatalf("Get: %+v, %v", res, err)
				}
				os.Remove(filepath.Join(dest, fmt.Sprint(i)))
			}
		})
	}
}
