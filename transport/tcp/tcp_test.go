package tcp_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/tcp"
	"github.com/ferryproject/ferry/transport/transporttest"
)

func TestPlaintextConformance(t *testing.T) {
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			return tcp.NewPlaintext(tcp.Config{}), tcp.NewPlaintext(tcp.Config{})
		},
		WrongProtocolServer: httpServer,
	}.Run(t)
}

func TestTLSConformance(t *testing.T) {
	pki := testpki.New(t)
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			return newTLS(t, pki.ClientTLS()), newTLS(t, pki.ServerTLS())
		},
		WrongProtocolServer: func(t *testing.T) string { return tlsWrongALPN(t, pki) },
	}.Run(t)
}

func newTLS(t *testing.T, conf *tls.Config) *tcp.Transport {
	t.Helper()
	tr, err := tcp.NewTLS(conf, tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// httpServer is a TCP peer that speaks HTTP, not ferry.
func httpServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// tlsWrongALPN is a TLS server, trusted by the test CA, that speaks only h2.
func tlsWrongALPN(t *testing.T, pki *testpki.PKI) string {
	conf := pki.ServerTLS()
	conf.NextProtos = []string{"h2"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// A TLS listener with AllowPlaintext serves plain TCP clients on the same
// port, and refuses them without it.
func TestSharedPortPlaintext(t *testing.T) {
	pki := testpki.New(t)
	for _, allow := range []bool{true, false} {
		server, err := tcp.NewTLS(pki.ServerTLS(), tcp.Config{AllowPlaintext: allow})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ln, err := server.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				s, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				go func() {
					st, err := s.AcceptStream(ctx)
					if err != nil {
						return
					}
					buf := make([]byte, 5)
					n, _ := st.Read(buf)
					st.Write(buf[:n])
					st.Close()
				}()
			}
		}()
		for _, client := range []transport.Transport{tcp.NewPlaintext(tcp.Config{}), newTLS(t, pki.ClientTLS())} {
			sess, err := client.Dial(ctx, ln.Addr().String())
			if err != nil {
				t.Fatalf("allow=%v %s: dial: %v", allow, client.Name(), err)
			}
			wantOK := allow || client.Name() == "tls"
			buf := make([]byte, 5)
			st, err := sess.OpenStream(ctx)
			if err == nil {
				st.SetDeadline(time.Now().Add(5 * time.Second))
				st.Write([]byte("hello"))
				_, err = st.Read(buf)
			}
			if wantOK && (err != nil || string(buf) != "hello") {
				t.Errorf("allow=%v %s: got %q, %v; want an echo", allow, client.Name(), buf, err)
			}
			if !wantOK && err == nil {
				t.Errorf("allow=%v %s: a plaintext session was served on a TLS-only port", allow, client.Name())
			}
			sess.CloseWithError(0, "")
		}
	}
}
