package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the record of one bench run: the conditions, the settings, every
// trial and their summaries. It is what --json writes.
type Report struct {
	Started    time.Time  `json:"started"`
	Conditions Conditions `json:"conditions"`
	Settings   Settings   `json:"settings"`
	Trials     []Trial    `json:"trials"`
	Results    []Result   `json:"results"` // filled in by Summarize
	// LinkStats, with an emulated link, counts the IP packets and bytes
	// that crossed it during the whole run, warm-ups included.
	LinkStats any `json:"link_stats,omitempty"`
}

// Settings are the parameters of a run.
type Settings struct {
	Server      string   `json:"server"` // "ferry serve, separate process" or HOST:PORT
	Transports  []string `json:"transports"`
	Scenarios   []string `json:"scenarios"`
	Workload    Workload `json:"workload"`
	Trials      int      `json:"trials"`
	SetupTrials int      `json:"setup_trials"`
	EchoTrials  int      `json:"echo_trials"`
	Echoes      int      `json:"echoes"`
	EchoSize    int      `json:"echo_size"`
	QUICWindow  uint64   `json:"quic_stream_window"` // the client's MaxStreamReceiveWindow
	QUICConnWin uint64   `json:"quic_connection_window"`
}

// Result summarizes the measured (non-warm-up) trials of one scenario over
// one transport.
type Result struct {
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
	Handshake string `json:"handshake,omitempty"` // setup: full, resumed or 0-rtt
	Failed    int    `json:"failed"`              // trials that failed, warm-up included

	// Value summarizes Trial.Value: ms for setup, echo p50 ms, MB/s for
	// bulk and parallel, files/s for small.
	Value Summary `json:"value"`
	Unit  string  `json:"unit"`

	// Echo: the median over trials of each trial's percentiles, in ms.
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`

	// Setup: the medians of the bare transport session and of the session
	// with ferry's hello, in ms.
	SessionMs float64 `json:"session_ms,omitempty"`
	HelloMs   float64 `json:"hello_ms,omitempty"`

	// Small: throughput in MB/s. Parallel: the median over trials of the
	// slowest and the fastest file's own MB/s.
	MBps        *Summary `json:"mbps,omitempty"`
	SlowestFile float64  `json:"slowest_file_mbps,omitempty"`
	FastestFile float64  `json:"fastest_file_mbps,omitempty"`

	// CPU: total CPU seconds over all measured trials divided by the bytes
	// (seconds per GiB) for the file scenarios, or by the operations
	// (milliseconds per setup or echo) for the others. NaN when unknown.
	ClientCPU float64 `json:"client_cpu"`
	ServerCPU float64 `json:"server_cpu"`
	CPUUnit   string  `json:"cpu_unit"`

	// Bytes on the wire, both directions, when counted (an emulated
	// link): per operation for setup and echo; for the file scenarios as
	// the extra over the file bytes (0.05 = 5% more than the files).
	WirePerOp    float64 `json:"wire_bytes_per_op,omitempty"`
	WireOverhead float64 `json:"wire_overhead,omitempty"`
}

// MarshalJSON writes NaN as null, which JSON has no number for.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	type out struct {
		plain
		ClientCPU *float64 `json:"client_cpu"`
		ServerCPU *float64 `json:"server_cpu"`
	}
	o := out{plain: plain(r)}
	if !math.IsNaN(r.ClientCPU) {
		o.ClientCPU = &r.ClientCPU
	}
	if !math.IsNaN(r.ServerCPU) {
		o.ServerCPU = &r.ServerCPU
	}
	return json.Marshal(o)
}

// Units of Result.Value per scenario.
var units = map[string]string{Setup: "ms", Echo: "ms", Bulk: "MB/s", Small: "files/s", Parallel: "MB/s"}

// Summarize fills in r.Results from r.Trials, one Result per scenario and
// transport, in the order of Scenarios and r.Settings.Transports.
func (r *Report) Summarize() {
	r.Results = nil
	for _, sc := range Scenarios {
		for _, tn := range r.Settings.Transports {
			handshakes := []string{""}
			if sc == Setup {
				// Every kind, whatever this binary measures: a report
				// may come from another build.
				handshakes = []string{HandshakeFull, HandshakeResumed, Handshake0RTT}
			}
			for _, hs := range handshakes {
				var ts []Trial
				failed := 0
				for _, t := range r.Trials {
					if t.Scenario != sc || t.Transport != tn || (hs != "" && t.handshake() != hs) {
						continue
					}
					if t.Error != "" {
						failed++
					} else if !t.Warmup {
						ts = append(ts, t)
					}
				}
				if len(ts) == 0 && failed == 0 {
					continue
				}
				r.Results = append(r.Results, summarize(sc, tn, hs, ts, failed))
			}
		}
	}
}

// handshake is the trial's Handshake; setup trials recorded before there
// were several are full ones.
func (t Trial) handshake() string {
	if t.Scenario == Setup && t.Handshake == "" {
		return HandshakeFull
	}
	return t.Handshake
}

// Label names the trial's transport, and for setup its handshake unless it
// is a full one ("tls resumed", "quic 0-rtt").
func (t Trial) Label() string {
	return Result{Transport: t.Transport, Handshake: t.Handshake}.Label()
}

// Label names the result's row: the transport, and for setup the handshake
// unless it is a full one ("tls resumed", "quic 0-rtt").
func (r Result) Label() string {
	if r.Handshake == "" || r.Handshake == HandshakeFull {
		return r.Transport
	}
	return r.Transport + " " + r.Handshake
}

func summarize(sc, tn, hs string, ts []Trial, failed int) Result {
	res := Result{Scenario: sc, Transport: tn, Handshake: hs, Failed: failed, Unit: units[sc]}
	vals := collect(ts, Trial.Value)
	res.Value = Summarize(vals)
	var bytes, ops, wire int64
	var ccpu, scpu float64
	serverKnown, wireKnown := len(ts) > 0, len(ts) > 0
	for _, t := range ts {
		bytes += t.Bytes
		wire += t.WireBytes
		wireKnown = wireKnown && t.WireBytes > 0
		ops += int64(t.Ops)
		ccpu += t.ClientCPU
		if t.ServerCPU == nil {
			serverKnown = false
		} else {
			scpu += *t.ServerCPU
		}
	}
	res.ClientCPU, res.ServerCPU = math.NaN(), math.NaN()
	if wireKnown {
		switch sc {
		case Setup, Echo:
			if ops > 0 {
				res.WirePerOp = float64(wire) / float64(ops)
			}
		default:
			if bytes > 0 {
				res.WireOverhead = float64(wire)/float64(bytes) - 1
			}
		}
	}
	switch sc {
	case Setup, Echo:
		res.CPUUnit = "ms/op"
		if ops > 0 {
			res.ClientCPU = ccpu / float64(ops) * 1e3
			if serverKnown {
				res.ServerCPU = scpu / float64(ops) * 1e3
			}
		}
	default:
		res.CPUUnit = "s/GiB"
		if bytes > 0 {
			gib := float64(bytes) / (1 << 30)
			res.ClientCPU = ccpu / gib
			if serverKnown {
				res.ServerCPU = scpu / gib
			}
		}
	}
	switch sc {
	case Setup:
		res.SessionMs = Summarize(collect(ts, func(t Trial) float64 { return t.SessionSeconds * 1e3 })).Median
		res.HelloMs = Summarize(collect(ts, func(t Trial) float64 { return t.HelloSeconds * 1e3 })).Median
	case Echo:
		res.P90 = Summarize(collect(ts, func(t Trial) float64 { return t.RTT.P90 })).Median
		res.P99 = Summarize(collect(ts, func(t Trial) float64 { return t.RTT.P99 })).Median
	case Small:
		s := Summarize(collect(ts, Trial.MBps))
		res.MBps = &s
	case Parallel:
		res.SlowestFile = Summarize(collect(ts, func(t Trial) float64 { return slices.Min(t.FileMBps) })).Median
		res.FastestFile = Summarize(collect(ts, func(t Trial) float64 { return slices.Max(t.FileMBps) })).Median
	}
	return res
}

func collect(ts []Trial, f func(Trial) float64) []float64 {
	v := make([]float64, len(ts))
	for i, t := range ts {
		v[i] = f(t)
	}
	return v
}

// WriteJSON writes the report, indented, to path, through a temporary file
// so that a failed run leaves no half-written file.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &r, nil
}

// scenarioTitles explain each table's figures.
var scenarioTitles = map[string]string{
	Setup:    "setup: the transport's session; + ferry's hello; + the first echo reply, ms",
	Echo:     "echo: round-trip time on one session, ms",
	Bulk:     "bulk: one file fetched and verified, MB/s",
	Small:    "small: many files fetched as one batch (as by get -r), files/s",
	Parallel: "parallel: several large files at once, aggregate MB/s",
}

// WriteTable writes the conditions and one aligned table per scenario, for
// people. Results must be summarized.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Conditions
	s := r.Settings
	fmt.Fprintf(w, "ferry bench: %s\n", strings.Join(s.Transports, ", "))
	if c.MTU > 0 {
		fmt.Fprintf(w, "  link:     %s, MTU %d\n", c.Link, c.MTU)
	} else {
		fmt.Fprintf(w, "  link:     %s\n", c.Link)
	}
	fmt.Fprintf(w, "  machine:  %s; %d CPUs (%s)\n", c.Kernel, c.CPUs, c.CPUModel)
	fmt.Fprintf(w, "  software: ferry %s, %s, quic-go %s\n", c.Ferry, c.GoVersion, c.QUICGo)
	cc := c.TCPCC
	if c.ServerTCPCC != "" && c.ServerTCPCC != c.TCPCC {
		cc = fmt.Sprintf("%s (client), %s (server)", c.TCPCC, c.ServerTCPCC)
	}
	fmt.Fprintf(w, "  network:  TCP congestion control %s; rmem_max %s, wmem_max %s; QUIC GSO %s, ECN %s; QUIC windows %s/stream, %s/session\n",
		cc, c.RmemMax, c.WmemMax, c.GSO, c.ECN, FormatSize(int64(s.QUICWindow)), FormatSize(int64(s.QUICConnWin)))
	wl := s.Workload
	var work []string
	for _, sc := range s.Scenarios {
		switch sc {
		case Setup:
			work = append(work, fmt.Sprintf("setup %d rounds", s.SetupTrials))
		case Echo:
			work = append(work, fmt.Sprintf("echo %d rounds of %d echoes of %d B", s.EchoTrials, s.Echoes, s.EchoSize))
		case Bulk:
			work = append(work, fmt.Sprintf("bulk %s", FormatSize(wl.BulkSize)))
		case Small:
			work = append(work, fmt.Sprintf("small %dx%s, %d at a time", wl.SmallCount, FormatSize(wl.SmallSize), wl.SmallWorkers))
		case Parallel:
			work = append(work, fmt.Sprintf("parallel %dx%s", wl.ParallelCount, FormatSize(wl.ParallelSize)))
		}
	}
	if slices.ContainsFunc(s.Scenarios, func(sc string) bool { return sc == Bulk || sc == Small || sc == Parallel }) {
		work = append(work, fmt.Sprintf("%d rounds each", s.Trials))
	}
	fmt.Fprintf(w, "  workload: %s; after one warm-up round, transports interleaved\n", strings.Join(work, "; "))
	if c.Link == "loopback" {
		fmt.Fprintf(w, "  warning:  loopback measures CPU cost, not a network: no delay, no loss, 64 KiB packets for TCP\n")
	}
	for _, sc := range Scenarios {
		var rs []Result
		for _, res := range r.Results {
			if res.Scenario == sc {
				rs = append(rs, res)
			}
		}
		if len(rs) == 0 {
			continue
		}
		n := 0
		for _, res := range rs {
			n = max(n, res.Value.N)
		}
		fmt.Fprintf(w, "\n%s (median of %d; range min-max)\n", scenarioTitles[sc], n)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		wireCol := slices.ContainsFunc(rs, func(r Result) bool { return r.WirePerOp > 0 || r.WireOverhead != 0 })
		wireHead := ""
		if wireCol {
			wireHead = "wire\t"
			if sc == Setup || sc == Echo {
				wireHead = "wire B/op\t"
			}
		}
		switch sc {
		case Setup:
			fmt.Fprintf(tw, "transport\tsession\t+hello\t+echo\trange\tCPU client ms\tCPU server ms\t%sfailed\t\n", wireHead)
		case Echo:
			fmt.Fprintf(tw, "transport\tp50\tp90\tp99\tp50 range\tCPU client ms\tCPU server ms\t%sfailed\t\n", wireHead)
		case Bulk:
			fmt.Fprintf(tw, "transport\tMB/s\trange\tCPU client s/GiB\tCPU server s/GiB\t%sfailed\t\n", wireHead)
		case Small:
			fmt.Fprintf(tw, "transport\tfiles/s\trange\tMB/s\tCPU client s/GiB\tCPU server s/GiB\t%sfailed\t\n", wireHead)
		case Parallel:
			fmt.Fprintf(tw, "transport\tMB/s\trange\tslowest file\tfastest file\tCPU client s/GiB\tCPU server s/GiB\t%sfailed\t\n", wireHead)
		}
		for _, res := range rs {
			v := res.Value
			rng := fmt.Sprintf("%s-%s", num(v.Min), num(v.Max))
			if v.N == 0 {
				nan := math.NaN()
				v.Median, rng, res.P90, res.P99, res.SlowestFile, res.FastestFile = nan, "-", nan, nan, nan, nan
			}
			cpu := fmt.Sprintf("%s\t%s", cpuNum(res.ClientCPU), cpuNum(res.ServerCPU))
			if wireCol {
				// The wire column rides after the CPU ones.
				cpu += "\t" + wireNum(sc, res)
			}
			switch sc {
			case Setup:
				if v.N == 0 {
					res.SessionMs, res.HelloMs = math.NaN(), math.NaN()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", res.Label(), num(res.SessionMs), num(res.HelloMs), num(v.Median), rng, cpu, res.Failed)
			case Bulk:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t\n", res.Transport, num(v.Median), rng, cpu, res.Failed)
			case Echo:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", res.Transport, num(v.Median), num(res.P90), num(res.P99), rng, cpu, res.Failed)
			case Small:
				mb := "-"
				if res.MBps != nil {
					mb = num(res.MBps.Median)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", res.Transport, num(v.Median), rng, mb, cpu, res.Failed)
			case Parallel:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", res.Transport, num(v.Median), rng, num(res.SlowestFile), num(res.FastestFile), cpu, res.Failed)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// num prints a figure with three significant digits, at most three decimals.
func num(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x) || a == 0 && x == 0 && math.Signbit(x):
		return "-"
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// wireNum prints the wire figure of a result: bytes per operation, or the
// overhead over the file bytes in percent.
func wireNum(sc string, r Result) string {
	switch {
	case sc == Setup || sc == Echo:
		if r.WirePerOp == 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f", r.WirePerOp)
	case r.WireOverhead == 0:
		return "?"
	}
	return fmt.Sprintf("%+.1f%%", 100*r.WireOverhead)
}

func cpuNum(x float64) string {
	if math.IsNaN(x) {
		return "?"
	}
	return num(x)
}
