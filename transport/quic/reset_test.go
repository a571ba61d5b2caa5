package quic

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
)

// TestStatelessResetAfterRestart kills a server without a word to its
// clients and starts another on the same port with the same
// StatelessResetKey: the client's next packet is answered with a stateless
// reset, and its blocked Read fails at once instead of after the idle
// timeout (a minute here, longer than the test's deadline).
func TestStatelessResetAfterRestart(t *testing.T) {
	pki := testpki.New(t)
	key := &[32]byte{1, 2, 3}
	cfg := Config{StatelessResetKey: key, MaxIdleTimeout: time.Minute, KeepAlivePeriod: -1}
	client, err := New(pki.ClientTLS(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	first, err := New(pki.ServerTLS(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, first)
	addr := ln.Addr().String()
	dialed, accepted := connect(t, client, ln)
	opened, _ := openPair(t, dialed, accepted)

	// The crash: the socket goes without CONNECTION_CLOSE.
	l := ln.(*listener)
	l.qt.Close()
	l.udp.Close()

	second, err := New(pki.ServerTLS(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ln2 transport.Listener
	for ln2 == nil { // the old socket's port may take a moment to free
		if ln2, err = second.Listen(ctx, addr); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Cleanup(func() { ln2.Close() })

	opened.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := opened.Write([]byte("are you there?")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	_, err = io.ReadFull(opened, make([]byte, 1))
	if _, ok := errors.AsType[*quicgo.StatelessResetError](err); !ok {
		t.Fatalf("Read after the server restarted: %v; want a stateless reset in the chain", err)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("the reset session's error %v does not unwrap to net.ErrClosed", err)
	}
}
