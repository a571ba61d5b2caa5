package transporttest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
	"github.com/ferryproject/ferry/transport/transporttest"
)

// These tests run the suite over every transport from one place, which
// also tests the suite itself against real implementations. Each
// transport's own package runs the suite too.

func TestTCP(t *testing.T) {
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			c, s := tcp.NewPlaintext(tcp.Config{}), tcp.NewPlaintext(tcp.Config{})
			t.Cleanup(func() { c.Close() })
			t.Cleanup(func() { s.Close() })
			return c, s
		},
		WrongProtocolServer: func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return httpServer(t, ln)
		},
	}.Run(t)
}

func TestTLS(t *testing.T) {
	// One CA for the test, so that the wrong-protocol server is refused for
	// its protocol and not for an unknown certificate.
	pki := testpki.New(t)
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			c, err := tcp.NewTLS(pki.ClientTLS(), tcp.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			s, err := tcp.NewTLS(pki.ServerTLS(), tcp.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return c, s
		},
		WrongProtocolServer: func(t *testing.T) string {
			tc := pki.ServerTLS()
			tc.NextProtos = []string{"h2", "http/1.1"}
			return tlsHTTPServer(t, tc)
		},
	}.Run(t)
}

// TestTLSServerWithoutALPN covers the case the suite's wrong-protocol server
// does not: Go's TLS servers without NextProtos complete the handshake with
// no ALPN at all, so the client must check what was negotiated.
func TestTLSServerWithoutALPN(t *testing.T) {
	pki := testpki.New(t)
	client, err := tcp.NewTLS(pki.ClientTLS(), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	tc := pki.ServerTLS()
	tc.NextProtos = nil
	addr := tlsHTTPServer(t, tc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = func() error {
		s, err := client.Dial(ctx, addr)
		if err != nil {
			return err
		}
		defer s.CloseWithError(0, "")
		st, err := s.OpenStream(ctx)
		if err != nil {
			return err
		}
		defer st.Abort(0)
		d, _ := ctx.Deadline()
		st.SetDeadline(d)
		if _, err := st.Write([]byte{1}); err != nil {
			return err
		}
		if _, err := st.Read(make([]byte, 1)); err != nil {
			return err
		}
		return errors.New("exchanged a byte with it")
	}()
	if !errors.Is(err, transport.ErrWrongProtocol) {
		t.Errorf("dialing a TLS server that negotiates no ALPN: %v; want transport.ErrWrongProtocol", err)
	}
}

func TestQUIC(t *testing.T) {
	pki := testpki.New(t)
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			c, err := quic.New(pki.ClientTLS(), quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			s, err := quic.New(pki.ServerTLS(), quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return c, s
		},
		WrongProtocolServer: func(t *testing.T) string { return quicWrongALPN(t, pki) },
	}.Run(t)
}

// httpServer answers every connection on ln with an HTTP error, as a web
// server on the wrong port would, and returns ln's address.
func httpServer(t *testing.T, ln net.Listener) string {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Read(make([]byte, 1024)) // whatever the client says first
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsHTTPServer is httpServer under TLS with the configuration tc.
func tlsHTTPServer(t *testing.T, tc *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	return httpServer(t, ln)
}

// quicWrongALPN starts a QUIC server that speaks only "h3".
func quicWrongALPN(t *testing.T, pki *testpki.PKI) string {
	t.Helper()
	tc := pki.ServerTLS()
	tc.NextProtos = []string{"h3"}
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
