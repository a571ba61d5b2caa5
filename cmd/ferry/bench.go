package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryproject/ferry/certs"
	"github.com/ferryproject/ferry/internal/bench"
	"github.com/ferryproject/ferry/internal/netem"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
)

const benchHelp = `Compare plain TCP, TLS 1.3 and QUIC in one run: the same ferry protocol and
the same workloads over each transport, with trials interleaved (A B C A B C)
after a warm-up round, reporting medians, ranges and the CPU both ends spent.

Usage:
  ferry bench [flags]                     start a ferry server and measure it
  ferry bench [flags] --link SPEC         the same over an emulated link (root)
  ferry bench [flags] --pin FP HOST:PORT  measure a running "ferry serve --bench"
                                          (or a server whose folder holds the files
                                          of "ferry bench --prepare")
  ferry bench --prepare DIR [flags]       write the bench files into DIR
  ferry bench --from FILE.json [--chart F] print the tables of a saved run again,
                                          and draw its chart

Without HOST:PORT, ferry bench writes the synthetic files to a temporary
folder, creates a fresh server identity, starts "ferry serve" on 127.0.0.1 as a
separate process (tls, quic and tcp on one port) and pins its fingerprint. The
server and the temporary files are removed at the end, also on error or ^C.

Scenarios:
  setup     a new session (handshakes and hello) until the first echo reply:
            full handshakes; resumed ones on tls and quic; 0-RTT on quic
  echo      round-trip times (p50, p90, p99) of echoes on one session
  bulk      one large file fetched and verified to disk, MB/s
  small     many small files fetched as one batch, as by get -r, files/s
  parallel  several large files at once on one session: aggregate MB/s and
            the slowest and the fastest file's own rate

Flags:
  -t, --transports LIST   transports to compare, in this order (default tcp,tls,quic)
  --scenarios LIST        scenarios to run (default setup,echo,bulk,small,parallel)
  --bulk-size SIZE        size of the bulk file (default 1GiB)
  --small COUNTxSIZE      the small files (default 1000x64KiB)
  --small-workers N       files on the network at once in the small scenario
                          (default 8, at most 16)
  --parallel COUNTxSIZE   the parallel files (default 4x64MiB, at most 16 files)
  --trials N              measured rounds of bulk, small and parallel (default 3)
  --setup-trials N        measured rounds of setup (default 20)
  --echo-trials N         measured rounds of echo (default 5)
  --echoes N              echoes timed per echo round (default 1000)
  --json FILE             write every trial, the summaries and the conditions as JSON
  --chart FILE.svg        write a chart, one panel per scenario (SVG, or PNG for .png)
  --from FILE.json        show a run saved with --json again (tables, --chart)
  --link SPEC             run over an emulated link: a profile (lan, continent,
                          mobile, satellite) or rtt=50ms,loss=1%,rate=100mbit,...
                          (see docs/netem.md). Needs root.
  --quic-window SIZE      the client's QUIC receive window per stream (default
                          16MiB, or 2x the link's bandwidth-delay product if
                          larger); the session window is 1.5x this
  --pin FINGERPRINT       with HOST:PORT: the server's fingerprint (for tls, quic)
  --server-pid PID        with HOST:PORT on this machine: read the server's CPU time
  -q, --quiet             no progress lines on stderr (failed trials are still reported)

Output:
  The conditions and one table per scenario on stdout; progress on stderr.
  With --link, the bytes that crossed the link per trial too. Loopback
  measures CPU cost, not a network. See docs/benchmarks.md.

Examples:
  ferry bench
  ferry bench --bulk-size 256MiB --scenarios bulk,small --json out.json --chart out.svg
  sudo ferry bench --link continent --bulk-size 64MiB
  ferry bench --pin SHA256:... --scenarios setup,echo server.example:7420
`

type benchFlags struct {
	transports   stringList
	scenarios    stringList
	bulkSize     string
	small        string
	smallWorkers int
	parallel     string
	trials       int
	setupTrials  int
	echoTrials   int
	echoes       int
	jsonFile     string
	chartFile    string
	link         string
	quicWindow   string
	pin          string
	serverPID    int
	prepare      string
	from         string // a saved --json report to show again
	quiet        bool
	countWire    bool // count bytes on the wire: set for the child inside an emulated link

	// Filled in by check.
	addr     string
	workload bench.Workload
	spec     *netem.Spec
	fp       *certs.Fingerprint
	window   uint64 // explicit --quic-window, or 0

	// ownServer is set when the server is this run's own, on loopback: no
	// plain-TCP warning then.
	ownServer bool
}

// maxConcurrentGets is the server's default limit of requests in flight per
// session (transfer.DefaultMaxTransfersPerSession).
const maxConcurrentGets = 16

func benchMain(c *cli, args []string) int {
	f := benchFlags{
		transports: stringList{"tcp", "tls", "quic"},
		scenarios:  slices.Clone(stringList(bench.Scenarios)),
	}
	fs := newFlagSet("bench")
	fs.Var(&f.transports, "t", "")
	fs.Var(&f.transports, "transports", "")
	fs.Var(&f.scenarios, "scenarios", "")
	fs.StringVar(&f.bulkSize, "bulk-size", "1GiB", "")
	fs.StringVar(&f.small, "small", "1000x64KiB", "")
	fs.IntVar(&f.smallWorkers, "small-workers", 8, "")
	fs.StringVar(&f.parallel, "parallel", "4x64MiB", "")
	fs.IntVar(&f.trials, "trials", 3, "")
	fs.IntVar(&f.setupTrials, "setup-trials", 20, "")
	fs.IntVar(&f.echoTrials, "echo-trials", 5, "")
	fs.IntVar(&f.echoes, "echoes", 1000, "")
	fs.StringVar(&f.jsonFile, "json", "", "")
	fs.StringVar(&f.chartFile, "chart", "", "")
	fs.StringVar(&f.link, "link", "", "")
	fs.StringVar(&f.quicWindow, "quic-window", "", "")
	fs.StringVar(&f.pin, "pin", "", "")
	fs.IntVar(&f.serverPID, "server-pid", 0, "")
	fs.StringVar(&f.prepare, "prepare", "", "")
	fs.StringVar(&f.from, "from", "", "")
	fs.BoolVar(&f.quiet, "q", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	// Internal: the parent passes it to the client it starts inside the
	// link's client namespace, where every interface but lo is the link.
	fs.BoolVar(&f.countWire, "count-wire", false, "")
	pos, status, done := c.parse(fs, "bench", benchHelp, args)
	if done {
		return status
	}
	if len(pos) > 1 {
		return c.misuse("bench", usagef("bench takes at most one server address: ferry bench [flags] [HOST:PORT]"))
	}
	if len(pos) == 1 {
		f.addr = pos[0]
	}
	if err := f.check(); err != nil {
		return c.misuse("bench", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if f.from != "" {
		rep, err := bench.ReadJSON(f.from)
		if err != nil {
			return c.report(fmt.Errorf("--from: %w", err))
		}
		return c.benchOutput(rep, &f)
	}
	if f.prepare != "" {
		if err := os.MkdirAll(f.prepare, 0o755); err != nil {
			return c.report(err)
		}
		if err := bench.Prepare(f.prepare, f.workload, f.scenarios); err != nil {
			return c.report(err)
		}
		return exitOK
	}
	var (
		rep *bench.Report
		err error
	)
	switch {
	case f.addr != "":
		rep, err = c.benchRemote(ctx, &f)
	default:
		rep, err = c.benchLocal(ctx, &f)
	}
	if err != nil {
		if ctx.Err() != nil {
			c.errorf("interrupted")
			return exitFailure
		}
		return c.report(err)
	}
	return c.benchOutput(rep, &f)
}

// check validates the flags without touching the disk or the network.
func (f *benchFlags) check() error {
	if len(f.transports) == 0 {
		return usagef("--transports is empty: choose from tcp, tls and quic")
	}
	for i, t := range f.transports {
		if !validTransport(t) {
			return usagef("unknown transport %q: choose from tcp, tls and quic", t)
		}
		if slices.Contains(f.transports[:i], t) {
			return usagef("transport %q is listed twice", t)
		}
	}
	if len(f.scenarios) == 0 {
		return usagef("--scenarios is empty: choose from %s", strings.Join(bench.Scenarios, ", "))
	}
	for i, s := range f.scenarios {
		if !slices.Contains(bench.Scenarios, s) {
			return usagef("unknown scenario %q: choose from %s", s, strings.Join(bench.Scenarios, ", "))
		}
		if slices.Contains(f.scenarios[:i], s) {
			return usagef("scenario %q is listed twice", s)
		}
	}
	var err error
	w := &f.workload
	if w.BulkSize, err = bench.ParseSize(f.bulkSize); err != nil {
		return usagef("--bulk-size: %v", err)
	}
	if w.SmallCount, w.SmallSize, err = bench.ParseCountSize(f.small); err != nil {
		return usagef("--small: %v", err)
	}
	if w.ParallelCount, w.ParallelSize, err = bench.ParseCountSize(f.parallel); err != nil {
		return usagef("--parallel: %v", err)
	}
	if w.ParallelCount > maxConcurrentGets {
		return usagef("--parallel: at most %d files at once (the server's limit per session)", maxConcurrentGets)
	}
	if f.smallWorkers < 1 || f.smallWorkers > maxConcurrentGets {
		return usagef("--small-workers must be from 1 to %d (the server's limit per session)", maxConcurrentGets)
	}
	w.SmallWorkers = f.smallWorkers
	for _, n := range []struct {
		name string
		v    int
	}{{"--trials", f.trials}, {"--setup-trials", f.setupTrials}, {"--echo-trials", f.echoTrials}, {"--echoes", f.echoes}} {
		if n.v < 1 {
			return usagef("%s must be at least 1", n.name)
		}
	}
	if ext := strings.ToLower(filepath.Ext(f.chartFile)); f.chartFile != "" && ext != ".svg" && ext != ".png" {
		return usagef("--chart writes SVG or PNG: give a file name ending in .svg or .png")
	}
	if f.quicWindow != "" {
		n, err := bench.ParseSize(f.quicWindow)
		if err != nil {
			return usagef("--quic-window: %v", err)
		}
		if n < 64<<10 || n > 1<<30 {
			return usagef("--quic-window must be from 64KiB to 1GiB")
		}
		f.window = uint64(n)
	}
	if f.link != "" {
		spec, err := netem.ParseSpec(f.link)
		if err != nil {
			return usagef("--link: %v", err)
		}
		f.spec = &spec
	}
	if f.from != "" {
		if f.addr != "" || f.link != "" || f.jsonFile != "" || f.prepare != "" {
			return usagef("--from shows a saved run: it takes no server, --link, --json or --prepare")
		}
		return nil
	}
	if f.prepare != "" {
		if f.addr != "" || f.link != "" || f.jsonFile != "" || f.chartFile != "" {
			return usagef("--prepare only writes the bench files: it takes no server, --link, --json or --chart")
		}
		return nil
	}
	if f.addr == "" {
		if f.pin != "" || f.serverPID != 0 {
			return usagef("--pin and --server-pid go with HOST:PORT; without it, ferry bench starts its own server")
		}
		return nil
	}
	if f.link != "" {
		return usagef("--link starts its own server on the emulated link: it takes no HOST:PORT")
	}
	if f.addr, err = serverAddr(f.addr); err != nil {
		return err
	}
	if f.pin != "" {
		fp, err := certs.ParseFingerprint(f.pin)
		if err != nil {
			return usagef("--pin: %v", err)
		}
		f.fp = &fp
	} else if slices.ContainsFunc(f.transports, func(t string) bool { return t != "tcp" }) {
		return usagef("measuring a running server over tls or quic needs its --pin (\"ferry fingerprint\" on the server prints it)")
	}
	if f.serverPID < 0 {
		return usagef("--server-pid must be a process ID")
	}
	return nil
}

// quicWindows returns the client's QUIC receive windows, per stream and per
// session. The client receives the files, so its windows bound the rate at
// window / RTT. The default, 16 MiB per stream, covers every built-in
// profile; a faster or longer link gets twice its bandwidth-delay product,
// so that a window never runs dry while the previous one is acknowledged.
func (f *benchFlags) quicWindows() (stream, session uint64) {
	stream = f.window
	if stream == 0 {
		stream = quic.DefaultMaxStreamReceiveWindow
		if s := f.spec; s != nil && s.RateBitsPerSec > 0 {
			bdp := float64(s.RateBitsPerSec) / 8 * (s.RTT + s.Jitter).Seconds()
			stream = max(stream, uint64(math.Ceil(2*bdp/(1<<20)))<<20)
		}
	}
	return stream, stream * 3 / 2
}

// benchSettings records the parameters of the run in the report.
func (f *benchFlags) settings(server string) bench.Settings {
	sw, cw := f.quicWindows()
	var sc []string
	for _, s := range bench.Scenarios {
		if slices.Contains(f.scenarios, s) {
			sc = append(sc, s)
		}
	}
	return bench.Settings{
		Server:     server,
		Transports: f.transports,
		Scenarios:  sc,
		Workload:   f.workload,
		Trials:     f.trials, SetupTrials: f.setupTrials, EchoTrials: f.echoTrials,
		Echoes: f.echoes, EchoSize: benchEchoSize,
		QUICWindow: sw, QUICConnWin: cw,
	}
}

// benchEchoSize is the payload of setup and echo: a small request.
const benchEchoSize = 32

// benchRemote measures the server at f.addr from this process.
func (c *cli) benchRemote(ctx context.Context, f *benchFlags) (*bench.Report, error) {
	work, err := os.MkdirTemp("", "ferry-bench-client-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var tlsConf *tls.Config
	if f.fp != nil {
		if tlsConf, err = certs.ClientConfig(certs.ClientOptions{ServerAddr: f.addr, Pin: f.fp}); err != nil {
			return nil, err
		}
	}
	if slices.Contains(f.transports, "tcp") && !f.ownServer {
		c.warnf("%s", plaintextWarning)
	}
	sw, cw := f.quicWindows()
	qcfg := quic.Config{MaxStreamReceiveWindow: sw, MaxConnectionReceiveWindow: cw}
	rep := &bench.Report{Started: time.Now().UTC(), Conditions: bench.CollectConditions(), Settings: f.settings(f.addr)}
	rep.Conditions.Link = "network (" + f.addr + ")"
	cfg := bench.Config{
		Addr:       f.addr,
		Transports: f.transports,
		NewTransport: func(name string, earlyData bool) (transport.Transport, error) {
			switch name {
			case "tcp":
				return tcp.NewPlaintext(tcp.Config{}), nil
			case "tls":
				return tcp.NewTLS(tlsConf, tcp.Config{})
			default:
				qc := qcfg
				qc.EarlyData = earlyData
				return quic.New(tlsConf, qc)
			}
		},
		Scenarios: f.scenarios,
		Workload:  f.workload,
		Trials:    f.trials, SetupTrials: f.setupTrials, EchoTrials: f.echoTrials,
		Echoes: f.echoes, EchoSize: benchEchoSize,
		WorkDir:   work,
		ServerPID: f.serverPID,
	}
	if f.countWire {
		cfg.WireBytes = bench.NetDevBytes
	}
	cfg.Progress = c.benchProgress(f)
	rep.Trials, err = bench.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// benchProgress prints one line per trial on stderr.
func (c *cli) benchProgress(f *benchFlags) func(bench.Trial) {
	return func(t bench.Trial) {
		rounds := f.trials
		switch t.Scenario {
		case bench.Setup:
			rounds = f.setupTrials
		case bench.Echo:
			rounds = f.echoTrials
		}
		round := fmt.Sprintf("round %d/%d", t.Round, rounds)
		if t.Warmup {
			round = "warm-up"
		}
		if t.Error != "" {
			c.warnf("bench %s over %s, %s failed: %s", t.Scenario, t.Label(), round, sanitize(t.Error))
			return
		}
		if f.quiet {
			return
		}
		var v string
		switch t.Scenario {
		case bench.Setup:
			v = fmt.Sprintf("%.3f ms", t.Value())
		case bench.Echo:
			v = fmt.Sprintf("p50 %.3f ms, p99 %.3f ms", t.RTT.P50, t.RTT.P99)
		case bench.Small:
			v = fmt.Sprintf("%.0f files/s", t.Value())
		default:
			v = fmt.Sprintf("%.0f MB/s", t.Value())
		}
		c.infof("bench %s over %s, %s: %s", t.Scenario, t.Label(), round, v)
	}
}

// sizeTCPBuffers gives TCP, in both namespaces of the link, buffers that
// can hold 4 x the link's bandwidth-delay product (rounded up to a MiB),
// where the namespace allows less, as quicWindows does for QUIC: on a long
// fat path the sender's buffer caps what TCP has in flight (on satellite,
// 50 mbit x 600 ms = 3.75 MB, a 4 MiB tcp_wmem held TCP near half the
// rate), and the comparison is of protocols, not of defaults. The kernel
// still autotunes within the maximum; the namespaces go with the link.
func sizeTCPBuffers(link *netem.Link, spec netem.Spec) error {
	if spec.RateBitsPerSec <= 0 {
		return nil
	}
	bdp := float64(spec.RateBitsPerSec) / 8 * (spec.RTT + spec.Jitter).Seconds()
	want := int64(math.Ceil(4*bdp/(1<<20))) << 20
	for _, side := range []netem.Side{netem.Client, netem.Server} {
		err := link.RunIn(side, func() error {
			for _, name := range []string{"net/ipv4/tcp_rmem", "net/ipv4/tcp_wmem"} {
				if _, err := bench.RaiseTCPBufferMax(name, want); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("size TCP buffers for the link (%s side): %w", side, err)
		}
	}
	return nil
}

// benchLocal prepares the files, starts a server as a separate process
// (inside the emulated link's server namespace with --link) and measures
// it: from this process on loopback, or from a child process in the link's
// client namespace, so that the link's forwarder is not counted as the
// client's CPU and every client socket is born in the client namespace.
func (c *cli) benchLocal(ctx context.Context, f *benchFlags) (*bench.Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the ferry executable to start the server: %w", err)
	}
	tmp, err := os.MkdirTemp("", "ferry-bench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root, state := filepath.Join(tmp, "root"), filepath.Join(tmp, "state")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	if !f.quiet {
		c.infof("bench: writing the bench files to %s", tmp)
	}
	if err := bench.Prepare(root, f.workload, f.scenarios); err != nil {
		return nil, err
	}
	out, err := ferryOutput(ctx, exe, "fingerprint", "--state-dir", state)
	if err != nil {
		return nil, fmt.Errorf("create the server identity: %w", err)
	}
	fp, err := certs.ParseFingerprint(strings.TrimSpace(out))
	if err != nil {
		return nil, fmt.Errorf("read the server identity's fingerprint: %w", err)
	}

	var link *netem.Link
	listen := "127.0.0.1:0"
	if f.spec != nil {
		link, err = netem.Start(ctx, *f.spec)
		if err != nil {
			return nil, err
		}
		defer link.Close()
		listen = link.ServerAddr().String() + ":0"
		if err := sizeTCPBuffers(link, *f.spec); err != nil {
			return nil, err
		}
	}
	srv, err := startBenchServer(ctx, exe, tmp, root, state, listen, link)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if !f.quiet {
		where := "loopback"
		if link != nil {
			where = "link " + link.Spec().String()
		}
		c.infof("bench: server (pid %d) on %s, %s", srv.cmd.Process.Pid, srv.addr, where)
	}

	bf := *f
	bf.addr, bf.fp, bf.serverPID = srv.addr, &fp, srv.cmd.Process.Pid
	var rep *bench.Report
	if link == nil {
		bf.ownServer = true
		if rep, err = c.benchRemote(ctx, &bf); err != nil {
			return nil, srv.explain(err)
		}
		rep.Conditions.Link = "loopback"
		rep.Conditions.MTU = bench.InterfaceMTU("lo")
	} else {
		if rep, err = c.benchChild(ctx, exe, tmp, &bf, link); err != nil {
			return nil, srv.explain(err)
		}
		rep.Conditions.Link = link.Spec().String()
		rep.Conditions.MTU = link.Spec().MTU
		if rep.Conditions.MTU == 0 {
			rep.Conditions.MTU = netem.DefaultMTU
		}
		link.RunInServer(func() error {
			rep.Conditions.ServerTCPCC = bench.Sysctl("net/ipv4/tcp_congestion_control")
			rep.Conditions.ServerTCPRmem = bench.Sysctl("net/ipv4/tcp_rmem")
			rep.Conditions.ServerTCPWmem = bench.Sysctl("net/ipv4/tcp_wmem")
			return nil
		})
		rep.LinkStats = link.Stats()
	}
	rep.Settings = f.settings("ferry serve, separate process")
	return rep, nil
}

// benchChild runs the client part as "ferry bench HOST:PORT" in the link's
// client namespace and reads back its trials.
func (c *cli) benchChild(ctx context.Context, exe, tmp string, f *benchFlags, link *netem.Link) (*bench.Report, error) {
	out := filepath.Join(tmp, "client.json")
	sw, _ := f.quicWindows()
	args := []string{"bench",
		"--transports", strings.Join(f.transports, ","),
		"--scenarios", strings.Join(f.scenarios, ","),
		"--bulk-size", f.bulkSize, "--small", f.small, "--small-workers", strconv.Itoa(f.smallWorkers),
		"--parallel", f.parallel,
		"--trials", strconv.Itoa(f.trials), "--setup-trials", strconv.Itoa(f.setupTrials),
		"--echo-trials", strconv.Itoa(f.echoTrials), "--echoes", strconv.Itoa(f.echoes),
		"--quic-window", strconv.FormatUint(sw, 10),
		"--pin", f.fp.String(), "--server-pid", strconv.Itoa(f.serverPID),
		"--json", out, "--count-wire",
	}
	if f.quiet {
		args = append(args, "-q")
	}
	args = append(args, f.addr)
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "ferry"
	cmd.Stdout = io.Discard // its table; ours is printed from its JSON
	var stderr bytes.Buffer
	cmd.Stderr = &progressFilter{w: c.stderr, buf: &stderr}
	if err := link.StartCommand(netem.Client, cmd); err != nil {
		return nil, fmt.Errorf("start the bench client in the link's client namespace: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// Interrupted: stop the child, whatever it says on the way out.
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return nil, context.Cause(ctx)
	}
	rep, rerr := bench.ReadJSON(out)
	if rerr != nil {
		if err != nil {
			return nil, fmt.Errorf("bench client: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil, rerr
	}
	// An exit status of 1 with a report means some trials failed; the
	// report says which.
	return rep, nil
}

// progressFilter passes the child's stderr through, minus the plain-TCP
// warning (the server is ours), keeping a copy for error messages.
type progressFilter struct {
	w    io.Writer
	buf  *bytes.Buffer
	line []byte
}

func (p *progressFilter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	p.line = append(p.line, b...)
	for {
		i := bytes.IndexByte(p.line, '\n')
		if i < 0 {
			break
		}
		l := p.line[:i+1]
		if !bytes.Contains(l, []byte("plain TCP is unencrypted")) {
			p.w.Write(l)
		}
		p.line = p.line[i+1:]
	}
	return len(b), nil
}

// benchOutput prints the table and writes the JSON and the chart. It
// returns exitFailure when a trial failed.
func (c *cli) benchOutput(rep *bench.Report, f *benchFlags) int {
	rep.Summarize()
	status := exitOK
	if f.jsonFile != "" {
		if err := rep.WriteJSON(f.jsonFile); err != nil {
			c.report(fmt.Errorf("--json: %w", err))
			status = exitFailure
		}
	}
	if f.chartFile != "" {
		if err := rep.WriteChart(f.chartFile); err != nil {
			c.report(fmt.Errorf("--chart: %w", err))
			status = exitFailure
		}
	}
	if err := rep.WriteTable(c.stdout); err != nil {
		return c.report(err)
	}
	failed := 0
	for _, t := range rep.Trials {
		if t.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		c.errorf("%d of %d trials failed", failed, len(rep.Trials))
		c.hint("the warnings above, and the trials' errors in --json, say why")
		status = exitFailure
	}
	return status
}

// ferryOutput runs this executable with args and returns its stdout.
func ferryOutput(ctx context.Context, exe string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Args[0] = "ferry"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ferry %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// benchServer is a "ferry serve" child process.
type benchServer struct {
	cmd  *exec.Cmd
	addr string
	log  string
	done chan struct{}
	err  error
}

// startBenchServer starts "ferry serve" on listen with every transport, and
// waits for its address. Its log goes to a file in tmp.
func startBenchServer(ctx context.Context, exe, tmp, root, state, listen string, link *netem.Link) (*benchServer, error) {
	addrFile := filepath.Join(tmp, "addr")
	logFile := filepath.Join(tmp, "server.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(exe, "serve", "--listen", listen, "--addr-file", addrFile,
		"--transports", "tls,quic,tcp", "--state-dir", state, "--grace", "1s", root)
	cmd.Args[0] = "ferry"
	cmd.Stdout, cmd.Stderr = lf, lf
	if link != nil {
		err = link.StartCommand(netem.Server, cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start the bench server: %w", err)
	}
	s := &benchServer{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	deadline := time.After(30 * time.Second)
	for {
		if data, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(data, []byte("\n")) {
			s.addr = strings.TrimSpace(string(data))
			return s, nil
		}
		select {
		case <-s.done:
			return nil, s.explain(fmt.Errorf("the bench server exited at start: %v", s.err))
		case <-ctx.Done():
			s.stop()
			return nil, context.Cause(ctx)
		case <-deadline:
			s.stop()
			return nil, s.explain(errors.New("the bench server did not start listening within 30s"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the server: SIGINT for a graceful shutdown, SIGKILL if it has
// not exited 5 s later. It signals only its own process.
func (s *benchServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// explain adds the end of the server's log to err, when the server has
// exited or err may come from it.
func (s *benchServer) explain(err error) error {
	data, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	select {
	case <-s.done:
		return fmt.Errorf("%w (server log: %s)", err, strings.Join(lines, " | "))
	default:
		return err
	}
}
