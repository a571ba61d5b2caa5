package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferryproject/ferry/certs"
	"github.com/ferryproject/ferry/transfer"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
)

const serveHelp = `Serve the regular files beneath ROOT to ferry clients, over TLS 1.3 and QUIC
on one port (TCP for TLS, UDP for QUIC), until interrupted.

Usage:
  ferry serve [flags] ROOT
  ferry serve [flags] --bench     serve the synthetic files of "ferry bench"

On first start the server creates its identity (a key and a self-signed
certificate) in the state folder and prints its fingerprint; give that to
clients for --pin, or let them trust it on first use.

Flags:
  --listen HOST:PORT      address to listen on (default :7420, every interface);
                          port 0 picks a free port, the same for every transport
  --transports LIST       comma-separated transports to enable: tls, quic, tcp
                          (default tls,quic). tcp is plain TCP, unencrypted and
                          unauthenticated, and must be asked for; it shares the
                          TCP port with tls.
  --state-dir DIR         where the identity is kept (default
                          $XDG_STATE_HOME/ferry, or ~/.local/state/ferry)
  --cert FILE, --key FILE use this certificate and key (from "ferry certs server"
                          or another CA) instead of the identity in --state-dir
  --client-ca FILE        admit only clients with a certificate from this CA
                          (mutual TLS; "ferry certs client" issues them)
  --addr-file FILE        write the bound address to FILE once listening, for
                          scripts that use port 0; removed on exit
  --grace DURATION        on SIGINT or SIGTERM, let transfers in progress finish
                          for this long before closing them (default 5s)
  --max-sessions N        clients connected at once (default 256); one more is
                          refused with "too busy, try again later"
  --max-per-host N        of those, from one client address (default 64), so
                          that one host cannot take every slot
  --max-transfers N       files and listings in flight per session (default 16,
                          at most 65535); clients never ask for more
  --bench                 serve no folder but the files "ferry bench HOST:PORT"
                          fetches, made up as they are sent: read-only, nothing
                          read from or written to disk. Their names carry their
                          sizes (bulk-1GiB.bin, small-1000x64KiB/0000000.bin,
                          parallel-4x64MiB/0.bin), so any workload the client
                          picks is there, up to bulk 64GiB, small 100000x16MiB
                          and parallel 64x64GiB. The bytes are those of
                          "ferry bench --prepare". ls shows the default workload.

Output:
  A startup line and request logs (log/slog text) on stderr; nothing on stdout.

Examples:
  ferry serve ~/shared
  ferry serve --listen 127.0.0.1:0 --addr-file /tmp/addr --transports tls,quic,tcp .
  ferry serve --cert server.crt --key server.key --client-ca ca.crt /srv/files
  ferry serve --bench --transports tls,quic,tcp
`

type serveFlags struct {
	listen     string
	transports stringList
	stateDir   string
	certFile   string
	keyFile    string
	clientCA   string
	addrFile   string
	grace      time.Duration
	bench      bool

	maxSessions, maxPerHost, maxTransfers int
}

func serveMain(c *cli, args []string) int {
	f := serveFlags{transports: stringList{"tls", "quic"}}
	fs := newFlagSet("serve")
	fs.StringVar(&f.listen, "listen", ":"+defaultPort, "")
	fs.Var(&f.transports, "transports", "")
	fs.StringVar(&f.stateDir, "state-dir", "", "")
	fs.StringVar(&f.certFile, "cert", "", "")
	fs.StringVar(&f.keyFile, "key", "", "")
	fs.StringVar(&f.clientCA, "client-ca", "", "")
	fs.StringVar(&f.addrFile, "addr-file", "", "")
	fs.DurationVar(&f.grace, "grace", 5*time.Second, "")
	fs.BoolVar(&f.bench, "bench", false, "")
	fs.IntVar(&f.maxSessions, "max-sessions", transfer.DefaultMaxSessions, "")
	fs.IntVar(&f.maxPerHost, "max-per-host", transfer.DefaultMaxSessionsPerHost, "")
	fs.IntVar(&f.maxTransfers, "max-transfers", transfer.DefaultMaxTransfersPerSession, "")
	pos, status, done := c.parse(fs, "serve", serveHelp, args)
	if done {
		return status
	}
	switch {
	case f.bench && len(pos) > 0:
		// One tree per server: the bench names would shadow or be shadowed
		// by a folder's own files.
		return c.misuse("serve", usagef("--bench serves the synthetic bench files instead of a folder: give --bench or ROOT, not both"))
	case !f.bench && len(pos) != 1:
		return c.misuse("serve", usagef("serve needs exactly one folder to serve: ferry serve [flags] ROOT (or --bench)"))
	}
	if err := f.check(); err != nil {
		return c.misuse("serve", err)
	}
	root := ""
	if !f.bench {
		root = pos[0]
	}
	return c.serve(root, &f)
}

// serverConfig is the server's configuration from the flags.
func (f *serveFlags) serverConfig(logger *slog.Logger) transfer.ServerConfig {
	return transfer.ServerConfig{
		Logger:                 logger,
		MaxSessions:            f.maxSessions,
		MaxSessionsPerHost:     f.maxPerHost,
		MaxTransfersPerSession: f.maxTransfers,
	}
}

// check validates the flags without touching the disk or the network.
func (f *serveFlags) check() error {
	if len(f.transports) == 0 {
		return usagef("--transports is empty: choose from tls, quic and tcp")
	}
	for i, t := range f.transports {
		if !validTransport(t) {
			return usagef("unknown transport %q in --transports: choose from tls, quic and tcp", t)
		}
		if slices.Contains(f.transports[:i], t) {
			return usagef("transport %q is listed twice in --transports", t)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return usagef("--cert and --key go together: give both or neither")
	}
	if f.certFile != "" && f.stateDir != "" {
		return usagef("--state-dir holds the identity that --cert and --key replace: give one or the other")
	}
	if f.clientCA != "" && slices.Contains(f.transports, "tcp") {
		return usagef("--client-ca cannot protect plain TCP, which has no certificates: remove tcp from --transports")
	}
	if f.grace < 0 {
		return usagef("--grace must not be negative")
	}
	switch {
	case f.maxSessions < 1:
		return usagef("--max-sessions must be at least 1")
	case f.maxPerHost < 1:
		return usagef("--max-per-host must be at least 1")
	case f.maxTransfers < 1 || f.maxTransfers > 65535:
		return usagef("--max-transfers must be from 1 to 65535")
	}
	if net.ParseIP(f.listen) != nil {
		f.listen = net.JoinHostPort(f.listen, defaultPort)
	}
	host, port, err := net.SplitHostPort(f.listen)
	if err != nil {
		if !strings.Contains(err.Error(), "missing port") {
			return usagef("bad --listen address %q: expected HOST:PORT, like :7420, 127.0.0.1:0 or [::1]:7420", f.listen)
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(f.listen, "["), "]"), defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("bad --listen address %q: the port must be a number from 0 to 65535", f.listen)
	}
	f.listen = net.JoinHostPort(host, port)
	return nil
}

// serve serves the folder root, or the synthetic bench files with --bench
// (root is then "").
func (c *cli) serve(root string, f *serveFlags) int {
	if !f.bench {
		if st, err := os.Stat(root); err != nil {
			return c.report(fmt.Errorf("cannot serve %s: %w", root, err))
		} else if !st.IsDir() {
			return c.report(fmt.Errorf("cannot serve %s: not a folder", root))
		}
	}

	var tlsConf *tls.Config
	var id *certs.Identity
	var resetKey *[32]byte
	if f.transports.has("tls") || f.transports.has("quic") {
		var err error
		if id, err = c.loadIdentity(f); err != nil {
			return c.report(err)
		}
		if resetKey, err = id.StatelessResetKey(); err != nil {
			return c.report(err)
		}
		opts := certs.ServerOptions{}
		if f.clientCA != "" {
			pool, err := certs.LoadCertPool(f.clientCA)
			if err != nil {
				return c.report(fmt.Errorf("--client-ca: %w", err))
			}
			opts.ClientCAs = pool
		}
		if tlsConf, err = certs.ServerConfig(id, opts); err != nil {
			return c.report(err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	listeners, err := listenAll(ctx, f, tlsConf, resetKey)
	if err != nil {
		return c.report(err)
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, nil))
	var srv *transfer.Server
	if f.bench {
		srv, err = transfer.NewBenchServer(f.serverConfig(logger))
	} else {
		srv, err = transfer.NewServer(root, f.serverConfig(logger))
	}
	if err != nil {
		for _, ln := range listeners {
			ln.Close()
		}
		return c.report(err)
	}

	// The servers run on a context of their own: a signal starts a graceful
	// Shutdown rather than cutting transfers off at once.
	serveErr := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, ln := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(context.Background(), ln.Listener); err != nil {
				serveErr <- fmt.Errorf("serve %s: %w", ln.name, err)
			}
		}()
	}

	addr := listeners[0].Addr().String()
	if f.transports.has("tcp") {
		c.warnf("%s", plaintextWarning)
	}
	what := root
	if f.bench {
		what = "the synthetic bench files (no folder)"
	}
	line := fmt.Sprintf("serving %s on %s (%s)", what, addr, strings.Join(f.transports, ", "))
	if id != nil {
		line += "; fingerprint " + id.Fingerprint().String()
	}
	if f.clientCA != "" {
		line += "; client certificates required"
	}
	if f.maxSessions != transfer.DefaultMaxSessions || f.maxPerHost != transfer.DefaultMaxSessionsPerHost ||
		f.maxTransfers != transfer.DefaultMaxTransfersPerSession {
		line += fmt.Sprintf("; limits: sessions %d, per client address %d, transfers per session %d",
			f.maxSessions, min(f.maxPerHost, f.maxSessions), f.maxTransfers)
	}
	c.infof("%s", line)

	status := exitOK
	if f.addrFile != "" {
		if err := writeAddrFile(f.addrFile, addr); err != nil {
			c.report(err)
			status = exitFailure
			stop()
		} else {
			defer os.Remove(f.addrFile)
		}
	}

	select {
	case <-ctx.Done():
		if status == exitOK {
			c.infof("shutting down; waiting up to %v for transfers in progress", f.grace)
		}
	case err := <-serveErr:
		c.report(err)
		status = exitFailure
	}
	// From now on a second signal ends the process at once.
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		c.report(fmt.Errorf("shutdown: %w", err))
	}
	for _, ln := range listeners {
		ln.Close()
	}
	// Serve returns once Shutdown has closed what is left; do not hang on a
	// server that does not.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		c.warnf("connections still open after the grace period; exiting anyway")
	}
	return status
}

func (l stringList) has(s string) bool { return slices.Contains(l, s) }

// loadIdentity returns the identity from --cert and --key, or the one in the
// state folder, which is created on first start.
func (c *cli) loadIdentity(f *serveFlags) (*certs.Identity, error) {
	if f.certFile != "" {
		return certs.LoadIdentity(f.certFile, f.keyFile)
	}
	dir := f.stateDir
	if dir == "" {
		var err error
		if dir, err = defaultStateDir(); err != nil {
			return nil, err
		}
	}
	id, created, err := certs.LoadOrCreateIdentity(dir)
	if err != nil {
		return nil, err
	}
	if created {
		c.infof("created a new server identity in %s", dir)
	}
	return id, nil
}

// namedListener is a listener with the name of the transport behind it.
type namedListener struct {
	transport.Listener
	name string
}

// listenAll opens one listener per enabled transport, all on the same port:
// TLS and plain TCP share a TCP listener, QUIC has the UDP port of the same
// number. With port 0 the first listener picks the port and the others
// follow; if that port is taken for the other protocol, it tries again.
//
// resetKey, derived from the identity, lets the QUIC listener tell the
// clients of a previous run that their sessions are gone (a stateless
// reset) instead of leaving them to time out.
func listenAll(ctx context.Context, f *serveFlags, tlsConf *tls.Config, resetKey *[32]byte) ([]namedListener, error) {
	host, port, _ := net.SplitHostPort(f.listen)
	attempts := 1
	if port == "0" {
		attempts = 10
	}
	var err error
	for range attempts {
		var lns []namedListener
		lns, err = listenOnce(ctx, f, tlsConf, resetKey, host, port)
		if err == nil {
			return lns, nil
		}
	}
	return nil, err
}

func listenOnce(ctx context.Context, f *serveFlags, tlsConf *tls.Config, resetKey *[32]byte, host, port string) ([]namedListener, error) {
	var lns []namedListener
	fail := func(err error) ([]namedListener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	listen := func(name string, tr transport.Transport) error {
		ln, err := tr.Listen(ctx, net.JoinHostPort(host, port))
		if err != nil {
			return fmt.Errorf("listen for %s on %s: %w", name, net.JoinHostPort(host, port), err)
		}
		lns = append(lns, namedListener{ln, name})
		if port == "0" {
			_, port, _ = net.SplitHostPort(ln.Addr().String())
		}
		return nil
	}
	hasTLS, hasTCP := f.transports.has("tls"), f.transports.has("tcp")
	if hasTLS || hasTCP {
		var tr transport.Transport
		var err error
		switch {
		case hasTLS:
			tr, err = tcp.NewTLS(tlsConf, tcp.Config{AllowPlaintext: hasTCP})
		default:
			tr = tcp.NewPlaintext(tcp.Config{})
		}
		if err != nil {
			return fail(err)
		}
		name := "tls"
		if hasTCP {
			name = "tls+tcp"
			if !hasTLS {
				name = "tcp"
			}
		}
		if err := listen(name, tr); err != nil {
			return fail(err)
		}
	}
	if f.transports.has("quic") {
		// A returning client's requests may ride in 0-RTT: ferry's
		// requests are all read-only, so a replay only repeats work. With
		// client certificates, nothing is served before this handshake's
		// certificate has been checked.
		tr, err := quic.New(tlsConf, quic.Config{EarlyData: f.clientCA == "", StatelessResetKey: resetKey})
		if err != nil {
			return fail(err)
		}
		if err := listen("quic", tr); err != nil {
			return fail(err)
		}
	}
	return lns, nil
}

// writeAddrFile writes addr and a newline to path atomically, so that a
// script polling for the file never reads half an address.
func writeAddrFile(path, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addr-*")
	if err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	_, err = tmp.WriteString(addr + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--addr-file: %w", err)
	}
	return nil
}
