package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryproject/ferry/internal/benchdata"
)

// What --prepare writes is, byte for byte, what "ferry serve --bench"
// serves under the same names, read whole or from any offset.
func TestPrepareMatchesSynthetic(t *testing.T) {
	root := t.TempDir()
	w := Workload{BulkSize: 1<<20 + 17, SmallCount: 3, SmallSize: 1000, ParallelCount: 2, ParallelSize: 64 << 10}
	if err := Prepare(root, w, []string{Bulk, Small, Parallel}); err != nil {
		t.Fatal(err)
	}
	paths := []string{w.BulkPath(), w.SmallPath(0), w.SmallPath(2), w.ParallelPath(0), w.ParallelPath(1)}
	for _, p := range paths {
		disk, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := benchdata.Open(p)
		if err != nil {
			t.Fatalf("the synthetic tree has no %s: %v", p, err)
		}
		if f.Size() != int64(len(disk)) {
			t.Fatalf("%s: %d bytes on disk, %d synthetic", p, len(disk), f.Size())
		}
		for _, off := range []int{0, 1, 16, 999, len(disk) / 3, len(disk) - 1} {
			if off >= len(disk) {
				continue
			}
			got := make([]byte, len(disk)-off)
			if n, _ := f.ReadAt(got, int64(off)); n != len(got) || !bytes.Equal(got, disk[off:]) {
				t.Errorf("%s: the synthetic bytes from offset %d differ from the prepared file", p, off)
			}
		}
	}
	// A second run keeps the files it finds with the right sizes.
	before, _ := os.ReadFile(filepath.Join(root, w.BulkPath()))
	if err := Prepare(root, w, []string{Bulk}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(root, w.BulkPath())); !bytes.Equal(before, after) {
		t.Error("a second Prepare changed the bulk file")
	}
}

func TestWorkloadPaths(t *testing.T) {
	w := Workload{BulkSize: 1 << 30, SmallCount: 1000, SmallSize: 64 << 10, ParallelCount: 4, ParallelSize: 1500}
	for _, c := range []struct{ got, want string }{
		{w.BulkPath(), "bulk-1GiB.bin"},
		{w.SmallPath(7), "small-1000x64KiB/0000007.bin"},
		{w.ParallelPath(3), "parallel-4x1500B/3.bin"},
	} {
		if c.got != c.want {
			t.Errorf("path %q, want %q", c.got, c.want)
		}
	}
}
