package transfer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/transport"
)

// cutTransport counts the file bytes the client reads from data streams
// (every stream but a session's first) and, once cut bytes have arrived,
// fails every read: a network cut at a chosen byte.
type cutTransport struct {
	transport.Transport
	cut  int64 // 0: never
	read atomic.Int64
}

type cutSession struct {
	transport.Session
	t      *cutTransport
	mu     sync.Mutex
	opened int
}

type cutStream struct {
	transport.Stream
	t *cutTransport
}

var errCut = errors.New("test: network cut")

func (c *cutTransport) Dial(ctx context.Context, addr string) (transport.Session, error) {
	s, err := c.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &cutSession{Session: s, t: c}, nil
}

func (s *cutSession) OpenStream(ctx context.Context) (transport.Stream, error) {
	st, err := s.Session.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened++; s.opened == 1 {
		return st, nil // the control stream
	}
	return &cutStream{Stream: st, t: s.t}, nil
}

func (s *cutStream) Read(p []byte) (int, error) {
	if cut := s.t.cut; cut > 0 {
		left := cut - s.t.read.Load()
		if left <= 0 {
			s.Stream.Abort(0x110)
			return 0, errCut
		}
		p = p[:min(int64(len(p)), left)]
	}
	n, err := s.Stream.Read(p)
	s.t.read.Add(int64(n))
	return n, err
}

// Issue 3: a fetch cut at a random byte over one transport is resumed over
// another; the result is the server's file, and the resumed fetch receives
// only the remainder.
func TestResumeAcrossTransports(t *testing.T) {
	ks := kits(t)
	pairs := [][2]kit{{ks[0], ks[1]}, {ks[1], ks[0]}, {ks[2], ks[0]}} // quic→tls, tls→quic, tcp→quic
	for _, pair := range pairs {
		first, second := pair[0], pair[1]
		t.Run(first.name+"-then-"+second.name, func(t *testing.T) {
			t.Parallel()
			root, dest := t.TempDir(), t.TempDir()
			const size = 2<<20 + 12345
			data := randomBytes(t, size)
			writeFile(t, root, "f.bin", data)
			addr1, _ := serve(t, first, root, ServerConfig{})
			addr2, _ := serve(t, second, root, ServerConfig{})
			cutAt := 1 + rand.Int64N(size-2)

			ct := &cutTransport{Transport: first.client(t), cut: cutAt}
			c1 := dial(t, ct, addr1, ClientConfig{})
			_, err := c1.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
			if err == nil {
				t.Fatal("the cut fetch succeeded")
			}
			assertNoFile(t, dest, "f.bin")
			part, err := os.ReadFile(filepath.Join(dest, "f.bin"+safefs.PartSuffix))
			if err != nil {
				t.Fatalf("no partial file after the cut at %d: %v", cutAt, err)
			}
			if int64(len(part)) != cutAt || !bytes.Equal(part, data[:cutAt]) {
				t.Fatalf("partial file holds %d bytes, want the first %d of the file", len(part), cutAt)
			}

			ct2 := &cutTransport{Transport: second.client(t)}
			c2 := dial(t, ct2, addr2, ClientConfig{})
			res, err := c2.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(dest, "f.bin")); !bytes.Equal(got, data) {
				t.Fatal("resumed file differs from the server's")
			}
			if res.Resumed != cutAt || res.Received != size-cutAt || ct2.read.Load() != size-cutAt {
				t.Errorf("resumed %d, received %d, data streams carried %d; want %d, %d, %d",
					res.Resumed, res.Received, ct2.read.Load(), cutAt, size-cutAt, size-cutAt)
			}
		})
	}
}

// Issue 3: the server's file changed between the cut and the resume: the
// partial file is discarded and the file fetched from zero, with a notice.
// The server's file may also have shrunk below the partial file (a log
// rotated since the cut): the server refuses the offset, and the client
// starts over the same way.
func TestResumeServerFileChanged(t *testing.T) {
	for _, change := range []string{"changed", "shrunk"} {
		t.Run(change, func(t *testing.T) { testResumeServerFileChanged(t, change) })
	}
}

func testResumeServerFileChanged(t *testing.T, change string) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		data := randomBytes(t, 1<<20)
		writeFile(t, root, "f.bin", data)
		addr, _ := serve(t, k, root, ServerConfig{})
		ct := &cutTransport{Transport: k.client(t), cut: 300_000}
		c := dial(t, ct, addr, ClientConfig{})
		if _, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true}); err == nil {
			t.Fatal("the cut fetch succeeded")
		}
		changed := bytes.Clone(data)
		if change == "shrunk" {
			changed = changed[:100_000] // shorter than the partial file
		} else {
			changed[1000] ^= 0xff // inside the prefix the client holds
		}
		writeFile(t, root, "f.bin", changed)

		ct2 := &cutTransport{Transport: k.client(t)}
		c2 := dial(t, ct2, addr, ClientConfig{})
		res, err := c2.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Restarted || res.Resumed != 0 || res.Received != int64(len(changed)) {
			t.Errorf("restarted %v, resumed %d, received %d; want a restart from zero", res.Restarted, res.Resumed, res.Received)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "f.bin")); !bytes.Equal(got, changed) {
			t.Fatal("the file differs from the server's new file")
		}
	})
}

// Issue 3: a file that changes while it is being sent is reported as
// FILE_CHANGED and never delivered.
func TestFileChangedWhileSent(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		data := randomBytes(t, 1<<20)
		writeFile(t, root, "f.bin", data)
		cfg := ServerConfig{testHookBeforeCopy: func(string) {
			// Appending changes size and mtime of the open file.
			f, err := os.OpenFile(filepath.Join(root, "f.bin"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("more"))
			f.Close()
		}}
		addr, _ := serve(t, k, root, cfg)
		c := dial(t, k.client(t), addr, ClientConfig{})
		_, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
		if !errors.Is(err, ErrFileChanged) {
			t.Fatalf("Get: %v, want ErrFileChanged", err)
		}
		assertNoFile(t, dest, "f.bin")
		assertNoFile(t, dest, "f.bin"+safefs.PartSuffix)
		var out bytes.Buffer
		if _, err := c.Get(testContext(t), "f.bin", GetOptions{Stdout: &out}); !errors.Is(err, ErrFileChanged) {
			t.Fatalf("Get to a writer: %v, want ErrFileChanged", err)
		}
	})
}

// A data stream on which nothing arrives for StallTimeout fails the GET with
// ErrStalled instead of waiting for the network to give up, and the session
// stays usable: the next GET of the same file succeeds.
func TestStalledTransfer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		data := randomBytes(t, 1<<20)
		writeFile(t, root, "f.bin", data)
		var stalls atomic.Int32
		stalls.Store(1)
		cfg := ServerConfig{testHookBeforeCopy: func(string) {
			if stalls.Add(-1) >= 0 {
				time.Sleep(2 * time.Second) // FILE is out; the data is not
			}
		}}
		addr, _ := serve(t, k, root, cfg)
		c := dial(t, k.client(t), addr, ClientConfig{StallTimeout: 200 * time.Millisecond})
		_, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("Get: %v, want ErrStalled", err)
		}
		assertNoFile(t, dest, "f.bin")
		if _, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true}); err != nil {
			t.Fatalf("Get after the stall: %v", err)
		}
		if got, err := os.ReadFile(filepath.Join(dest, "f.bin")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("fetched file: %d bytes, %v", len(got), err)
		}
	})
}

// The bytes of a file that failed half way count as received in the
// batch's summary: they came over the network, and its partial file keeps
// them.
func TestBatchCountsBytesOfFailedFiles(t *testing.T) {
	k := kits(t)[0]
	root, dest := t.TempDir(), t.TempDir()
	const size = 1<<20 + 777
	writeFile(t, root, "f.bin", randomBytes(t, size))
	addr, _ := serve(t, k, root, ServerConfig{})
	cutAt := 1 + rand.Int64N(size-2)
	c := dial(t, &cutTransport{Transport: k.client(t), cut: cutAt}, addr, ClientConfig{})
	sum, err := c.GetBatch(testContext(t), []Item{{Remote: "f.bin", Local: "f.bin"}}, BatchOptions{DestDir: dest, Resume: true})
	if err == nil || sum.Failed != 1 {
		t.Fatalf("GetBatch: %+v, %v; want the file failed by the cut", sum, err)
	}
	if sum.Received != cutAt {
		t.Errorf("summary received %d bytes, want the %d that arrived before the cut", sum.Received, cutAt)
	}
}

// Two fetches of one file into one folder at once (the same command run
// twice): one of them finds the part file locked and fails with
// safefs.ErrLocked, and the file that gets the name is the server's, byte
// for byte. Without the lock the second appended to the first's part file,
// and the first published the mix it had not verified.
func TestConcurrentFetchesOfOneFile(t *testing.T) {
	k := kits(t)[0]
	root, dest := t.TempDir(), t.TempDir()
	data := randomBytes(t, 4<<20)
	writeFile(t, root, "f.bin", data)
	var once sync.Once
	inCopy := make(chan struct{})
	addr, _ := serve(t, k, root, ServerConfig{testHookBeforeCopy: func(string) {
		once.Do(func() {
			close(inCopy)
			time.Sleep(300 * time.Millisecond) // the second fetch comes meanwhile
		})
	}})
	first := dial(t, k.client(t), addr, ClientConfig{})
	second := dial(t, k.client(t), addr, ClientConfig{})
	firstErr := make(chan error, 1)
	go func() {
		_, err := first.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true, Replace: true})
		firstErr <- err
	}()
	<-inCopy
	_, err := second.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true, Replace: true})
	if !errors.Is(err, safefs.ErrLocked) {
		t.Errorf("second Get: %v, want safefs.ErrLocked", err)
	}
	if err := <-firstErr; err != nil {
		t.Fatalf("first Get: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dest, "f.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("published file: %d bytes, %v; want the server's %d", len(got), err, len(data))
	}
}
