package transfer

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSmallFiles fetches 1000 files of 64 KiB over one session with
// GetTree (DefaultParallel files at once), per transport, and reports
// files/s. Every file is verified, written as a partial file, synced and
// published, as "ferry get -r" does; the -nosync runs skip the syncs, as
// "ferry get -r --no-sync" does (and as cp, rsync and curl do). The
// destination is below TMPDIR, so what the syncs cost depends on its file
// system: make bench uses a tmpfs, where they cost nothing, and
// scripts/measure-smallfiles.sh measures a disk.
//
//	go test -run '^$' -bench SmallFiles -benchtime 5x ./transfer
func BenchmarkSmallFiles(b *testing.B) {
	const n, size = 1000, 64 << 10
	root := b.TempDir()
	data := make([]byte, size)
	for i := range n {
		data[0], data[1] = byte(i), byte(i>>8)
		p := filepath.Join(root, "small", fmt.Sprintf("f%04d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range kits(b) {
		for _, noSync := range []bool{false, true} {
			name := k.name
			if noSync {
				name += "-nosync"
			}
			b.Run(name, func(b *testing.B) {
				addr, _ := serve(b, k, root, ServerConfig{Logger: slog.New(slog.DiscardHandler)})
				c, err := Dial(b.Context(), k.client(b), addr, ClientConfig{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(n * size)
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					dest := filepath.Join(b.TempDir(), fmt.Sprint(i))
					os.Mkdir(dest, 0o755)
					sum, err := c.GetTree(b.Context(), "small", BatchOptions{DestDir: dest, NoSync: noSync})
					if err != nil || sum.Files != n {
						b.Fatalf("GetTree: %+v, %v", sum, err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
			})
		}
	}
}
