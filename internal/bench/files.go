package bench

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferryproject/ferry/internal/benchdata"
)

// Workload sizes the file scenarios. The zero value is not useful; the
// command line fills in its defaults (1 GiB bulk, 1000 x 64 KiB small,
// 4 x 64 MiB parallel).
type Workload struct {
	BulkSize      int64 `json:"bulk_size"`
	SmallCount    int   `json:"small_count"`
	SmallSize     int64 `json:"small_size"`
	SmallWorkers  int   `json:"small_workers"` // files in flight at once over one session (GetBatch's Parallel)
	ParallelCount int   `json:"parallel_count"`
	ParallelSize  int64 `json:"parallel_size"`
}

// The server-side names of the synthetic files (package benchdata). Each
// name carries its sizes, so a client measuring against a folder prepared
// for other sizes gets "not found" rather than wrong numbers, and "ferry
// serve --bench" serves any sizes without a setting of its own.

// BulkPath is the file of the bulk scenario.
func (w Workload) BulkPath() string { return benchdata.BulkPath(w.BulkSize) }

// SmallPath is small file i (0-based).
func (w Workload) SmallPath(i int) string { return benchdata.SmallPath(w.SmallCount, w.SmallSize, i) }

// ParallelPath is parallel file i (0-based).
func (w Workload) ParallelPath(i int) string {
	return benchdata.ParallelPath(w.ParallelCount, w.ParallelSize, i)
}

// Prepare writes the synthetic files that scenarios need beneath root, which
// must exist. File contents are pseudo-random (incompressible) and depend
// only on the path (see package benchdata). Files that exist with the right
// size are kept.
func Prepare(root string, w Workload, scenarios []string) error {
	type file struct {
		name string
		size int64
	}
	var files []file
	for _, s := range scenarios {
		switch s {
		case Bulk:
			files = append(files, file{w.BulkPath(), w.BulkSize})
		case Small:
			for i := range w.SmallCount {
				files = append(files, file{w.SmallPath(i), w.SmallSize})
			}
		case Parallel:
			for i := range w.ParallelCount {
				files = append(files, file{w.ParallelPath(i), w.ParallelSize})
			}
		}
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.name))
		if st, err := os.Stat(p); err == nil && st.Size() == f.size {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeRandom(p, f.name, f.size); err != nil {
			return fmt.Errorf("prepare %s: %w", f.name, err)
		}
	}
	return nil
}

// writeRandom writes the size bytes of the synthetic file name to p, the
// same bytes "ferry serve --bench" serves for that name.
func writeRandom(p, name string, size int64) error {
	out, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := benchdata.Content(name, size).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
