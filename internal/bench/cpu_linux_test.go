package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	line := "4242 (ferry (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 1000000 500\n"
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 (ferry", "4242 (ferry) S 1 2", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 5 0"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded, want an error", bad)
		}
	}
}

func TestProcessCPUAdvances(t *testing.T) {
	pid := os.Getpid()
	before, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	self0, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU; no timing is asserted, only that the counters move.
	x := 0
	for i := range 50_000_000 {
		x += i ^ (x >> 3)
	}
	_ = x
	after, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	self1, _ := SelfCPU()
	if after <= before || self1 <= self0 {
		t.Errorf("CPU time did not advance: ProcessCPU %v → %v, SelfCPU %v → %v", before, after, self0, self1)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Error("ProcessCPU(-1) succeeded")
	}
}
