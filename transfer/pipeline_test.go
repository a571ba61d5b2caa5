package transfer

import (
	"testing"

	"github.com/ferryproject/ferry/internal/wire"
)

// A fresh client sends its first echo right behind HELLO, without waiting
// for HELLO_REPLY, so the first reply comes one round trip after the
// transport is up (issue 4: setup costs what the protocols say). The server
// here answers HELLO only after the ECHO has arrived: a client that waited
// for the reply first would deadlock until the test's deadline.
func TestEchoRidesBehindHello(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		ln, err := k.server(t).Listen(testContext(t), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan error, 1)
		go func() {
			served <- func() error {
				ctx := testContext(t)
				sess, err := ln.Accept(ctx)
				if err != nil {
					return err
				}
				defer sess.CloseWithError(0, "")
				ctrl, err := sess.AcceptStream(ctx)
				if err != nil {
					return err
				}
				r := wire.NewReader(ctrl, wire.MaxFrame)
				if _, err := r.ReadMessage(); err != nil { // HELLO
					return err
				}
				m, err := r.ReadMessage()
				if err != nil {
					return err
				}
				echo, ok := m.(*wire.Echo)
				if !ok {
					t.Errorf("second message %v, want ECHO", m.Type())
					return nil
				}
				var out []byte
				out, _ = wire.AppendFrame(out, &wire.HelloReply{Version: wire.Version, MaxFrame: wire.MaxFrame,
					MaxTransfers: 1, Algorithms: []wire.Algorithm{wire.BLAKE3, wire.SHA256}})
				out, _ = wire.AppendFrame(out, &wire.EchoReply{ID: echo.ID, Payload: echo.Payload})
				if _, err := ctrl.Write(out); err != nil {
					return err
				}
				r.ReadMessage() // until the client closes
				return nil
			}()
		}()
		c := dial(t, k.client(t), ln.Addr().String(), ClientConfig{})
		got, err := c.Echo(testContext(t), []byte("first"))
		if err != nil || string(got) != "first" {
			t.Fatalf("Echo: %q, %v", got, err)
		}
		c.Close()
		if err := <-served; err != nil {
			t.Fatalf("server: %v", err)
		}
	})
}
