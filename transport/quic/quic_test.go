package quic

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
)

// These tests check what is particular to the QUIC adapter: its error
// mapping (quic-go's error stays in the chain), its Close rules, its
// listener lifetime and its configuration. The behaviour every transport
// shares is checked by the conformance suite (conformance_test.go).

const testTimeout = 30 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newTransports returns a client and a server Transport trusting one test
// CA; both are closed at cleanup.
func newTransports(t testing.TB, clientCfg, serverCfg Config) (client, server *Transport) {
	t.Helper()
	pki := testpki.New(t)
	client, err := New(pki.ClientTLS(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = New(pki.ServerTLS(), serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func listen(t testing.TB, tr *Transport) transport.Listener {
	t.Helper()
	ln, err := tr.Listen(testContext(t), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// connect dials ln and accepts the session; both are closed at cleanup.
func connect(t testing.TB, client *Transport, ln transport.Listener) (dialed, accepted transport.Session) {
	t.Helper()
	ctx := testContext(t)
	type result struct {
		s   transport.Session
		err error
	}
	acc := make(chan result, 1)
	go func() {
		s, err := ln.Accept(ctx)
		acc <- result{s, err}
	}()
	dialed, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { dialed.CloseWithError(transport.CodeNoError, "") })
	r := <-acc
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { r.s.CloseWithError(transport.CodeNoError, "") })
	return dialed, r.s
}

func pair(t testing.TB) (dialed, accepted transport.Session) {
	t.Helper()
	client, server := newTransports(t, Config{}, Config{})
	return connect(t, client, listen(t, server))
}

// openPair opens a stream, announces it with one byte and accepts it.
func openPair(t testing.TB, dialed, accepted transport.Session) (opened, acc transport.Stream) {
	t.Helper()
	ctx := testContext(t)
	opened, err := dialed.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	t.Cleanup(func() { opened.Close() })
	if _, err := opened.Write([]byte{'!'}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	acc, err = accepted.AcceptStream(ctx)
	if err != nil {
		t.Fatalf("AcceptStream: %v", err)
	}
	t.Cleanup(func() { acc.Close() })
	var b [1]byte
	if _, err := io.ReadFull(acc, b[:]); err != nil {
		t.Fatalf("reading the first byte: %v", err)
	}
	deadline, _ := ctx.Deadline()
	opened.SetDeadline(deadline)
	acc.SetDeadline(deadline)
	return opened, acc
}

func TestNewRequiresTLS(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil, Config{}) succeeded; want an error")
	}
}

func TestNewForcesTLS13AndALPN(t *testing.T) {
	in := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h3"}}
	tr, err := New(in, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.tlsConf == in {
		t.Error("New kept the caller's *tls.Config; want a clone")
	}
	if in.MinVersion != tls.VersionTLS12 || len(in.NextProtos) != 1 || in.NextProtos[0] != "h3" {
		t.Errorf("New modified the caller's config: %+v", in)
	}
	if tr.tlsConf.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion = %#x, want TLS 1.3", tr.tlsConf.MinVersion)
	}
	if len(tr.tlsConf.NextProtos) != 1 || tr.tlsConf.NextProtos[0] != transport.ALPN {
		t.Errorf("NextProtos = %q, want [%q]", tr.tlsConf.NextProtos, transport.ALPN)
	}
	if tr.Name() != "quic" {
		t.Errorf("Name() = %q, want quic", tr.Name())
	}
}

func TestConfigDefaults(t *testing.T) {
	var zero Config
	d, l := zero.quicConfig(true), zero.quicConfig(false)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"dial HandshakeIdleTimeout", d.HandshakeIdleTimeout, 5 * time.Second},
		{"dial MaxIdleTimeout", d.MaxIdleTimeout, 30 * time.Second},
		{"dial KeepAlivePeriod", d.KeepAlivePeriod, 10 * time.Second},
		{"listen KeepAlivePeriod", l.KeepAlivePeriod, time.Duration(0)},
		{"listen MaxIncomingStreams", l.MaxIncomingStreams, int64(100)},
		{"dial MaxIncomingStreams (peer may open none)", d.MaxIncomingStreams, int64(-1)},
		{"listen MaxIncomingUniStreams", l.MaxIncomingUniStreams, int64(-1)},
		{"dial MaxStreamReceiveWindow", d.MaxStreamReceiveWindow, uint64(16 << 20)},
		{"dial MaxConnectionReceiveWindow", d.MaxConnectionReceiveWindow, uint64(24 << 20)},
		{"RequireStreamCreditRelease", d.RequireStreamCreditRelease || l.RequireStreamCreditRelease, false},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	off := Config{KeepAlivePeriod: -1, MaxStreamReceiveWindow: 64 << 10}.quicConfig(true)
	if off.KeepAlivePeriod != 0 {
		t.Errorf("KeepAlivePeriod -1: quic-go period = %v, want 0 (off)", off.KeepAlivePeriod)
	}
	if off.InitialStreamReceiveWindow > off.MaxStreamReceiveWindow {
		t.Errorf("initial stream window %d above the configured maximum %d", off.InitialStreamReceiveWindow, off.MaxStreamReceiveWindow)
	}

	if _, err := New(&tls.Config{}, Config{MaxIdleTimeout: -time.Second}); err == nil {
		t.Error("New accepted a negative MaxIdleTimeout")
	}
}

func TestHalfClose(t *testing.T) {
	dialed, accepted := pair(t)
	c, s := openPair(t, dialed, accepted)

	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Errorf("second CloseWrite: %v, want nil", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after CloseWrite: %v, want net.ErrClosed", err)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "request" {
		t.Fatalf("peer read %q, %v; want \"request\" and EOF", got, err)
	}
	// The other direction still works.
	if _, err := s.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err = io.ReadAll(c)
	if err != nil || string(got) != "answer" {
		t.Fatalf("read %q, %v after own CloseWrite; want \"answer\" and EOF", got, err)
	}
}

// checkStreamError checks that err means an abort with code seen from the
// side given by remote, and that quic-go's error is still in the chain.
func checkStreamError(t *testing.T, what string, err error, code transport.ErrorCode, remote bool) {
	t.Helper()
	var se *transport.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("%s: %v (%T), want a *transport.StreamError", what, err, err)
	}
	if se.Code != code || se.Remote != remote {
		t.Errorf("%s: %+v, want code %d remote %v", what, *se, code, remote)
	}
	var qe *quicgo.StreamError
	if !errors.As(err, &qe) {
		t.Errorf("%s: quic-go's *StreamError is not in the chain: %v", what, err)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("%s: %v does not unwrap to net.ErrClosed", what, err)
	}
}

func TestAbortCodeSeenByPeer(t *testing.T) {
	dialed, accepted := pair(t)
	c, s := openPair(t, dialed, accepted)

	c.Abort(42)
	c.Abort(43) // harmless, changes nothing

	_, err := io.ReadAll(s)
	checkStreamError(t, "peer Read after Abort", err, 42, true)

	// STOP_SENDING: the peer's writes fail too, once it arrives.
	buf := make([]byte, 32<<10)
	for err = nil; err == nil; _, err = s.Write(buf) {
	}
	checkStreamError(t, "peer Write after Abort", err, 42, true)

	_, err = c.Read(buf)
	checkStreamError(t, "own Read after Abort", err, 42, false)
	if err := c.CloseWrite(); err == nil {
		t.Error("CloseWrite after Abort succeeded; the peer never sees a FIN")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Abort: %v", err)
	}
}

// TestCloseDuringWriteResets checks the adapter's own rule: Close with a
// Write in flight resets the stream instead of sending a FIN, so the peer
// cannot mistake the cut-off data for a whole transfer.
func TestCloseDuringWriteResets(t *testing.T) {
	dialed, accepted := pair(t)
	c, s := openPair(t, dialed, accepted)

	wrote := make(chan error, 1)
	go func() {
		// Far beyond the receive windows: blocks until Close.
		_, err := c.Write(make([]byte, 64<<20))
		wrote <- err
	}()
	// Let some data arrive, so that the Write is surely in flight.
	if _, err := io.ReadFull(s, make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-wrote; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write interrupted by Close: %v, want net.ErrClosed", err)
	}
	n, err := io.Copy(io.Discard, s)
	if err == nil {
		t.Fatalf("peer read %d bytes then a clean EOF; want the reset to show", n)
	}
	checkStreamError(t, "peer Read", err, transport.CodeClosed, true)

	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

func TestSessionCloseCodeAndReason(t *testing.T) {
	dialed, accepted := pair(t)
	c, s := openPair(t, dialed, accepted)

	if err := accepted.CloseWithError(7, "bye"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	var se *transport.SessionError
	if !errors.As(err, &se) || se.Code != 7 || se.Reason != "bye" || !se.Remote {
		t.Fatalf("peer Read: %v, want SessionError{7, bye, remote}", err)
	}
	var ae *quicgo.ApplicationError
	if !errors.As(err, &ae) {
		t.Errorf("quic-go's *ApplicationError is not in the chain: %v", err)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("%v does not unwrap to net.ErrClosed", err)
	}

	ctx := testContext(t)
	for name, sess := range map[string]transport.Session{"dialed": dialed, "accepted": accepted} {
		select {
		case <-sess.Context().Done():
		case <-ctx.Done():
			t.Fatalf("%s session's Context not cancelled", name)
		}
		cause := context.Cause(sess.Context())
		if !errors.As(cause, &se) || se.Code != 7 || se.Remote != (name == "dialed") {
			t.Errorf("%s session's context cause: %v, want SessionError code 7", name, cause)
		}
	}
	// Locally, the closed session fails with net.ErrClosed too.
	_, err = s.Write([]byte("x"))
	if !errors.As(err, &se) || se.Remote || !errors.Is(err, net.ErrClosed) {
		t.Errorf("own Write after CloseWithError: %v, want a local SessionError", err)
	}
	if err := accepted.CloseWithError(8, "again"); err != nil {
		t.Errorf("second CloseWithError: %v", err)
	}
}

func TestWrongSide(t *testing.T) {
	dialed, accepted := pair(t)
	ctx := testContext(t)
	if _, err := accepted.OpenStream(ctx); !errors.Is(err, transport.ErrWrongSide) {
		t.Errorf("OpenStream on the accepted session: %v, want ErrWrongSide", err)
	}
	if _, err := dialed.AcceptStream(ctx); !errors.Is(err, transport.ErrWrongSide) {
		t.Errorf("AcceptStream on the dialed session: %v, want ErrWrongSide", err)
	}
	// On the wire too: the dialed session grants the server no stream.
	qconn := accepted.(*session).conn
	if _, err := qconn.OpenStream(); err == nil {
		t.Error("the server could open a stream on quic-go's level; want the client to grant none")
	}
}

// foreignServer starts a quic-go listener that does not speak ferry/1: with
// alpn as its only protocol, or with none when alpn is empty.
func foreignServer(t testing.TB, pki *testpki.PKI, alpn string) string {
	t.Helper()
	tc := pki.ServerTLS()
	tc.NextProtos = nil
	if alpn != "" {
		tc.NextProtos = []string{alpn}
	}
	ln, err := quicgo.ListenAddr("127.0.0.1:0", tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			conn.CloseWithError(0, "")
		}
	}()
	return ln.Addr().String()
}

func TestWrongProtocol(t *testing.T) {
	pki := testpki.New(t)
	client, err := New(pki.ClientTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	for _, alpn := range []string{"h3", ""} {
		name := "ALPN " + alpn
		if alpn == "" {
			name = "no ALPN"
		}
		t.Run(name, func(t *testing.T) {
			addr := foreignServer(t, pki, alpn)
			s, err := client.Dial(testContext(t), addr)
			if err == nil {
				s.CloseWithError(0, "")
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, transport.ErrWrongProtocol) {
				t.Errorf("Dial: %v, want ErrWrongProtocol", err)
			}
			var te *quicgo.TransportError
			if !errors.As(err, &te) {
				t.Errorf("quic-go's *TransportError is not in the chain: %v", err)
			}
		})
	}
}

func TestUntrustedServerRefused(t *testing.T) {
	pki := testpki.New(t)
	client, err := New(pki.ClientTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	stc := pki.ServerTLS()
	stc.Certificates = []tls.Certificate{testpki.Untrusted(t)}
	server, err := New(stc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, server)
	s, err := client.Dial(testContext(t), ln.Addr().String())
	if err == nil {
		s.CloseWithError(0, "")
		t.Fatal("Dial to a server with an untrusted certificate succeeded")
	}
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("Dial: %v, want the certificate verification error in the chain", err)
	}
	if errors.Is(err, transport.ErrWrongProtocol) {
		t.Errorf("Dial: %v is not a protocol mismatch", err)
	}
}

// echoOnce answers one stream on s: it copies what it reads back, then
// closes. It runs until the stream or session ends.
func echoOnce(s transport.Session) {
	go func() {
		str, err := s.AcceptStream(context.Background())
		if err != nil {
			return
		}
		defer str.Close()
		io.Copy(str, str)
	}()
}

func echo(t *testing.T, s transport.Session, msg string) {
	t.Helper()
	ctx := testContext(t)
	str, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer str.Close()
	deadline, _ := ctx.Deadline()
	str.SetDeadline(deadline)
	if _, err := str.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	str.CloseWrite()
	got, err := io.ReadAll(str)
	if err != nil || !bytes.Equal(got, []byte(msg)) {
		t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
	}
}

func TestListenerCloseKeepsAcceptedSessions(t *testing.T) {
	client, server := newTransports(t, Config{}, Config{})
	ln := listen(t, server)
	dialed, accepted := connect(t, client, ln)

	if err := ln.Close(); err != nil {
		t.Fatalf("Listener.Close: %v", err)
	}
	if _, err := ln.Accept(testContext(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("second Listener.Close: %v", err)
	}

	echoOnce(accepted)
	echo(t, dialed, "still here")
	l := ln.(*listener)
	select {
	case <-l.gone:
		t.Fatal("the listener's socket was released while an accepted session lived")
	default:
	}

	// The socket goes with the last accepted session.
	accepted.CloseWithError(transport.CodeNoError, "done")
	select {
	case <-l.gone:
	case <-testContext(t).Done():
		t.Fatal("the listener's socket was not released after its last session ended")
	}
	if _, err := l.udp.WriteTo([]byte("x"), l.udp.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener socket still open: WriteTo = %v", err)
	}
}

func TestTransportCloseClosesDialedSessions(t *testing.T) {
	client, server := newTransports(t, Config{}, Config{})
	ln := listen(t, server)
	dialed1, accepted1 := connect(t, client, ln)
	_, accepted2 := connect(t, client, ln)

	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := testContext(t)
	for i, s := range []transport.Session{dialed1, accepted1, accepted2} {
		select {
		case <-s.Context().Done():
		case <-ctx.Done():
			t.Fatalf("session %d still alive after the client Transport closed", i)
		}
	}
	// The peers were told (CONNECTION_CLOSE), rather than left to time out.
	var se *transport.SessionError
	if cause := context.Cause(accepted1.Context()); !errors.As(cause, &se) || !se.Remote || se.Code != transport.CodeNoError {
		t.Errorf("server session ended with %v, want a remote SessionError with CodeNoError", cause)
	}
	if _, err := client.Dial(ctx, ln.Addr().String()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want net.ErrClosed", err)
	}
}

func TestDialReusesOneSocket(t *testing.T) {
	client, server := newTransports(t, Config{}, Config{})
	ln := listen(t, server)
	a, _ := connect(t, client, ln)
	b, _ := connect(t, client, ln)
	if a.LocalAddr().String() != b.LocalAddr().String() {
		t.Errorf("two dials used %v and %v; want one shared socket", a.LocalAddr(), b.LocalAddr())
	}
}

func TestIdleTimeout(t *testing.T) {
	// No keep-alives from the client: the session idles out after 1s.
	cfg := Config{MaxIdleTimeout: time.Second, KeepAlivePeriod: -1}
	client, server := newTransports(t, cfg, cfg)
	dialed, _ := connect(t, client, listen(t, server))
	ctx := testContext(t)
	select {
	case <-dialed.Context().Done():
	case <-ctx.Done():
		t.Fatal("an idle session did not time out")
	}
	cause := context.Cause(dialed.Context())
	var nerr net.Error
	if !errors.As(cause, &nerr) || !nerr.Timeout() {
		t.Errorf("cause %v: want a net.Error with Timeout() true", cause)
	}
	if !errors.Is(cause, net.ErrClosed) {
		t.Errorf("cause %v does not unwrap to net.ErrClosed", cause)
	}
	var ie *quicgo.IdleTimeoutError
	if !errors.As(cause, &ie) {
		t.Errorf("quic-go's IdleTimeoutError is not in the chain: %v", cause)
	}
	if _, err := dialed.OpenStream(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("OpenStream on a timed-out session: %v, want net.ErrClosed", err)
	}
}

// BenchmarkStreamThroughput measures the bare transport: the server sends
// 64 MiB per op on one stream to a client that reads it to EOF, on loopback
// in one process, as a ferry download does. Report with -benchmem off; the
// MB/s column is the figure to compare with TCP and TLS.
func BenchmarkStreamThroughput(b *testing.B) {
	const size = 64 << 20
	client, server := newTransports(b, Config{}, Config{})
	dialed, accepted := connect(b, client, listen(b, server))

	serveErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			str, err := accepted.AcceptStream(context.Background())
			if err != nil {
				serveErr <- nil // session closed at cleanup
				return
			}
			var req [1]byte
			if _, err := io.ReadFull(str, req[:]); err != nil {
				serveErr <- err
				return
			}
			for sent := 0; sent < size; sent += len(buf) {
				if _, err := str.Write(buf); err != nil {
					serveErr <- err
					return
				}
			}
			str.Close()
		}
	}()

	buf := make([]byte, 64<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		str, err := dialed.OpenStream(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := str.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		str.SetReadDeadline(time.Now().Add(testTimeout))
		n, err := io.CopyBuffer(io.Discard, onlyReader{str}, buf)
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v; want %d and EOF", n, err, size)
		}
		str.Close()
	}
	b.StopTimer()
	dialed.CloseWithError(transport.CodeNoError, "")
	if err := <-serveErr; err != nil {
		b.Fatal(err)
	}
}

// onlyReader hides WriteTo/ReadFrom so io.CopyBuffer uses our buffer.
type onlyReader struct{ io.Reader }
