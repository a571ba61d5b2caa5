package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
)

// fakeServer answers one session's hello and first GET by calling handle,
// which plays a server that lies. It is built from the wire package over a
// real transport, as a hostile server would be.
func fakeServer(t *testing.T, k kit, handle func(sess transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream)) string {
	t.Helper()
	ctx := testContext(t)
	ln, err := k.server(t).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		sess, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer sess.CloseWithError(0, "")
		ctrl, err := sess.AcceptStream(ctx)
		if err != nil {
			return
		}
		var mu sync.Mutex
		send := func(m wire.Message) {
			mu.Lock()
			defer mu.Unlock()
			b, err := wire.AppendFrame(nil, m)
			if err != nil {
				panic(err)
			}
			ctrl.Write(b)
		}
		r := wire.NewReader(ctrl, wire.MaxFrame)
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(&wire.HelloReply{Version: 1, MaxFrame: wire.MaxFrame, MaxTransfers: 4, Algorithms: []wire.Algorithm{wire.BLAKE3}})
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		data, err := sess.AcceptStream(ctx)
		if err != nil {
			return
		}
		if _, err := wire.ReadDataHeader(data); err != nil {
			return
		}
		handle(sess, send, m.(*wire.Get), data)
		select {
		case <-sess.Context().Done():
		case <-ctx.Done():
		}
	}()
	return ln.Addr().String()
}

func TestLyingServer(t *testing.T) {
	content := bytes.Repeat([]byte("ferry "), 50000)
	sum := blake3.Sum256(content)
	file := func(get *wire.Get, size int) *wire.File {
		return &wire.File{ID: get.ID, Size: int64(size), Mode: 0o644, Algorithm: wire.BLAKE3}
	}
	tests := []struct {
		name      string
		integrity bool // must fail with ErrIntegrity
		handle    func(sess transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream)
	}{
		{"wrong digest", true, func(_ transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)))
			data.Write(content)
			data.Close()
			bad := sum
			bad[0] ^= 1
			send(&wire.Done{ID: get.ID, Digest: bad[:]})
		}},
		{"more bytes than announced", true, func(_ transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)-10))
			data.Write(content)
			data.Close()
			s := blake3.Sum256(content[:len(content)-10])
			send(&wire.Done{ID: get.ID, Digest: s[:]})
		}},
		{"fewer bytes than announced", true, func(_ transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)+10))
			data.Write(content)
			data.Close()
			send(&wire.Done{ID: get.ID, Digest: sum[:]})
		}},
		{"digest of the wrong length", true, func(_ transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)))
			data.Write(content)
			data.Close()
			send(&wire.Done{ID: get.ID, Digest: sum[:16]})
		}},
		{"session closed mid-file", false, func(sess transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)))
			data.Write(content[:len(content)/2])
			sess.CloseWithError(0, "")
		}},
		{"data stream reset mid-file", false, func(_ transport.Session, send func(wire.Message), get *wire.Get, data transport.Stream) {
			send(file(get, len(content)))
			data.Write(content[:len(content)/2])
			data.Abort(99)
		}},
	}
	for _, k := range kits(t) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					addr := fakeServer(t, k, tt.handle)
					c := dial(t, k.client(t), addr, ClientConfig{})
					dest := t.TempDir()
					_, err := c.Get(testContext(t), "f", GetOptions{DestDir: dest})
					if err == nil {
						t.Fatal("Get from a lying server succeeded")
					}
					if tt.integrity && !errors.Is(err, ErrIntegrity) {
						t.Errorf("error %v, want ErrIntegrity", err)
					}
					assertNoFile(t, dest, "f")
					if tt.integrity {
						assertNoFile(t, dest, "f"+safefs.PartSuffix)
					}
				})
			}
		})
	}
}

// recTransport records what the client reads and writes on each stream.
type recTransport struct {
	transport.Transport
	mu      sync.Mutex
	streams []*recStream
}

type recSession struct {
	transport.Session
	r *recTransport
}

type recStream struct {
	transport.Stream
	mu            sync.Mutex
	read, written bytes.Buffer
}

func (r *recTransport) Dial(ctx context.Context, addr string) (transport.Session, error) {
	s, err := r.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &recSession{Session: s, r: r}, nil
}

func (s *recSession) OpenStream(ctx context.Context) (transport.Stream, error) {
	st, err := s.Session.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	rs := &recStream{Stream: st}
	s.r.mu.Lock()
	s.r.streams = append(s.r.streams, rs)
	s.r.mu.Unlock()
	return rs, nil
}

func (s *recStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.mu.Lock()
	s.read.Write(p[:n])
	s.mu.Unlock()
	return n, err
}

func (s *recStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	s.mu.Lock()
	s.written.Write(p[:n])
	s.mu.Unlock()
	return n, err
}

// TestSeparateStreams proves that control messages and file bytes travel
// on separate streams: the control stream carries only well-formed frames
// and no file bytes, the data stream exactly the header one way and exactly
// the file bytes the other.
func TestSeparateStreams(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		data := randomBytes(t, 1<<20+3)
		writeFile(t, root, "f.bin", data)
		addr, _ := serve(t, k, root, ServerConfig{})
		rec := &recTransport{Transport: k.client(t)}
		c := dial(t, rec, addr, ClientConfig{})
		dest := t.TempDir()
		if _, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest}); err != nil {
			t.Fatal(err)
		}
		c.Close()

		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.streams) != 2 {
			t.Fatalf("client opened %d streams, want 2 (control and one data stream)", len(rec.streams))
		}
		ctrl, dataSt := rec.streams[0], rec.streams[1]
		// The control stream, both ways, is a sequence of whole frames.
		var types []wire.Type
		for _, dir := range [][]byte{ctrl.written.Bytes(), ctrl.read.Bytes()} {
			r := wire.NewReader(bytes.NewReader(dir), wire.MaxFrame)
			for {
				m, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("control stream: %v", err)
				}
				types = append(types, m.Type())
			}
		}
		want := []wire.Type{wire.TypeHello, wire.TypeGet, wire.TypeHelloReply, wire.TypeFile, wire.TypeDone}
		if !equalTypes(types, want) {
			t.Errorf("control frames %v, want %v", types, want)
		}
		if n := ctrl.read.Len(); n > 512 {
			t.Errorf("control stream carried %d bytes from the server: file bytes?", n)
		}
		if bytes.Contains(ctrl.read.Bytes(), data[1000:1032]) {
			t.Error("file bytes on the control stream")
		}
		if !bytes.Equal(dataSt.written.Bytes(), wire.AppendDataHeader(nil, 1)) {
			t.Errorf("client wrote %x on the data stream, want only the header", dataSt.written.Bytes())
		}
		if !bytes.Equal(dataSt.read.Bytes(), data) {
			t.Errorf("data stream carried %d bytes, want exactly the %d file bytes", dataSt.read.Len(), len(data))
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "f.bin")); !bytes.Equal(got, data) {
			t.Error("fetched file differs")
		}
	})
}

func equalTypes(a, b []wire.Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
