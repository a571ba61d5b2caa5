package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ptr(f float64) *float64 { return &f }

// sampleReport has two transports, a warm-up, a failed trial and a trial
// without the server's CPU.
func sampleReport() *Report {
	gib := int64(1 << 30)
	return &Report{
		Conditions: Conditions{Link: "loopback", MTU: 65536, CPUs: 2, TCPCC: "bbr"},
		Settings:   Settings{Transports: []string{"tcp", "quic"}, Workload: Workload{BulkSize: gib}},
		Trials: []Trial{
			{Scenario: Bulk, Transport: "tcp", Round: 0, Warmup: true, Seconds: 100, Bytes: gib, ClientCPU: 99, ServerCPU: ptr(99)},
			{Scenario: Bulk, Transport: "tcp", Round: 1, Seconds: 1, Bytes: gib, ClientCPU: 1, ServerCPU: ptr(0.5)},
			{Scenario: Bulk, Transport: "tcp", Round: 2, Seconds: 2, Bytes: gib, ClientCPU: 1, ServerCPU: ptr(0.5)},
			{Scenario: Bulk, Transport: "tcp", Round: 3, Seconds: 4, Bytes: gib, ClientCPU: 1, ServerCPU: ptr(0.5)},
			{Scenario: Bulk, Transport: "quic", Round: 1, Seconds: 4, Bytes: gib, ClientCPU: 6},
			{Scenario: Bulk, Transport: "quic", Round: 2, Error: "boom"},
			{Scenario: Echo, Transport: "tcp", Round: 1, Seconds: 0.1, Ops: 1000, ClientCPU: 0.05, ServerCPU: ptr(0.02),
				RTT: &Percentiles{Min: 0.05, P50: 0.1, P90: 0.2, P99: 0.4, Max: 1}},
			{Scenario: Echo, Transport: "tcp", Round: 2, Seconds: 0.1, Ops: 1000, ClientCPU: 0.05, ServerCPU: ptr(0.02),
				RTT: &Percentiles{Min: 0.05, P50: 0.3, P90: 0.4, P99: 0.6, Max: 1}},
			{Scenario: Parallel, Transport: "tcp", Round: 1, Seconds: 1, Bytes: 4 << 20, Files: 4, FileMBps: []float64{1, 4, 2, 3}},
			{Scenario: Small, Transport: "tcp", Round: 1, Seconds: 2, Files: 1000, Bytes: 1000 << 16},
		},
	}
}

func TestSummarizeResults(t *testing.T) {
	r := sampleReport()
	r.Summarize()
	byKey := map[string]Result{}
	for _, res := range r.Results {
		byKey[res.Scenario+"/"+res.Transport] = res
	}
	if len(r.Results) != 5 {
		t.Fatalf("got %d results, want 5: %+v", len(r.Results), r.Results)
	}
	// Results come in the order of Scenarios, then of the transports.
	var order []string
	for _, res := range r.Results {
		order = append(order, res.Scenario+"/"+res.Transport)
	}
	if got := strings.Join(order, " "); got != "echo/tcp bulk/tcp bulk/quic small/tcp parallel/tcp" {
		t.Errorf("order %q", got)
	}

	tcp := byKey["bulk/tcp"]
	mb := float64(1<<30) / 1e6
	want := Summary{N: 3, Median: mb / 2, Min: mb / 4, Max: mb, Spread: 1.5}
	if !sameSummary(tcp.Value, want) {
		t.Errorf("bulk/tcp value %+v, want %+v (the warm-up must not count)", tcp.Value, want)
	}
	if tcp.ClientCPU != 1 || tcp.ServerCPU != 0.5 || tcp.CPUUnit != "s/GiB" || tcp.Unit != "MB/s" {
		t.Errorf("bulk/tcp CPU %v, %v %s", tcp.ClientCPU, tcp.ServerCPU, tcp.CPUUnit)
	}
	quic := byKey["bulk/quic"]
	if quic.Failed != 1 || quic.Value.N != 1 || quic.ClientCPU != 6 || !math.IsNaN(quic.ServerCPU) {
		t.Errorf("bulk/quic %+v: want 1 failed, 1 measured, client CPU 6 s/GiB, server unknown", quic)
	}
	echo := byKey["echo/tcp"]
	if !approx(echo.Value.Median, 0.2) || !approx(echo.P90, 0.3) || !approx(echo.P99, 0.5) || !approx(echo.ClientCPU, 0.05) || !approx(echo.ServerCPU, 0.02) || echo.CPUUnit != "ms/op" {
		t.Errorf("echo/tcp %+v", echo)
	}
	par := byKey["parallel/tcp"]
	if par.SlowestFile != 1 || par.FastestFile != 4 {
		t.Errorf("parallel/tcp slowest %v fastest %v, want 1 and 4", par.SlowestFile, par.FastestFile)
	}
	small := byKey["small/tcp"]
	if small.Value.Median != 500 || small.MBps == nil || !approx(small.MBps.Median, float64(1000<<16)/2/1e6) {
		t.Errorf("small/tcp %+v", small)
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func sameSummary(a, b Summary) bool {
	return a.N == b.N && approx(a.Median, b.Median) && approx(a.Min, b.Min) && approx(a.Max, b.Max) && approx(a.Spread, b.Spread)
}

func TestReportJSON(t *testing.T) {
	r := sampleReport()
	r.Summarize()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Unknown CPU is null, never NaN (which JSON cannot carry).
	var raw struct {
		Results []map[string]any `json:"results"`
		Trials  []map[string]any `json:"trials"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Trials) != len(r.Trials) {
		t.Errorf("%d trials in the JSON, want %d", len(raw.Trials), len(r.Trials))
	}
	for _, res := range raw.Results {
		if res["scenario"] == Bulk && res["transport"] == "quic" {
			if v, ok := res["server_cpu"]; !ok || v != nil {
				t.Errorf("bulk/quic server_cpu = %v, want null", v)
			}
		}
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Trials) != len(r.Trials) || back.Trials[1].Seconds != 1 || *back.Trials[1].ServerCPU != 0.5 || back.Trials[6].RTT.P99 != 0.4 {
		t.Errorf("trials did not survive the round trip: %+v", back.Trials)
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleReport()
	r.Summarize()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"link:     loopback, MTU 65536",
		"warning:  loopback measures CPU cost, not a network",
		"TCP congestion control bbr",
		"bulk: one file fetched and verified, MB/s (median of 3; range min-max)",
		"transport  MB/s     range  CPU client s/GiB  CPU server s/GiB  failed",
		"echo: round-trip time on one session, ms",
		"p50    p90    p99",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// quic's failed trial is counted, its unknown server CPU shown as "?".
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "quic" {
			if f[len(f)-1] != "1" || f[len(f)-2] != "?" {
				t.Errorf("quic row %q: want server CPU ? and 1 failed", line)
			}
		}
	}
}

func TestWriteChart(t *testing.T) {
	r := sampleReport()
	r.Summarize()
	dir := t.TempDir()
	svg := filepath.Join(dir, "c.svg")
	if err := r.WriteChart(svg); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("bulk, MB/s")) {
		t.Errorf("chart is not an SVG with a bulk panel: %.200s", data)
	}
	png := filepath.Join(dir, "c.png")
	if err := r.WriteChart(png); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(png); !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Errorf("c.png is not a PNG")
	}
	empty := &Report{Settings: Settings{Transports: []string{"tcp"}}}
	empty.Summarize()
	if err := empty.WriteChart(filepath.Join(dir, "e.svg")); err == nil {
		t.Error("a chart without results succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "e.svg")); err == nil {
		t.Error("a failed chart left a file behind")
	}
}

// TestWireAndHandshakes checks the wire figures (per operation, overhead
// over the file bytes) and that setup rows are split by handshake.
func TestWireAndHandshakes(t *testing.T) {
	r := &Report{
		Conditions: Conditions{Link: "rtt=50ms"},
		Settings:   Settings{Transports: []string{"quic"}},
		Trials: []Trial{
			{Scenario: Setup, Transport: "quic", Handshake: HandshakeFull, Round: 1, Seconds: 0.1, Ops: 1, WireBytes: 9000},
			{Scenario: Setup, Transport: "quic", Handshake: Handshake0RTT, Round: 1, Seconds: 0.05, Ops: 1, WireBytes: 5000},
			{Scenario: Setup, Transport: "quic", Handshake: HandshakeResumed, Round: 1, Error: "not resumed"},
			{Scenario: Bulk, Transport: "quic", Round: 1, Seconds: 1, Bytes: 1000, WireBytes: 1050},
		},
	}
	r.Summarize()
	got := map[string]Result{}
	for _, res := range r.Results {
		got[res.Scenario+"/"+res.Label()] = res
	}
	if res := got["setup/quic"]; res.WirePerOp != 9000 || res.Value.Median != 100 {
		t.Errorf("setup/quic: %+v", res)
	}
	if res := got["setup/quic 0-rtt"]; res.WirePerOp != 5000 || res.Value.Median != 50 {
		t.Errorf("setup/quic 0-rtt: %+v", res)
	}
	if res := got["setup/quic resumed"]; res.Failed != 1 || res.Value.N != 0 {
		t.Errorf("setup/quic resumed: %+v", res)
	}
	if res := got["bulk/quic"]; math.Abs(res.WireOverhead-0.05) > 1e-9 {
		t.Errorf("bulk/quic overhead %v, want 0.05", res.WireOverhead)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quic 0-rtt", "quic resumed", "wire B/op", "9000", "+5.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
