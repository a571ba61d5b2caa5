package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ferryproject/ferry/transfer"
	"github.com/ferryproject/ferry/transport"
)

// The scenarios, in the order they run.
const (
	Setup    = "setup"    // a fresh session until the first echo reply
	Echo     = "echo"     // round-trip times of echoes on one session
	Bulk     = "bulk"     // one large file, fetched and verified
	Small    = "small"    // many small files fetched as one batch (GetBatch)
	Parallel = "parallel" // several large files at once on one session
)

// Scenarios lists every scenario in the order Run runs them.
var Scenarios = []string{Setup, Echo, Bulk, Small, Parallel}

// Config says what Run measures and against which server.
type Config struct {
	// Addr is the server's HOST:PORT.
	Addr string

	// Transports are the transport names, in the order each round runs
	// them ("tcp", "tls", "quic").
	Transports []string

	// NewTransport returns a fresh client transport by name: fresh
	// sockets, no session cache shared with earlier trials. earlyData asks
	// the QUIC transport to send its first requests in 0-RTT when it holds
	// a ticket (quic.Config.EarlyData); the others ignore it.
	NewTransport func(name string, earlyData bool) (transport.Transport, error)

	// Scenarios to run, a subset of Scenarios; they run in the order of
	// Scenarios whatever the order here.
	Scenarios []string

	Workload Workload

	// Trials is the number of measured rounds of bulk, small and parallel;
	// SetupTrials and EchoTrials those of setup and echo. Every scenario
	// first runs one warm-up round, which is recorded but not summarized.
	Trials, SetupTrials, EchoTrials int

	// Echoes is the number of round trips timed per echo trial, and
	// EchoSize the payload size.
	Echoes, EchoSize int

	// WorkDir is where fetched files are written (and removed again after
	// each trial).
	WorkDir string

	// ServerPID, if not 0, is the server process on this machine whose CPU
	// time is read from /proc/PID/stat around every trial.
	ServerPID int

	// WireBytes, if set, returns a counter of the bytes both ends put on
	// the network (NetDevBytes inside an emulated link's client
	// namespace); it is read around every trial's timed part.
	WireBytes func() (int64, error)

	// Timeout bounds each trial. Default 10 minutes.
	Timeout time.Duration

	// Progress, if set, is called after every trial.
	Progress func(t Trial)
}

// Trial is one measurement of one scenario over one transport.
type Trial struct {
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
	Round     int    `json:"round"` // 0 is the warm-up round

	// Handshake, for setup trials: "full" (a fresh transport), "resumed"
	// (a transport that holds a ticket from an earlier session with the
	// server) or "0-rtt" (resumed, first requests in 0-RTT).
	Handshake string `json:"handshake,omitempty"`
	Warmup    bool   `json:"warmup,omitempty"`

	// Seconds is the wall time of the timed part: from the dial to the
	// echo reply for setup, the echoes for echo, from the first request to
	// the last verified file for the file scenarios.
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes,omitempty"` // verified file bytes
	Files   int     `json:"files,omitempty"`
	Ops     int     `json:"ops,omitempty"` // setups or echoes timed

	// Setup only: the time a fresh transport took to return a session
	// (its own handshakes, measured with another fresh transport just
	// before) and the time until transfer.Dial returned (handshakes plus
	// ferry's hello), in seconds. Seconds adds the first echo.
	SessionSeconds float64 `json:"session_seconds,omitempty"`
	HelloSeconds   float64 `json:"hello_seconds,omitempty"`

	// RTT percentiles over the echoes of an echo trial, in milliseconds.
	RTT *Percentiles `json:"rtt_ms,omitempty"`

	// FileMBps is each file's own rate in a parallel trial (size over its
	// Get's duration), in MB/s.
	FileMBps []float64 `json:"file_mbps,omitempty"`

	// CPU seconds used during the timed part by the client process and by
	// the server process (null if unknown).
	ClientCPU float64  `json:"client_cpu_s"`
	ServerCPU *float64 `json:"server_cpu_s"`

	// WireBytes is what crossed the network during the timed part, both
	// directions, whole IP packets (0 if not counted).
	WireBytes int64 `json:"wire_bytes,omitempty"`

	Error string `json:"error,omitempty"`
}

// Percentiles of a set of round-trip times, in milliseconds.
type Percentiles struct {
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// MBps is the trial's throughput in decimal megabytes per second.
func (t Trial) MBps() float64 {
	if t.Seconds <= 0 {
		return 0
	}
	return float64(t.Bytes) / t.Seconds / 1e6
}

// Value is the trial's main figure: setup time in milliseconds, the echo
// p50 in milliseconds, MB/s for bulk and parallel, files/s for small.
func (t Trial) Value() float64 {
	switch t.Scenario {
	case Setup:
		return t.Seconds * 1e3
	case Echo:
		if t.RTT == nil {
			return 0
		}
		return t.RTT.P50
	case Small:
		if t.Seconds <= 0 {
			return 0
		}
		return float64(t.Files) / t.Seconds
	}
	return t.MBps()
}

// Run measures every scenario over every transport and returns every trial,
// in the order they ran, warm-ups included. Within a scenario the
// transports take turns (A B C A B C …), so that a change in the machine's
// load spreads over all of them. A failed trial is recorded with its Error
// and the run goes on; Run's error is only for a cancelled ctx or a broken
// configuration.
func Run(ctx context.Context, cfg Config) ([]Trial, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.EchoSize <= 0 {
		cfg.EchoSize = 32
	}
	if cfg.EchoSize > transfer.MaxEchoPayload {
		return nil, fmt.Errorf("echo size %d is over the protocol's limit of %d", cfg.EchoSize, transfer.MaxEchoPayload)
	}
	var trials []Trial
	for _, sc := range Scenarios {
		if !slices.Contains(cfg.Scenarios, sc) {
			continue
		}
		rounds := cfg.Trials
		switch sc {
		case Setup:
			rounds = cfg.SetupTrials
		case Echo:
			rounds = cfg.EchoTrials
		}
		for round := 0; round <= rounds; round++ {
			for _, tn := range cfg.Transports {
				handshakes := []string{""}
				if sc == Setup {
					handshakes = Handshakes(tn)
				}
				for _, hs := range handshakes {
					if err := ctx.Err(); err != nil {
						return trials, context.Cause(ctx)
					}
					t := runTrial(ctx, &cfg, sc, tn, hs)
					t.Round, t.Warmup = round, round == 0
					if ctx.Err() != nil {
						return trials, context.Cause(ctx)
					}
					trials = append(trials, t)
					if cfg.Progress != nil {
						cfg.Progress(t)
					}
				}
			}
		}
	}
	return trials, nil
}

// The handshakes that setup measures.
const (
	HandshakeFull    = "full"
	HandshakeResumed = "resumed"
	Handshake0RTT    = "0-rtt"
)

// Handshakes lists the handshakes setup measures over a transport: TLS can
// resume a session (crypto/tls has no 0-RTT over TCP); QUIC can resume and
// send its first requests in 0-RTT.
//
// A binary built with -race (the test binary that the CLI's scripts run)
// leaves 0-RTT out: opening a stream during a 0-RTT handshake trips a data
// race inside quic-go v0.65 (issue #4303), and the race detector would
// end the process. ferry's own builds measure it.
func Handshakes(transportName string) []string {
	switch transportName {
	case "tls":
		return []string{HandshakeFull, HandshakeResumed}
	case "quic":
		if RaceBuild {
			return []string{HandshakeFull, HandshakeResumed}
		}
		return []string{HandshakeFull, HandshakeResumed, Handshake0RTT}
	}
	return []string{HandshakeFull}
}

// runTrial runs one trial with its own timeout, and records the CPU time of
// both processes around the part that the scenario times.
func runTrial(ctx context.Context, cfg *Config, scenario, tname, handshake string) Trial {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	t := Trial{Scenario: scenario, Transport: tname, Handshake: handshake}
	m := &meter{serverPID: cfg.ServerPID, wireBytes: cfg.WireBytes}
	var err error
	switch scenario {
	case Setup:
		err = runSetup(ctx, cfg, tname, handshake, m, &t)
	default:
		err = withClient(ctx, cfg, tname, func(cl *transfer.Client) error {
			switch scenario {
			case Echo:
				return runEcho(ctx, cfg, cl, m, &t)
			case Bulk:
				return runBulk(ctx, cfg, cl, m, &t)
			case Small:
				return runSmall(ctx, cfg, cl, m, &t)
			case Parallel:
				return runParallel(ctx, cfg, cl, m, &t)
			}
			return fmt.Errorf("unknown scenario %q", scenario)
		})
	}
	if err != nil {
		t.Error = err.Error()
		return t
	}
	t.ClientCPU = m.client.Seconds()
	if m.wireOK {
		t.WireBytes = m.wire
	}
	if m.serverOK {
		s := m.server.Seconds()
		t.ServerCPU = &s
	}
	return t
}

// meter records the CPU time of both processes between start and stop.
type meter struct {
	serverPID      int
	wall           time.Time
	client, server time.Duration
	serverOK       bool
	wireBytes      func() (int64, error)
	wire           int64
	wireOK         bool
}

func (m *meter) start() {
	if m.wireBytes != nil {
		w, err := m.wireBytes()
		m.wire, m.wireOK = -w, err == nil
	}
	c, _ := SelfCPU()
	m.client = -c
	if m.serverPID != 0 {
		s, err := ProcessCPU(m.serverPID)
		m.server, m.serverOK = -s, err == nil
	}
	m.wall = time.Now()
}

// stop returns the wall time since start.
func (m *meter) stop() time.Duration {
	d := time.Since(m.wall)
	c, _ := SelfCPU()
	m.client += c
	if m.serverOK {
		s, err := ProcessCPU(m.serverPID)
		m.server += s
		m.serverOK = err == nil
	}
	if m.wireOK {
		w, err := m.wireBytes()
		m.wire += w
		m.wireOK = err == nil
	}
	return d
}

func withClient(ctx context.Context, cfg *Config, tname string, fn func(*transfer.Client) error) error {
	tr, err := cfg.NewTransport(tname, false)
	if err != nil {
		return err
	}
	defer tr.Close()
	cl, err := transfer.Dial(ctx, tr, cfg.Addr, transfer.ClientConfig{})
	if err != nil {
		return fmt.Errorf("dial %s over %s: %w", cfg.Addr, tname, err)
	}
	defer cl.Close()
	return fn(cl)
}

// runSetup times a transport's dial, the hello exchange and one echo: what
// a new "ferry echo" costs before its answer arrives. A full handshake uses
// a fresh transport; a resumed one (and 0-RTT) a transport that has just
// run one session with the server, untimed, to receive a ticket.
//
// To tell the round trips apart it first times a bare transport.Dial (with
// another fresh transport, or the warmed one), not counted in the CPU
// figures.
func runSetup(ctx context.Context, cfg *Config, tname, handshake string, m *meter, t *Trial) error {
	early := handshake == Handshake0RTT
	newTransport := func() (transport.Transport, error) {
		tr, err := cfg.NewTransport(tname, early)
		if err != nil || handshake == HandshakeFull {
			return tr, err
		}
		if err := warmTicket(ctx, cfg, tr); err != nil {
			tr.Close()
			return nil, err
		}
		return tr, nil
	}
	bare, err := newTransport()
	if err != nil {
		return err
	}
	start := time.Now()
	sess, err := bare.Dial(ctx, cfg.Addr)
	if err != nil {
		bare.Close()
		return fmt.Errorf("dial %s over %s: %w", cfg.Addr, tname, err)
	}
	t.SessionSeconds = time.Since(start).Seconds()
	sess.CloseWithError(transport.CodeNoError, "bench: session setup timed")
	bare.Close()

	tr, err := newTransport()
	if err != nil {
		return err
	}
	defer tr.Close()
	msg := bytes.Repeat([]byte{'s'}, cfg.EchoSize)
	m.start()
	cl, err := transfer.Dial(ctx, tr, cfg.Addr, transfer.ClientConfig{})
	if err != nil {
		return fmt.Errorf("dial %s over %s: %w", cfg.Addr, tname, err)
	}
	defer cl.Close()
	t.HelloSeconds = time.Since(m.wall).Seconds()
	if _, err := cl.Echo(ctx, msg); err != nil {
		return err
	}
	t.Seconds = m.stop().Seconds()
	t.Ops = 1
	return checkHandshake(ctx, cl.Session(), handshake)
}

// warmTicket runs one untimed session over tr, so that tr holds a
// resumption ticket for the server. TLS 1.3 tickets arrive after the
// handshake and are taken in only when the client reads: the echoes do it.
// A few round trips rather than one, because on a lossy link the packet
// with the ticket may be lost and sent again.
func warmTicket(ctx context.Context, cfg *Config, tr transport.Transport) error {
	cl, err := transfer.Dial(ctx, tr, cfg.Addr, transfer.ClientConfig{})
	if err != nil {
		return fmt.Errorf("dial %s for a resumption ticket: %w", cfg.Addr, err)
	}
	defer cl.Close()
	for range ticketEchoes {
		if _, err := cl.Echo(ctx, []byte("ticket")); err != nil {
			return fmt.Errorf("echo for a resumption ticket: %w", err)
		}
	}
	return nil
}

// ticketEchoes is how many round trips warmTicket gives the server's
// ticket to arrive.
const ticketEchoes = 3

// checkHandshake fails a trial whose session was not set up the way it
// claims to measure, so that a table never shows a full handshake as a
// resumed one.
func checkHandshake(ctx context.Context, sess transport.Session, handshake string) error {
	if handshake == HandshakeFull {
		return nil
	}
	hsr, ok := sess.(transport.HandshakeStater)
	if !ok {
		return fmt.Errorf("the transport cannot tell how its session was set up")
	}
	hs, err := hsr.HandshakeState(ctx)
	if err != nil {
		return err
	}
	switch {
	case !hs.TLS.DidResume:
		return fmt.Errorf("the session was not resumed: the client got no ticket from the earlier session (lost on the link?), or the server refused it")
	case handshake == Handshake0RTT && !hs.EarlyData:
		return fmt.Errorf("the server did not accept 0-RTT (a server with --client-ca refuses it)")
	}
	return nil
}

// echoWarmup echoes are sent before the timed ones, so that the first
// round trips' allocations and window growth are not counted.
const echoWarmup = 10

func runEcho(ctx context.Context, cfg *Config, cl *transfer.Client, m *meter, t *Trial) error {
	msg := bytes.Repeat([]byte{'e'}, cfg.EchoSize)
	for range echoWarmup {
		if _, err := cl.Echo(ctx, msg); err != nil {
			return err
		}
	}
	rtts := make([]float64, cfg.Echoes)
	m.start()
	for i := range rtts {
		start := time.Now()
		if _, err := cl.Echo(ctx, msg); err != nil {
			return err
		}
		rtts[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	t.Seconds = m.stop().Seconds()
	t.Ops = len(rtts)
	slices.Sort(rtts)
	t.RTT = &Percentiles{
		Min: rtts[0], Max: rtts[len(rtts)-1],
		P50: Percentile(rtts, 50), P90: Percentile(rtts, 90), P99: Percentile(rtts, 99),
	}
	return nil
}

// trialDir makes a fresh folder for one trial's files; the caller removes it.
func trialDir(cfg *Config) (string, error) {
	return os.MkdirTemp(cfg.WorkDir, "trial-")
}

// get fetches one file into dir and checks that it has the expected size
// (the transfer package has verified its digest).
func get(ctx context.Context, cl *transfer.Client, remote, dir, name string, size int64) (*transfer.Result, error) {
	res, err := cl.Get(ctx, remote, transfer.GetOptions{DestDir: dir, Name: name, Replace: true})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", remote, err)
	}
	if res.Size != size {
		return nil, fmt.Errorf("get %s: %d bytes, expected %d: the server's bench files were prepared for other sizes", remote, res.Size, size)
	}
	return res, nil
}

func runBulk(ctx context.Context, cfg *Config, cl *transfer.Client, m *meter, t *Trial) error {
	dir, err := trialDir(cfg)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := cfg.Workload
	m.start()
	_, err = get(ctx, cl, w.BulkPath(), dir, "bulk.bin", w.BulkSize)
	d := m.stop()
	if err != nil {
		return err
	}
	t.Seconds, t.Bytes, t.Files = d.Seconds(), w.BulkSize, 1
	return nil
}

// runSmall fetches the small files the way "ferry get" fetches many files:
// one GetBatch, SmallWorkers files on the network at once.
func runSmall(ctx context.Context, cfg *Config, cl *transfer.Client, m *meter, t *Trial) error {
	dir, err := trialDir(cfg)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := cfg.Workload
	items := make([]transfer.Item, w.SmallCount)
	for i := range items {
		items[i] = transfer.Item{Remote: w.SmallPath(i), Local: fmt.Sprintf("%07d.bin", i)}
	}
	m.start()
	sum, err := cl.GetBatch(ctx, items, transfer.BatchOptions{DestDir: dir, Parallel: max(w.SmallWorkers, 1), Replace: true})
	d := m.stop()
	if err != nil {
		return fmt.Errorf("small files: %d of %d fetched: %w", sum.Files, w.SmallCount, err)
	}
	if want := int64(w.SmallCount) * w.SmallSize; sum.Files != w.SmallCount || sum.Bytes != want {
		return fmt.Errorf("small files: %d files of %d bytes in all, expected %d of %d: the server's bench files were prepared for other sizes",
			sum.Files, sum.Bytes, w.SmallCount, want)
	}
	t.Seconds, t.Files, t.Bytes = d.Seconds(), w.SmallCount, sum.Bytes
	return nil
}

func runParallel(ctx context.Context, cfg *Config, cl *transfer.Client, m *meter, t *Trial) error {
	dir, err := trialDir(cfg)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := cfg.Workload
	rates := make([]float64, w.ParallelCount)
	errs := make([]error, w.ParallelCount)
	var wg sync.WaitGroup
	m.start()
	for i := range w.ParallelCount {
		wg.Go(func() {
			res, err := get(ctx, cl, w.ParallelPath(i), dir, fmt.Sprintf("%d.bin", i), w.ParallelSize)
			if err != nil {
				errs[i] = err
				return
			}
			rates[i] = float64(res.Size) / res.Duration.Seconds() / 1e6
		})
	}
	wg.Wait()
	d := m.stop()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t.Seconds, t.Files, t.Bytes = d.Seconds(), w.ParallelCount, int64(w.ParallelCount)*w.ParallelSize
	t.FileMBps = rates
	return nil
}
