package transporttest_test

import (
	"context"
	"testing"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/transporttest"
)

// These tests run the suite over every transport from one place, which
// also tests the suite itself against real implementations. Each
// transport's own package runs the suite too.

func TestQUIC(t *testing.T) {
	// One CA for the test, so that the wrong-protocol server is refused for
	// its ALPN and not for an unknown certificate.
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

// quicWrongALPN starts a QUIC server that speaks only "h3".
func quicWrongALPN(t *testing.T, pki *testpki.PKI) string {
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
