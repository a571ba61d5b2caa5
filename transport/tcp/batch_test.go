package tcp

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/ferryproject/ferry/internal/testpki"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// The records of a batch reach the socket in one write, in order, and the
// peer reads exactly the bytes written.
func TestRecordBatcherOneWrite(t *testing.T) {
	pki := testpki.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*asyncChunk/16) // 3 chunks, 12 records
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(tls.Server(c, pki.ServerTLS()))
		got <- b
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: raw}
	batcher := &recordBatcher{Conn: cc}
	tc := tls.Client(batcher, pki.ClientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	before := cc.writes.Load()
	batcher.begin()
	for i := 0; i < len(data); i += asyncChunk {
		if _, err := tc.Write(data[i : i+asyncChunk]); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.writes.Load() - before; n != 0 {
		t.Errorf("%d writes reached the socket while the batch was open", n)
	}
	if err := batcher.end(); err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load() - before; n != 1 {
		t.Errorf("%d writes for one batch of 12 records, want 1", n)
	}
	// Outside a batch every record is written as crypto/tls writes it.
	if _, err := tc.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load() - before; n != 2 {
		t.Errorf("a write outside a batch did not go straight to the socket (%d writes in all)", n)
	}
	tc.Close()
	if b := <-got; !bytes.Equal(b, append(data, "tail"...)) {
		t.Errorf("the peer read %d bytes, not the %d written", len(b), len(data)+4)
	}
}
