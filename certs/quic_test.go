package certs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	quicgo "github.com/quic-go/quic-go"

	"github.com/ferryproject/ferry/transport"
)

// The same configurations serve QUIC, and a changed identity reaches the
// caller of quic-go's Dial as a *MismatchError.
func TestQUICUsesTheSameTrust(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	listen := func(id *Identity) string {
		ln, err := quicgo.ListenAddr("127.0.0.1:0", serverConfig(t, id, ServerOptions{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				c.CloseWithError(0, "")
			}
		}()
		return ln.Addr().String()
	}

	kh, _ := OpenKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	first := 0
	opts := ClientOptions{ServerAddr: "ferry.test:4433", KnownHosts: kh, OnFirstUse: func(string, Fingerprint) { first++ }}

	id := newIdentity(t)
	conn, err := quicgo.DialAddr(ctx, listen(id), clientConfig(t, opts), nil)
	if err != nil {
		t.Fatalf("first use over QUIC: %v", err)
	}
	if p := conn.ConnectionState().TLS.NegotiatedProtocol; p != transport.ALPN {
		t.Errorf("ALPN %q", p)
	}
	conn.CloseWithError(0, "")
	if first != 1 {
		t.Errorf("OnFirstUse called %d times", first)
	}

	id2 := newIdentity(t)
	_, err = quicgo.DialAddr(ctx, listen(id2), clientConfig(t, opts), nil)
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Known != id.Fingerprint() || mm.Got != id2.Fingerprint() {
		t.Fatalf("changed identity over QUIC: err = %v, want *MismatchError", err)
	}
}
