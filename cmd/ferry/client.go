package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryproject/ferry/certs"
	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/transfer"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
)

// defaultPort is ferry's port, used by "ferry serve" without --listen and by
// clients given a HOST without a port. One port serves every transport: TCP
// for TLS and plain TCP, UDP for QUIC.
const defaultPort = "7420"

// transportNames are the names -t and --transports accept.
var transportNames = []string{"quic", "tls", "tcp"}

func validTransport(name string) bool {
	for _, n := range transportNames {
		if n == name {
			return true
		}
	}
	return false
}

// plaintextWarning is printed by both ends whenever plain TCP is in use.
const plaintextWarning = "plain TCP is unencrypted and unauthenticated: anyone on the network path can read and change what it carries"

// clientFlags are the flags shared by get, ls and echo: which transport, and
// how to trust the server.
type clientFlags struct {
	transport   string
	pin         string
	caFile      string
	certFile    string
	keyFile     string
	knownHosts  string
	dialTimeout time.Duration

	// Filled in by check.
	addr string
	fp   certs.Fingerprint
}

// clientFlagsHelp documents clientFlags for the commands' help texts.
const clientFlagsHelp = `Connection flags:
  -t, --transport NAME    quic, tls or tcp (default quic). QUIC uses UDP, tls and
                          tcp use TCP; the server must enable the transport.
  --pin FINGERPRINT       trust only the server whose identity has this
                          fingerprint ("ferry fingerprint" on the server prints it)
  --ca FILE               trust servers with a certificate for HOST from this CA
  --known-hosts FILE      file of remembered servers (default
                          $XDG_CONFIG_HOME/ferry/known_hosts); without --pin or --ca
                          a new server is trusted on first use and remembered
  --cert FILE, --key FILE client certificate and key, for servers that require one
  --connect-timeout DUR   give up connecting after this long (default 10s)
`

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.transport, "t", "quic", "")
	fs.StringVar(&f.transport, "transport", "quic", "")
	fs.StringVar(&f.pin, "pin", "", "")
	fs.StringVar(&f.caFile, "ca", "", "")
	fs.StringVar(&f.certFile, "cert", "", "")
	fs.StringVar(&f.keyFile, "key", "", "")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "")
	fs.DurationVar(&f.dialTimeout, "connect-timeout", 10*time.Second, "")
}

// check validates the flags and the server address without touching the
// network or the disk; its errors are usage errors.
func (f *clientFlags) check(addr string) error {
	if !validTransport(f.transport) {
		return usagef("unknown transport %q: choose quic, tls or tcp", f.transport)
	}
	if f.pin != "" && f.caFile != "" {
		return usagef("--pin and --ca are two ways to trust the server: give one, not both")
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return usagef("--cert and --key go together: give both or neither")
	}
	if f.transport == "tcp" && (f.pin != "" || f.caFile != "" || f.certFile != "") {
		return usagef("plain TCP has no identities: --pin, --ca, --cert and --key need -t tls or -t quic")
	}
	if f.pin != "" {
		fp, err := certs.ParseFingerprint(f.pin)
		if err != nil {
			return usagef("--pin: %v", err)
		}
		f.fp = fp
	}
	if f.dialTimeout <= 0 {
		return usagef("--connect-timeout must be positive")
	}
	a, err := serverAddr(addr)
	if err != nil {
		return err
	}
	f.addr = a
	return nil
}

// serverAddr checks a HOST:PORT argument and adds ferry's port to a bare
// host: "example.org" → "example.org:7420", "::1" → "[::1]:7420".
func serverAddr(s string) (string, error) {
	if s == "" {
		return "", usagef("empty server address: expected HOST:PORT")
	}
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(s, defaultPort), nil // a bare IPv4 or IPv6 address
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
			return net.JoinHostPort(h, defaultPort), nil
		}
		return "", usagef("bad server address %q: expected HOST:PORT, like example.org:7420 or [::1]:7420", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", usagef("bad server address %q: the port must be a number from 1 to 65535", s)
	}
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port), nil
}

// connect dials the server with the chosen transport and trust and returns a
// ready client. The caller closes the client, then the transport, with the
// returned function.
func (c *cli) connect(ctx context.Context, f *clientFlags, digest string) (*transfer.Client, func(), error) {
	var (
		tr  transport.Transport
		err error
	)
	if f.transport == "tcp" {
		c.warnf("%s", plaintextWarning)
		tr = tcp.NewPlaintext(tcp.Config{})
	} else {
		var tlsConf *tls.Config
		tlsConf, err = c.clientTLS(f)
		if err != nil {
			return nil, nil, err
		}
		if f.transport == "quic" {
			tr, err = quic.New(tlsConf, f.quicConfig())
		} else {
			tr, err = tcp.NewTLS(tlsConf, tcp.Config{})
		}
	}
	if err != nil {
		return nil, nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, f.dialTimeout)
	defer cancel()
	cl, err := transfer.Dial(dctx, tr, f.addr, transfer.ClientConfig{Digest: digest})
	if err == nil {
		// Wait for the server's hello, so that a refused or foreign
		// server is reported as a failure to connect, with its hint.
		if err = cl.Ready(dctx); err != nil {
			cl.Close()
		}
	}
	if err != nil {
		tr.Close()
		return nil, nil, &dialError{addr: f.addr, transport: f.transport, timeout: f.dialTimeout, err: err}
	}
	return cl, func() { cl.Close(); tr.Close() }, nil
}

// clientTLS builds the TLS configuration that verifies the server: a pin, a
// CA, or the known hosts file (trust on first use).
func (c *cli) clientTLS(f *clientFlags) (*tls.Config, error) {
	opts := certs.ClientOptions{ServerAddr: f.addr}
	switch {
	case f.pin != "":
		opts.Pin = &f.fp
	case f.caFile != "":
		pool, err := certs.LoadCertPool(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		opts.CA = pool
	default:
		path := f.knownHosts
		if path == "" {
			var err error
			if path, err = defaultKnownHosts(); err != nil {
				return nil, err
			}
		}
		kh, err := certs.OpenKnownHosts(path)
		if err != nil {
			return nil, err
		}
		opts.KnownHosts = kh
		opts.OnFirstUse = func(host string, fp certs.Fingerprint) {
			c.infof("first contact with %s; its fingerprint %s is now remembered in %s", safefs.Printable(host), fp, path)
			c.hint(`compare it with what "ferry fingerprint" prints on the server; use --pin to require it`)
		}
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		opts.Certificate = &cert
	}
	return certs.ClientConfig(opts)
}

// dialError is a failed connection, with what the user was trying to reach
// so that the hint can be specific.
type dialError struct {
	addr, transport string
	timeout         time.Duration
	err             error
}

func (e *dialError) Error() string {
	return fmt.Sprintf("cannot connect to %s over %s: %v", e.addr, e.transport, e.err)
}

func (e *dialError) Unwrap() error { return e.err }

// report prints err as "ferry: error: …" followed by a hint when ferry knows
// what the user can do about it. It returns exitFailure.
func (c *cli) report(err error) int {
	var mismatch *certs.MismatchError
	if errors.As(err, &mismatch) {
		c.reportMismatch(mismatch)
		return exitFailure
	}
	c.errorf("%s", sanitize(err.Error()))
	if h := hintFor(err); h != "" {
		c.hint("%s", h)
	}
	return exitFailure
}

// hintFor returns advice for the errors whose cause ferry can guess.
func hintFor(err error) string {
	var de *dialError
	var kp *certs.KeyPermissionError
	switch {
	case errors.As(err, &kp):
		return fmt.Sprintf("restrict the key to its owner with: chmod 600 %s", kp.Path)
	case errors.Is(err, transfer.ErrNotFound):
		return `check the path with "ferry ls"; paths are relative to the folder the server shares`
	case errors.Is(err, transfer.ErrLocalName):
		return "choose another local name with -o: names must be valid on every system and leave room for .ferry-part"
	case errors.Is(err, transfer.ErrAccessDenied), errors.Is(err, transfer.ErrBadRequest), errors.Is(err, safefs.ErrInvalidName):
		return "the server only serves regular files beneath its folder: no absolute paths, no .., no links leading out"
	case errors.Is(err, transfer.ErrBusy):
		return "the server is at its limit; try again in a moment"
	case errors.Is(err, transfer.ErrFileChanged):
		return "the file was being modified on the server; try again once it is complete"
	case errors.Is(err, transfer.ErrNotRegular):
		return `use "ferry ls" to list a folder`
	case errors.Is(err, transfer.ErrExists):
		return "--no-clobber keeps existing files: move it away, or use -o to choose another name"
	case errors.Is(err, safefs.ErrLocked):
		return "another ferry is fetching this file into the same folder: let it finish, or stop it first"
	case errors.Is(err, safefs.ErrPartChanged):
		return "something else wrote to the partial file; nothing was published: run the command again, alone"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free some space at the destination: the partial files are kept, and the same command continues them"
	case errors.Is(err, transfer.ErrStalled):
		return "the partial file is kept: the same command continues it once the network or the server is back"
	case errors.Is(err, transfer.ErrIntegrity):
		return "nothing was saved; try again. If it repeats, the file is changing on the server or the network corrupts data"
	}
	if errors.As(err, &de) {
		return dialHint(de)
	}
	if errors.Is(err, transport.ErrWrongProtocol) {
		return "something other than a ferry server answers on that port, or the server does not enable this transport"
	}
	return ""
}

// reportMismatch explains a server whose identity is not the trusted one,
// showing both fingerprints, and how to proceed if the change is expected.
func (c *cli) reportMismatch(e *certs.MismatchError) {
	host := safefs.Printable(e.Host)
	if e.File == "" {
		c.errorf("server %s is not the pinned server", host)
		c.errorf("  pinned:    %s", e.Known)
		c.errorf("  presented: %s", e.Got)
		c.hint(`someone may be intercepting the connection, or the pin is wrong: compare it with what "ferry fingerprint" prints on the server`)
		return
	}
	file := safefs.Printable(e.File)
	c.errorf("the identity of server %s has changed", host)
	c.errorf("  remembered: %s (line %d of %s)", e.Known, e.Line, file)
	c.errorf("  presented:  %s", e.Got)
	c.hint("someone may be intercepting the connection, or the server's identity was replaced")
	c.hint(`if the change is expected (check with "ferry fingerprint" on the server), delete line %d of %s, or connect with --pin %s`, e.Line, file, e.Got)
}

func dialHint(e *dialError) string {
	var uerr x509.UnknownAuthorityError
	switch {
	case e.transport == "tcp" && (errors.Is(e.err, transport.ErrWrongProtocol) || errors.Is(e.err, net.ErrClosed)):
		return "a ferry server refuses plain TCP unless started with tcp in --transports (for example --transports tls,quic,tcp); try -t tls"
	case errors.Is(e.err, transport.ErrWrongProtocol):
		return "something other than a ferry server answers on that port, or the server does not enable this transport"
	case isConnRefused(e.err):
		return fmt.Sprintf("is \"ferry serve\" running on %s with the %s transport? (tls and tcp use TCP, quic uses UDP)", e.addr, e.transport)
	case isTimeout(e.err) && e.transport == "quic":
		return fmt.Sprintf("no QUIC answer within %v: check that the server enables quic and that UDP port %s is open, or try -t tls", e.timeout, portOf(e.addr))
	case isTimeout(e.err):
		return fmt.Sprintf("no answer within %v: check the address, the port and the firewall", e.timeout)
	case errors.As(e.err, &uerr):
		return "the server's certificate is not from the CA given with --ca"
	case mentions(e.err, "certificate required", "bad certificate", "unknown certificate authority"):
		return "the server requires a client certificate from its CA: use --cert and --key"
	}
	return ""
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// mentions reports whether err's text contains one of the phrases. It is
// only used to choose a hint: TLS alerts reach us as text through quic-go.
func mentions(err error, phrases ...string) bool {
	s := err.Error()
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return port
}

// sanitize makes an error message safe for a terminal. Messages may carry
// text from the server (its error messages, a session's close reason), so
// every character that safefs.Printable would not show as is gets escaped
// (\x1b, \u202e, ...). Unlike Printable, it does not quote the whole
// message: names inside it are already quoted where they need to be.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\\' || safefs.Printable(string(r)) == string(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// quicConfig is the client's QUIC configuration. --connect-timeout bounds
// the handshake too: quic-go would otherwise give up after its own 5 s
// without an answer, while the hint speaks of --connect-timeout.
func (f *clientFlags) quicConfig() quic.Config {
	return quic.Config{HandshakeTimeout: f.dialTimeout}
}
