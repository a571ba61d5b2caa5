package transporttest_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
	quicgo "github.com/quic-go/quic-go"
)

// benchSize is what one benchmark operation moves: large enough that
// setup is noise, small enough for a quick `make bench`.
const benchSize = 64 << 20

// BenchmarkThroughput moves benchSize bytes over one stream per operation,
// server to client, for every transport and, side by side in the same run,
// for a bare socket of the same kind (no ferry framing), so the cost of each
// transport's layer is visible: go test -run '^$' -bench Throughput
// ./transport/transporttest/
func BenchmarkThroughput(b *testing.B) {
	pki := testpki.New(b)
	b.Run("tcp-bare", func(b *testing.B) {
		benchBare(b, func(c net.Conn) net.Conn { return c }, func(c net.Conn) net.Conn { return c })
	})
	b.Run("tcp", func(b *testing.B) {
		benchTransport(b, tcp.NewPlaintext(tcp.Config{}), tcp.NewPlaintext(tcp.Config{}))
	})
	b.Run("tls-bare", func(b *testing.B) {
		benchBare(b,
			func(c net.Conn) net.Conn { return tls.Client(c, pki.ClientTLS()) },
			func(c net.Conn) net.Conn { return tls.Server(c, pki.ServerTLS()) })
	})
	b.Run("tls", func(b *testing.B) {
		c, _ := tcp.NewTLS(pki.ClientTLS(), tcp.Config{})
		s, _ := tcp.NewTLS(pki.ServerTLS(), tcp.Config{})
		benchTransport(b, c, s)
	})
	b.Run("quic-bare", func(b *testing.B) { benchBareQUIC(b, pki) })
	b.Run("quic", func(b *testing.B) {
		c, err := quic.New(pki.ClientTLS(), quic.Config{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := quic.New(pki.ServerTLS(), quic.Config{})
		if err != nil {
			b.Fatal(err)
		}
		benchTransport(b, c, s)
	})
}

// serveBenchRequest reads a request (one byte) from rw and answers it with
// benchSize bytes, written from buf.
func serveBenchRequest(rw io.ReadWriter, buf []byte) error {
	var req [1]byte
	if _, err := io.ReadFull(rw, req[:]); err != nil {
		return err
	}
	for sent := 0; sent < benchSize; sent += len(buf) {
		if _, err := rw.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// readBenchReply reads one answer of serveBenchRequest to its end, through
// buf, and fails b unless it was exactly benchSize bytes.
func readBenchReply(b *testing.B, r io.Reader, buf []byte) {
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
	if err != nil || n != benchSize {
		b.Fatalf("read %d bytes, %v; want %d then EOF", n, err, benchSize)
	}
}

func benchTransport(b *testing.B, client, server transport.Transport) {
	b.Cleanup(func() { client.Close(); server.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ln, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		sess, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer sess.CloseWithError(0, "")
		buf := make([]byte, 256<<10)
		for {
			st, err := sess.AcceptStream(ctx)
			if err != nil {
				return
			}
			if serveBenchRequest(st, buf) != nil {
				return
			}
			st.CloseWrite()
			io.Copy(io.Discard, st)
			st.Close()
		}
	}()
	sess, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer sess.CloseWithError(0, "")
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		st.CloseWrite()
		readBenchReply(b, st, buf)
		st.Close()
	}
}

func benchBare(b *testing.B, wrapClient, wrapServer func(net.Conn) net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c = wrapServer(c)
				defer c.Close()
				buf := make([]byte, 256<<10)
				serveBenchRequest(c, buf)
			}()
		}
	}()
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c := wrapClient(raw)
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		readBenchReply(b, c, buf)
		c.Close()
	}
}

// benchBareQUIC is benchTransport's workload on quic-go itself, with its
// default configuration: one connection, one stream per operation.
func benchBareQUIC(b *testing.B, pki *testpki.PKI) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	serverTLS, clientTLS := pki.ServerTLS(), pki.ClientTLS()
	serverTLS.NextProtos, clientTLS.NextProtos = []string{"bench"}, []string{"bench"}
	ln, err := quicgo.ListenAddr("127.0.0.1:0", serverTLS, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer conn.CloseWithError(0, "")
		buf := make([]byte, 256<<10)
		for {
			st, err := conn.AcceptStream(ctx)
			if err != nil {
				return
			}
			if serveBenchRequest(st, buf) != nil {
				return
			}
			st.Close()
		}
	}()
	conn, err := quicgo.DialAddr(ctx, ln.Addr().String(), clientTLS, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		st, err := conn.OpenStream()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		st.Close()
		readBenchReply(b, st, buf)
	}
}
