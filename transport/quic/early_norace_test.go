//go:build !race

// These tests open streams while a 0-RTT handshake is still running, which
// makes quic-go v0.65 write the server's transport parameters in its own
// goroutine while OpenStream reads them (quic-go issue #4303, open): the
// race detector reports it, whatever ferry does. They run without -race
// (make test runs this package a second time for them).

package quic

import (
	"context"
	"io"
	"testing"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/transporttest"
)

// warmTicket runs one session from client to a listener of server and
// reads from it, so that the client holds a resumption ticket for every
// later listener of server (they share its TLS configuration and so its
// ticket keys). TLS 1.3 tickets arrive after the handshake and are only
// processed when the client reads.
func warmTicket(t testing.TB, client, server *Transport) {
	t.Helper()
	ln := listen(t, server)
	dialed, accepted := connect(t, client, ln)
	opened, acc := openPair(t, dialed, accepted)
	if _, err := acc.Write([]byte{'!'}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(opened, b[:]); err != nil {
		t.Fatal(err)
	}
	dialed.CloseWithError(transport.CodeNoError, "")
	ln.Close()
}

// serveEchoes serves ln's next session: on each stream it reads to EOF and
// writes back what it read. It returns the accepted session.
func serveEchoes(ctx context.Context, t testing.TB, ln transport.Listener) <-chan transport.Session {
	out := make(chan transport.Session, 1)
	go func() {
		defer close(out)
		s, err := ln.Accept(ctx)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		out <- s
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return // the session ended
			}
			go func() {
				defer st.Close()
				data, err := io.ReadAll(st)
				if err != nil {
					t.Errorf("server read: %v", err)
					return
				}
				if _, err := st.Write(data); err != nil {
					t.Errorf("server write: %v", err)
				}
				st.CloseWrite()
			}()
		}
	}()
	return out
}

// ask opens a stream on s, writes msg, closes the write side and reads the
// reply to EOF.
func ask(ctx context.Context, t testing.TB, s transport.Session, msg string) string {
	t.Helper()
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer st.Close()
	if _, err := st.Write([]byte(msg)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	reply, err := io.ReadAll(st)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return string(reply)
}

func handshakeState(ctx context.Context, t testing.TB, s transport.Session) transport.HandshakeState {
	t.Helper()
	hs, err := s.(transport.HandshakeStater).HandshakeState(ctx)
	if err != nil {
		t.Fatalf("HandshakeState: %v", err)
	}
	return hs
}

func TestEarlyDataAccepted(t *testing.T) {
	ctx := testContext(t)
	client, server := newTransports(t, Config{EarlyData: true}, Config{EarlyData: true})
	warmTicket(t, client, server)

	ln := listen(t, server)
	accepted := serveEchoes(ctx, t, ln)
	dialed, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.CloseWithError(transport.CodeNoError, "")
	if got := ask(ctx, t, dialed, "ping"); got != "ping" {
		t.Fatalf("reply %q, want %q", got, "ping")
	}
	hs := handshakeState(ctx, t, dialed)
	if !hs.TLS.DidResume || !hs.EarlyData {
		t.Errorf("client: DidResume %v, EarlyData %v; want both", hs.TLS.DidResume, hs.EarlyData)
	}
	srv := <-accepted
	if srv == nil {
		t.FailNow()
	}
	if hs := handshakeState(ctx, t, srv); !hs.EarlyData {
		t.Error("server: EarlyData false, want true")
	}
}

// TestEarlyDataRejectedIsResent dials a server that resumes sessions but
// refuses 0-RTT: quic-go discards the early data and fails its streams, and
// the transport must open them again and send their bytes again, so that
// the caller sees nothing but a normal reply.
func TestEarlyDataRejectedIsResent(t *testing.T) {
	ctx := testContext(t)
	pki := testpki.New(t)
	client, err := New(pki.ClientTLS(), Config{EarlyData: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	serverConf := pki.ServerTLS()
	accepting, err := New(serverConf, Config{EarlyData: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepting.Close() })
	warmTicket(t, client, accepting)

	// Another server for the same name: its ticket keys differ, so the
	// client's ticket (which allows 0-RTT) is refused with its early data.
	refusing, err := New(serverConf, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { refusing.Close() })
	ln := listen(t, refusing)
	accepted := serveEchoes(ctx, t, ln)
	dialed, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.CloseWithError(transport.CodeNoError, "")

	st, err := dialed.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, ok := st.(*earlyStream)
	if !ok {
		t.Fatalf("stream opened right after Dial is a %T, want *earlyStream: the dial did not try 0-RTT", st)
	}
	first := es.current()
	msg := "ping, sent twice"
	if _, err := st.Write([]byte(msg)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	reply, err := io.ReadAll(st)
	if err != nil {
		t.Fatalf("ReadAll after rejected 0-RTT: %v", err)
	}
	if string(reply) != msg {
		t.Fatalf("reply %q, want %q", reply, msg)
	}
	if es.current() == first {
		t.Error("the stream was not replaced: the 0-RTT data was not rejected and resent")
	}
	if hs := handshakeState(ctx, t, dialed); hs.EarlyData {
		t.Error("client: EarlyData true, want false (the server refused it)")
	}
	if s := <-accepted; s == nil {
		t.FailNow()
	}
	// The session stays usable after the replay.
	if got := ask(ctx, t, dialed, "again"); got != "again" {
		t.Fatalf("second reply %q, want %q", got, "again")
	}
}

// TestConformanceEarlyData runs the shared suite with 0-RTT on both sides
// and a ticket in hand, so that every session of the suite is dialed with
// 0-RTT and its first streams are early streams.
func TestConformanceEarlyData(t *testing.T) {
	pki := testpki.New(t)
	transporttest.Suite{
		New: func(t *testing.T) (transport.Transport, transport.Transport) {
			c, err := New(pki.ClientTLS(), Config{EarlyData: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			s, err := New(pki.ServerTLS(), Config{EarlyData: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			warmTicket(t, c, s)
			return c, s
		},
		WrongProtocolServer: func(t *testing.T) string { return foreignServer(t, pki, "h3") },
		EarlyDial:           true,
	}.Run(t)
}
