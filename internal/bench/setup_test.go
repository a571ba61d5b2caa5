package bench

import (
	"context"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transfer"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
)

// setupServer serves an empty folder over TLS and QUIC (with 0-RTT) on one
// port of 127.0.0.1, and returns the address and a function that makes
// client transports trusting it.
func setupServer(t *testing.T) (string, func(string, bool) (transport.Transport, error)) {
	t.Helper()
	pki := testpki.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	srv, err := transfer.NewServer(t.TempDir(), transfer.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tlsTr, err := tcp.NewTLS(pki.ServerTLS(), tcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := tlsTr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quicTr, err := quic.New(pki.ServerTLS(), quic.Config{EarlyData: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { quicTr.Close() })
	quicLn, err := quicTr.Listen(ctx, tlsLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, tlsLn)
	go srv.Serve(ctx, quicLn)
	return tlsLn.Addr().String(), func(name string, early bool) (transport.Transport, error) {
		if name == "tls" {
			return tcp.NewTLS(pki.ClientTLS(), tcp.Config{})
		}
		return quic.New(pki.ClientTLS(), quic.Config{EarlyData: early})
	}
}

// runSetupTrials runs the setup scenario over the given transports and
// checks that every handshake of each was measured and none failed; the
// trials themselves check that a resumed session resumed and that 0-RTT
// was accepted.
func runSetupTrials(t *testing.T, transports ...string) []Trial {
	t.Helper()
	addr, newTransport := setupServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	trials, err := Run(ctx, Config{
		Addr: addr, Transports: transports, NewTransport: newTransport,
		Scenarios: []string{Setup}, SetupTrials: 2, WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tr := range trials {
		if tr.Error != "" {
			t.Errorf("setup over %s, round %d: %s", tr.Label(), tr.Round, tr.Error)
		}
		got[tr.Label()]++
	}
	for _, tn := range transports {
		for _, hs := range Handshakes(tn) {
			label := Trial{Transport: tn, Handshake: hs}.Label()
			if got[label] != 3 {
				t.Errorf("%s: %d trials, want 3 (a warm-up and 2 rounds)", label, got[label])
			}
		}
	}
	return trials
}

func TestRunSetupResumedTLS(t *testing.T) {
	runSetupTrials(t, "tls")
}
