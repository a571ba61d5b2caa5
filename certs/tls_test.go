package certs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryproject/ferry/transport"
)

const testTimeout = 10 * time.Second

// serverResult is what the test server saw of one connection.
type serverResult struct {
	err   error
	state tls.ConnectionState
}

// testServer accepts TLS connections on 127.0.0.1, answers "ok" to each one
// whose handshake succeeds, and reports every handshake on results.
type testServer struct {
	addr    string
	results chan serverResult
}

func serve(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), results: make(chan serverResult, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(testTimeout))
				tc := tls.Server(c, cfg)
				err := tc.Handshake()
				if err == nil {
					_, err = tc.Write([]byte("ok"))
				}
				s.results <- serverResult{err: err, state: tc.ConnectionState()}
			})
		}
	})
	return s
}

// next returns the server's view of the next connection.
func (s *testServer) next(t *testing.T) serverResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(testTimeout):
		t.Fatal("server saw no connection")
		return serverResult{}
	}
}

// dial connects with tls.Dialer, as the TLS transport does, and reads the
// server's "ok": in TLS 1.3 a server's refusal of the client certificate
// arrives only after the client's handshake has returned.
func dial(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	tc := c.(*tls.Conn)
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tc, buf); err != nil {
		return tc.ConnectionState(), err
	}
	return tc.ConnectionState(), nil
}

func newIdentity(t *testing.T) *Identity {
	t.Helper()
	id, _, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func serverConfig(t *testing.T, id *Identity, opts ServerOptions) *tls.Config {
	t.Helper()
	cfg, err := ServerConfig(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientConfig(t *testing.T, opts ClientOptions) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestClientConfigRequiresExactlyOneWay(t *testing.T) {
	fp := randomFingerprint(t)
	kh, _ := OpenKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	pool := x509.NewCertPool()
	if _, err := ClientConfig(ClientOptions{ServerAddr: "h.example:1"}); !errors.Is(err, ErrNoTrust) {
		t.Errorf("no way: err = %v, want ErrNoTrust", err)
	}
	for _, o := range []ClientOptions{
		{ServerAddr: "h.example:1", Pin: &fp, KnownHosts: kh},
		{ServerAddr: "h.example:1", Pin: &fp, CA: pool},
		{ServerAddr: "h.example:1", CA: pool, KnownHosts: kh},
		{ServerAddr: "h.example:1", Pin: new(Fingerprint)},
		{ServerAddr: "h.example", Pin: &fp},
		{Pin: &fp},
	} {
		if _, err := ClientConfig(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}

	pin := clientConfig(t, ClientOptions{ServerAddr: "H.example:1", Pin: &fp})
	ca := clientConfig(t, ClientOptions{ServerAddr: "[::1]:1", CA: pool})
	for _, c := range []*tls.Config{pin, ca} {
		if c.MinVersion != tls.VersionTLS13 || len(c.NextProtos) != 1 || c.NextProtos[0] != transport.ALPN || c.VerifyConnection == nil {
			t.Errorf("config %+v lacks TLS 1.3, ALPN or VerifyConnection", c)
		}
	}
	if !pin.InsecureSkipVerify || pin.ServerName != "h.example" {
		t.Errorf("pin config: InsecureSkipVerify %v ServerName %q", pin.InsecureSkipVerify, pin.ServerName)
	}
	if ca.InsecureSkipVerify || ca.RootCAs != pool || ca.ServerName != "::1" {
		t.Errorf("CA config: InsecureSkipVerify %v RootCAs %p ServerName %q", ca.InsecureSkipVerify, ca.RootCAs, ca.ServerName)
	}
	if _, err := ServerConfig(nil, ServerOptions{}); err == nil {
		t.Error("ServerConfig without an identity accepted")
	}
}

func TestPin(t *testing.T) {
	id := newIdentity(t)
	s := serve(t, serverConfig(t, id, ServerOptions{}))

	good := id.Fingerprint()
	state, err := dial(t, s.addr, clientConfig(t, ClientOptions{ServerAddr: "ferry.test:4433", Pin: &good}))
	if err != nil {
		t.Fatalf("right pin refused: %v", err)
	}
	if state.NegotiatedProtocol != transport.ALPN || state.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %q, version %x", state.NegotiatedProtocol, state.Version)
	}
	if r := s.next(t); r.err != nil {
		t.Fatalf("server: %v", r.err)
	}

	wrong := randomFingerprint(t)
	_, err = dial(t, s.addr, clientConfig(t, ClientOptions{ServerAddr: "ferry.test:4433", Pin: &wrong}))
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("wrong pin: err = %v, want *MismatchError", err)
	}
	if mm.Known != wrong || mm.Got != good || mm.Host != "ferry.test:4433" || mm.File != "" {
		t.Errorf("MismatchError = %+v", mm)
	}
	if msg := err.Error(); !strings.Contains(msg, wrong.String()) || !strings.Contains(msg, good.String()) {
		t.Errorf("message does not show both fingerprints: %s", msg)
	}
	if r := s.next(t); r.err == nil {
		t.Error("server completed a handshake the client refused")
	}
}

func TestTrustOnFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	type use struct {
		host string
		fp   Fingerprint
	}
	var mu sync.Mutex
	var uses []use
	opts := ClientOptions{
		ServerAddr: "Ferry.Test:4433",
		KnownHosts: kh,
		OnFirstUse: func(host string, fp Fingerprint) {
			mu.Lock()
			defer mu.Unlock()
			uses = append(uses, use{host, fp})
		},
	}
	cfg := clientConfig(t, opts)

	id := newIdentity(t)
	s := serve(t, serverConfig(t, id, ServerOptions{}))
	if _, err := dial(t, s.addr, cfg); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if len(uses) != 1 || uses[0] != (use{"ferry.test:4433", id.Fingerprint()}) {
		t.Fatalf("OnFirstUse calls: %v", uses)
	}
	if e, ok, _ := kh.Lookup("ferry.test:4433"); !ok || e.Fingerprint != id.Fingerprint() || e.Line != 3 {
		t.Fatalf("not recorded: %+v, %v", e, ok)
	}

	if _, err := dial(t, s.addr, cfg); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if len(uses) != 1 {
		t.Errorf("OnFirstUse called again: %v", uses)
	}

	// The server's identity changes (a new server on the same address).
	before, _ := os.ReadFile(path)
	id2 := newIdentity(t)
	s2 := serve(t, serverConfig(t, id2, ServerOptions{}))
	_, err = dial(t, s2.addr, clientConfig(t, opts))
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("changed identity: err = %v, want *MismatchError", err)
	}
	if mm.Known != id.Fingerprint() || mm.Got != id2.Fingerprint() || mm.File != path || mm.Line != 3 || mm.Host != "ferry.test:4433" {
		t.Errorf("MismatchError = %+v", mm)
	}
	msg := err.Error()
	for _, want := range []string{id.Fingerprint().String(), id2.Fingerprint().String(), "remove line 3 of " + path, "--pin"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a refused identity changed the known hosts file")
	}
	if len(uses) != 1 {
		t.Errorf("OnFirstUse called for a refused identity: %v", uses)
	}
}

// The connections of one session verify concurrently; the server is
// recorded, and the user told, once.
func TestTrustOnFirstUseConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh, _ := OpenKnownHosts(path)
	var calls atomic.Int32
	cfg := clientConfig(t, ClientOptions{
		ServerAddr: "ferry.test:4433",
		KnownHosts: kh,
		OnFirstUse: func(string, Fingerprint) { calls.Add(1) },
	})
	id := newIdentity(t)
	s := serve(t, serverConfig(t, id, ServerOptions{}))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := dial(t, s.addr, cfg); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("OnFirstUse called %d times, want 1", n)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), id.Fingerprint().String()); n != 1 {
		t.Errorf("recorded %d times:\n%s", n, data)
	}
}

// testCA makes a CA with a server identity for localhost and 127.0.0.1 and
// a client certificate "alice".
type testCA struct {
	ca     *CA
	dir    string
	server *Identity
	client tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	dir := t.TempDir()
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(dir, "server", []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadIdentity(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.IssueClient(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.LoadX509KeyPair(cli.CertFile, cli.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca, dir: dir, server: id, client: clientCert}
}

func TestCAMode(t *testing.T) {
	tc := newTestCA(t)
	pool, err := LoadCertPool(tc.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, serverConfig(t, tc.server, ServerOptions{}))
	for _, addr := range []string{"localhost:4433", "127.0.0.1:4433"} {
		if _, err := dial(t, s.addr, clientConfig(t, ClientOptions{ServerAddr: addr, CA: pool})); err != nil {
			t.Errorf("CA-issued server as %s refused: %v", addr, err)
		}
	}

	_, err = dial(t, s.addr, clientConfig(t, ClientOptions{ServerAddr: "other.example:4433", CA: pool}))
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Errorf("wrong name: err = %v, want x509.HostnameError", err)
	}

	// A ferry self-signed identity (it names no host, and no CA issued it).
	self := serve(t, serverConfig(t, newIdentity(t), ServerOptions{}))
	_, err = dial(t, self.addr, clientConfig(t, ClientOptions{ServerAddr: "localhost:4433", CA: pool}))
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("self-signed server: err = %v, want *tls.CertificateVerificationError", err)
	}
	// A certificate for the right name from another CA.
	foreign := serve(t, serverConfig(t, newTestCA(t).server, ServerOptions{}))
	_, err = dial(t, foreign.addr, clientConfig(t, ClientOptions{ServerAddr: "localhost:4433", CA: pool}))
	var authErr x509.UnknownAuthorityError
	if !errors.As(err, &authErr) {
		t.Errorf("server from another CA: err = %v, want x509.UnknownAuthorityError", err)
	}

	if _, err := LoadCertPool(filepath.Join(tc.dir, "alice.key")); err == nil {
		t.Error("LoadCertPool accepted a file without certificates")
	}
}

func TestMutualTLS(t *testing.T) {
	tc := newTestCA(t)
	s := serve(t, serverConfig(t, tc.server, ServerOptions{ClientCAs: tc.ca.Pool()}))
	client := func(cert *tls.Certificate) *tls.Config {
		return clientConfig(t, ClientOptions{ServerAddr: "localhost:4433", CA: tc.ca.Pool(), Certificate: cert})
	}

	// The right client is admitted, and the server sees who it is.
	if _, err := dial(t, s.addr, client(&tc.client)); err != nil {
		t.Fatalf("right client refused: %v", err)
	}
	r := s.next(t)
	if r.err != nil || len(r.state.PeerCertificates) == 0 || r.state.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Fatalf("server: %v, peer %v", r.err, r.state.PeerCertificates)
	}

	// No certificate.
	if _, err := dial(t, s.addr, client(nil)); err == nil {
		t.Error("client without a certificate admitted")
	}
	if r := s.next(t); r.err == nil {
		t.Error("server admitted a client without a certificate")
	}

	// A client certificate from another CA (with the same subject name).
	other := newTestCA(t)
	if _, err := dial(t, s.addr, client(&other.client)); err == nil {
		t.Error("client from another CA admitted")
	}
	var authErr x509.UnknownAuthorityError
	if r := s.next(t); !errors.As(r.err, &authErr) {
		t.Errorf("server: err = %v, want x509.UnknownAuthorityError", r.err)
	}

	// A server certificate from the right CA is not a client certificate.
	if _, err := dial(t, s.addr, client(&tc.server.Certificate)); err == nil {
		t.Error("server certificate admitted as a client")
	}
	if r := s.next(t); r.err == nil {
		t.Error("server admitted a server certificate as a client")
	}

	// A certificate without extended key usage, which x509 takes as good for
	// anything, is refused by ServerConfig's own check.
	noEKU := issueWithoutEKU(t, tc.ca)
	if _, err := dial(t, s.addr, client(&noEKU)); err == nil {
		t.Error("certificate without client EKU admitted")
	}
	if r := s.next(t); r.err == nil || !strings.Contains(r.err.Error(), "not for client authentication") {
		t.Errorf("server: err = %v, want a refusal for the missing client EKU", r.err)
	}
}

func issueWithoutEKU(t *testing.T, ca *CA) tls.Certificate {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := newSerial()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mallory"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestServerRefusesClientWithoutALPN(t *testing.T) {
	tc := newTestCA(t)
	s := serve(t, serverConfig(t, tc.server, ServerOptions{}))
	for _, protos := range [][]string{nil, {"h2"}} {
		// A client that is not ferry: it verifies the server through the CA
		// but offers another ALPN or none.
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: tc.ca.Pool(), ServerName: "localhost", NextProtos: protos}
		if _, err := dial(t, s.addr, cfg); err == nil {
			t.Errorf("client offering %q admitted", protos)
		}
		r := s.next(t)
		if r.err == nil {
			t.Errorf("server admitted a client offering %q", protos)
		}
		if protos == nil && !errors.Is(r.err, transport.ErrWrongProtocol) {
			t.Errorf("no ALPN: server err = %v, want transport.ErrWrongProtocol", r.err)
		}
	}
}

// A server that is not ferry (no ALPN) is refused before it can be
// recorded as a known host.
func TestClientRefusesServerWithoutALPN(t *testing.T) {
	id := newIdentity(t)
	s := serve(t, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{id.Certificate}})
	kh, _ := OpenKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	called := false
	_, err := dial(t, s.addr, clientConfig(t, ClientOptions{
		ServerAddr: "ferry.test:4433", KnownHosts: kh,
		OnFirstUse: func(string, Fingerprint) { called = true },
	}))
	if !errors.Is(err, transport.ErrWrongProtocol) {
		t.Fatalf("err = %v, want transport.ErrWrongProtocol", err)
	}
	if _, ok, _ := kh.Lookup("ferry.test:4433"); ok || called {
		t.Error("a server without ferry's ALPN was recorded")
	}
}

// Resumed handshakes skip VerifyPeerCertificate but not VerifyConnection:
// a pin that no longer matches refuses a resumed session too.
func TestResumptionStillVerifiesPin(t *testing.T) {
	id := newIdentity(t)
	s := serve(t, serverConfig(t, id, ServerOptions{}))
	cache := tls.NewLRUClientSessionCache(8)
	good := id.Fingerprint()
	cfg := clientConfig(t, ClientOptions{ServerAddr: "ferry.test:4433", Pin: &good})
	cfg.ClientSessionCache = cache

	if _, err := dial(t, s.addr, cfg); err != nil {
		t.Fatal(err)
	}
	state, err := dial(t, s.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !state.DidResume {
		t.Fatal("second connection did not resume; the test would prove nothing")
	}

	// Control: a check in VerifyPeerCertificate that refuses everything is
	// not even asked on a resumed connection. This is why ferry pins in
	// VerifyConnection.
	control := cfg.Clone()
	control.VerifyConnection = nil
	control.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return errors.New("refused") }
	if state, err := dial(t, s.addr, control); err != nil || !state.DidResume {
		t.Fatalf("control: resumed %v, err %v; expected VerifyPeerCertificate to be skipped", state.DidResume, err)
	}

	wrong := randomFingerprint(t)
	changed := clientConfig(t, ClientOptions{ServerAddr: "ferry.test:4433", Pin: &wrong})
	changed.ClientSessionCache = cache
	_, err = dial(t, s.addr, changed)
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Got != good || mm.Known != wrong {
		t.Fatalf("resumed connection with a changed pin: err = %v, want *MismatchError", err)
	}
}
