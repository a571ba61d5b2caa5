package bench

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ferryproject/ferry/transfer"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/tcp"
)

// TestRun runs every scenario with tiny sizes against an in-process server
// over plain TCP on loopback, and checks the shape of the trials (never
// their timing).
func TestRun(t *testing.T) {
	w := Workload{BulkSize: 300 << 10, SmallCount: 20, SmallSize: 1000, SmallWorkers: 4, ParallelCount: 3, ParallelSize: 100 << 10}
	root := t.TempDir()
	if err := Prepare(root, w, Scenarios); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := tcp.NewPlaintext(tcp.Config{}).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transfer.NewServer(root, transfer.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { srv.Close() })

	var progress int
	cfg := Config{
		Addr:       ln.Addr().String(),
		Transports: []string{"tcp"},
		NewTransport: func(string, bool) (transport.Transport, error) {
			return tcp.NewPlaintext(tcp.Config{}), nil
		},
		Scenarios: Scenarios,
		Workload:  w,
		Trials:    2, SetupTrials: 3, EchoTrials: 2, Echoes: 50,
		WorkDir:   t.TempDir(),
		ServerPID: os.Getpid(),
		Progress:  func(Trial) { progress++ },
	}
	trials, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One warm-up round plus the measured rounds of each scenario.
	wantRounds := map[string]int{Setup: 4, Echo: 3, Bulk: 3, Small: 3, Parallel: 3}
	got := map[string]int{}
	for _, tr := range trials {
		got[tr.Scenario]++
		if tr.Error != "" {
			t.Errorf("%s round %d failed: %s", tr.Scenario, tr.Round, tr.Error)
			continue
		}
		if tr.Warmup != (tr.Round == 0) || tr.Seconds <= 0 || tr.ServerCPU == nil {
			t.Errorf("%s round %d: %+v", tr.Scenario, tr.Round, tr)
		}
		switch tr.Scenario {
		case Setup:
			if tr.Ops != 1 {
				t.Errorf("setup: %d ops", tr.Ops)
			}
		case Echo:
			if tr.Ops != 50 || tr.RTT == nil || tr.RTT.Min > tr.RTT.P50 || tr.RTT.P50 > tr.RTT.P90 || tr.RTT.P90 > tr.RTT.P99 || tr.RTT.P99 > tr.RTT.Max {
				t.Errorf("echo: %d ops, RTT %+v", tr.Ops, tr.RTT)
			}
		case Bulk:
			if tr.Bytes != w.BulkSize || tr.Files != 1 {
				t.Errorf("bulk: %d bytes, %d files", tr.Bytes, tr.Files)
			}
		case Small:
			if tr.Files != w.SmallCount || tr.Bytes != int64(w.SmallCount)*w.SmallSize {
				t.Errorf("small: %d files, %d bytes", tr.Files, tr.Bytes)
			}
		case Parallel:
			if len(tr.FileMBps) != w.ParallelCount || slices.Min(tr.FileMBps) <= 0 {
				t.Errorf("parallel: file rates %v", tr.FileMBps)
			}
		}
	}
	for sc, n := range wantRounds {
		if got[sc] != n {
			t.Errorf("%s: %d trials, want %d", sc, got[sc], n)
		}
	}
	if progress != len(trials) {
		t.Errorf("Progress called %d times for %d trials", progress, len(trials))
	}
	// Every fetched file was removed after its trial.
	if left, _ := os.ReadDir(cfg.WorkDir); len(left) != 0 {
		t.Errorf("%d entries left in the work folder", len(left))
	}
}

// TestRunMissingFiles checks that a server prepared for other sizes gives
// failed trials with a clear error, not numbers.
func TestRunMissingFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := t.TempDir()
	ln, err := tcp.NewPlaintext(tcp.Config{}).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transfer.NewServer(root, transfer.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { srv.Close() })
	trials, err := Run(ctx, Config{
		Addr:         ln.Addr().String(),
		Transports:   []string{"tcp"},
		NewTransport: func(string, bool) (transport.Transport, error) { return tcp.NewPlaintext(tcp.Config{}), nil },
		Scenarios:    []string{Bulk},
		Workload:     Workload{BulkSize: 1000},
		Trials:       1,
		WorkDir:      t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 2 || trials[1].Error == "" {
		t.Fatalf("trials %+v: want two failed ones", trials)
	}
}
