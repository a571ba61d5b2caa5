package quic

import (
	"testing"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/transporttest"
)

// TestConformance runs the suite every ferry transport passes. Its goroutine
// leak check counts every goroutine in the binary, so no test in this
// package runs in parallel.
func TestConformance(t *testing.T) {
	// One CA, so that the wrong-protocol server is refused for its ALPN and
	// not for an unknown certificate.
	pki := testpki.New(t)
	transporttest.Suite{
		New: func(t *testing.T) (client, server transport.Transport) {
			c, err := New(pki.ClientTLS(), Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			s, err := New(pki.ServerTLS(), Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return c, s
		},
		WrongProtocolServer: func(t *testing.T) string { return foreignServer(t, pki, "h3") },
	}.Run(t)
}
