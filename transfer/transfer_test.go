package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/testpki"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
	"github.com/ferryproject/ferry/transport/quic"
	"github.com/ferryproject/ferry/transport/tcp"
)

// kit makes the server and client ends of one transport.
type kit struct {
	name   string
	server func(t testing.TB) transport.Transport
	client func(t testing.TB) transport.Transport
}

func kits(t testing.TB) []kit {
	pki := testpki.New(t)
	closing := func(t testing.TB, tr transport.Transport, err error) transport.Transport {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	return []kit{
		{"quic",
			func(t testing.TB) transport.Transport {
				tr, err := quic.New(pki.ServerTLS(), quic.Config{})
				return closing(t, tr, err)
			},
			func(t testing.TB) transport.Transport {
				tr, err := quic.New(pki.ClientTLS(), quic.Config{})
				return closing(t, tr, err)
			}},
		{"tls",
			func(t testing.TB) transport.Transport {
				tr, err := tcp.NewTLS(pki.ServerTLS(), tcp.Config{})
				return closing(t, tr, err)
			},
			func(t testing.TB) transport.Transport {
				tr, err := tcp.NewTLS(pki.ClientTLS(), tcp.Config{})
				return closing(t, tr, err)
			}},
		{"tcp",
			func(t testing.TB) transport.Transport { return closing(t, tcp.NewPlaintext(tcp.Config{}), nil) },
			func(t testing.TB) transport.Transport { return closing(t, tcp.NewPlaintext(tcp.Config{}), nil) }},
	}
}

// forEachTransport runs f once per transport, in parallel subtests.
func forEachTransport(t *testing.T, f func(t *testing.T, k kit)) {
	for _, k := range kits(t) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f(t, k)
		})
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// serve starts a Server for root on k's server transport and returns the
// address.
func serve(t testing.TB, k kit, root string, cfg ServerConfig) (string, *Server) {
	t.Helper()
	if cfg.Logger == nil {
		w := &tWriter{t: t}
		t.Cleanup(w.stop) // runs after the server's cleanup below
		cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := NewServer(root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := k.server(t).Listen(testContext(t), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		ln.Close()
	})
	return ln.Addr().String(), srv
}

// tWriter sends server logs to the test log.
type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

func dial(t *testing.T, tr transport.Transport, addr string, cfg ClientConfig) *Client {
	t.Helper()
	c, err := Dial(testContext(t), tr, addr, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertNoFile fails unless dir holds nothing called name.
func assertNoFile(t *testing.T, dir, name string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a failed transfer (Lstat: %v)", name, err)
	}
}

func TestEcho(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		addr, _ := serve(t, k, t.TempDir(), ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		for _, p := range [][]byte{{}, []byte("hello"), all, randomBytes(t, MaxEchoPayload)} {
			got, err := c.Echo(ctx, p)
			if err != nil {
				t.Fatalf("Echo(%d bytes): %v", len(p), err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("Echo(%d bytes) came back different", len(p))
			}
		}
		if _, err := c.Echo(ctx, make([]byte, MaxEchoPayload+1)); err == nil {
			t.Error("Echo over the maximum succeeded")
		}
		// Many in flight at once, each with its own payload.
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Go(func() {
				p := bytes.Repeat([]byte{byte(i)}, i*97)
				got, err := c.Echo(ctx, p)
				if err == nil && !bytes.Equal(got, p) {
					err = fmt.Errorf("echo %d came back different", i)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestList(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		writeFile(t, root, "a.txt", []byte("abc"))
		writeFile(t, root, "sub/b.bin", make([]byte, 1000))
		// Enough entries to need several LIST_ENTRIES frames.
		for i := range 600 {
			writeFile(t, root, fmt.Sprintf("many/%03d-%s", i, strings.Repeat("x", 200)), nil)
		}
		// A name that breaks the name rule is skipped, not sent.
		writeFile(t, root, "many/bad\x1bname", nil)
		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)

		entries, err := c.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Entry{}
		for _, e := range entries {
			got[e.Name] = e
		}
		if e := got["a.txt"]; e.Type != wire.EntryFile || e.Size != 3 || e.IsDir || e.Mode != 0o644 || e.ModTime.IsZero() {
			t.Errorf("a.txt: %+v", e)
		}
		if e := got["sub"]; !e.IsDir {
			t.Errorf("sub: %+v", e)
		}
		many, err := c.List(ctx, "many")
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != 600 {
			t.Errorf("listed %d entries of many/, want 600", len(many))
		}
		if _, err := c.List(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("List(nope) = %v, want ErrNotFound", err)
		}
		if _, err := c.List(ctx, "../"); !errors.Is(err, ErrBadRequest) {
			t.Errorf("List(../) = %v, want ErrBadRequest", err)
		}
	})
}

func TestGet(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		files := map[string][]byte{
			"empty":        {},
			"one":          {42},
			"odd.bin":      randomBytes(t, bufSize+13),
			"dir/big.bin":  randomBytes(t, 20<<20+7),
			"sha/file.bin": randomBytes(t, 100000),
		}
		for name, data := range files {
			writeFile(t, root, name, data)
		}
		addr, _ := serve(t, k, root, ServerConfig{})
		tr := k.client(t)
		for _, digest := range []string{"blake3", "sha256"} {
			c := dial(t, tr, addr, ClientConfig{Digest: digest})
			dest := t.TempDir()
			for name, data := range files {
				var calls int
				res, err := c.Get(testContext(t), name, GetOptions{DestDir: dest, Progress: func(done, total int64) {
					calls++
					if total != int64(len(data)) || done > total {
						t.Errorf("progress %d/%d for %d bytes", done, total, len(data))
					}
				}})
				if err != nil {
					t.Fatalf("%s Get(%s): %v", digest, name, err)
				}
				got, err := os.ReadFile(filepath.Join(dest, filepath.Base(name)))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: fetched file differs (%v)", name, err)
				}
				if res.Size != int64(len(data)) || res.Algorithm != digest || len(res.Digest) != 32 || calls == 0 {
					t.Errorf("%s: result %+v, %d progress calls", name, res, calls)
				}
				if _, err := os.Stat(filepath.Join(dest, filepath.Base(name)+safefs.PartSuffix)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: partial file left behind", name)
				}
			}
			// An existing file is refused unless replaced.
			if _, err := c.Get(testContext(t), "one", GetOptions{DestDir: dest}); !errors.Is(err, ErrExists) {
				t.Errorf("Get over an existing file: %v, want ErrExists", err)
			}
			if _, err := c.Get(testContext(t), "one", GetOptions{DestDir: dest, Replace: true}); err != nil {
				t.Errorf("Get with Replace: %v", err)
			}
			var out bytes.Buffer
			if _, err := c.Get(testContext(t), "odd.bin", GetOptions{Stdout: &out}); err != nil || !bytes.Equal(out.Bytes(), files["odd.bin"]) {
				t.Errorf("Get to Stdout: %v", err)
			}
		}
	})
}

func TestResume(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		data := randomBytes(t, 3<<20)
		writeFile(t, root, "f.bin", data)
		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})

		writeFile(t, dest, "f.bin"+safefs.PartSuffix, data[:1<<20])
		res, err := c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Resumed != 1<<20 {
			t.Errorf("resumed %d bytes, want %d", res.Resumed, 1<<20)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "f.bin")); !bytes.Equal(got, data) {
			t.Fatal("resumed file differs")
		}

		// A partial file that does not match is discarded and the file
		// fetched from the start.
		os.Remove(filepath.Join(dest, "f.bin"))
		bad := bytes.Clone(data[:1000])
		bad[500] ^= 1
		writeFile(t, dest, "f.bin"+safefs.PartSuffix, bad)
		res, err = c.Get(testContext(t), "f.bin", GetOptions{DestDir: dest, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "f.bin")); !bytes.Equal(got, data) || res.Resumed != 0 || !res.Restarted {
			t.Fatalf("refetched file differs (resumed %d, restarted %v)", res.Resumed, res.Restarted)
		}
	})
}

func TestHostilePaths(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		outside := t.TempDir()
		writeFile(t, outside, "secret", []byte("secret"))
		root := t.TempDir()
		writeFile(t, root, "ok.txt", []byte("ok"))
		writeFile(t, root, "dir/x", nil)
		if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "abs-link")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../"+filepath.Base(outside)+"/secret", filepath.Join(root, "rel-link")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)
		tests := []struct {
			path string
			want error
		}{
			{"../" + filepath.Base(outside) + "/secret", ErrBadRequest},
			{outside + "/secret", ErrBadRequest},
			{"dir/../../x", ErrBadRequest},
			{"./ok.txt", ErrBadRequest},
			{"ok.txt/", ErrBadRequest},
			{"a\\..\\b", ErrBadRequest},
			{"C:/x", ErrBadRequest},
			{"NUL", ErrBadRequest},
			{"x\x00y", ErrBadRequest},
			{"\xff\xfe", ErrBadRequest},
			{strings.Repeat("a/", 1500), ErrBadRequest},
			{"nope", ErrNotFound},
			{"dir", ErrNotRegular},
			{"fifo", ErrNotRegular},
			{"abs-link", ErrAccessDenied},
			{"rel-link", ErrAccessDenied},
		}
		for _, tt := range tests {
			// fetch skips the client's own path check, to test the server.
			_, _, err := c.fetchFile(ctx, fetchParams{path: tt.path, w: io.Discard})
			if !errors.Is(err, tt.want) {
				t.Errorf("GET %q: %v, want %v", tt.path, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), root) {
				t.Errorf("GET %q: error %q names the server's folder", tt.path, err)
			}
		}
		// The session and the server keep serving.
		var out bytes.Buffer
		if _, err := c.Get(ctx, "ok.txt", GetOptions{Stdout: &out}); err != nil || out.String() != "ok" {
			t.Fatalf("Get after hostile paths: %v", err)
		}
		// The client checks paths itself too.
		if _, err := c.Get(ctx, "../x", GetOptions{DestDir: t.TempDir()}); err == nil {
			t.Error("client sent ../x")
		}
	})
}

func TestManyClients(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		shared := randomBytes(t, 1<<20)
		writeFile(t, root, "shared.bin", shared)
		own := make([][]byte, 50)
		for i := range own {
			own[i] = randomBytes(t, 1000*i)
			writeFile(t, root, fmt.Sprintf("own/%d", i), own[i])
		}
		addr, _ := serve(t, k, root, ServerConfig{})
		tr := k.client(t)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Go(func() {
				c, err := Dial(testContext(t), tr, addr, ClientConfig{})
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				dest := t.TempDir()
				for name, want := range map[string][]byte{"shared.bin": shared, fmt.Sprintf("own/%d", i): own[i]} {
					if _, err := c.Get(testContext(t), name, GetOptions{DestDir: dest}); err != nil {
						errs <- fmt.Errorf("client %d: %s: %w", i, name, err)
						return
					}
					if got, _ := os.ReadFile(filepath.Join(dest, filepath.Base(name))); !bytes.Equal(got, want) {
						errs <- fmt.Errorf("client %d: %s differs", i, name)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestServerDiesMidTransfer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		writeFile(t, root, "big.bin", randomBytes(t, 64<<20))
		addr, srv := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		var once sync.Once
		_, err := c.Get(testContext(t), "big.bin", GetOptions{DestDir: dest, Progress: func(done, total int64) {
			once.Do(func() { srv.Close() })
		}})
		if err == nil {
			t.Fatal("Get succeeded although the server closed mid-transfer")
		}
		t.Logf("error: %v", err)
		assertNoFile(t, dest, "big.bin")
	})
}

func TestSessionLimit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		addr, _ := serve(t, k, t.TempDir(), ServerConfig{MaxSessions: 1})
		tr := k.client(t)
		c := dial(t, tr, addr, ClientConfig{})
		if _, err := c.Echo(testContext(t), []byte("x")); err != nil {
			t.Fatal(err)
		}
		c2, err := Dial(testContext(t), tr, addr, ClientConfig{})
		if err == nil {
			_, err = c2.Echo(testContext(t), []byte("x"))
			c2.Close()
		}
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("second session: %v, want ErrBusy", err)
		}
	})
}

func TestShutdown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		writeFile(t, root, "f", randomBytes(t, 1<<20))
		addr, srv := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		if _, err := c.Get(testContext(t), "f", GetOptions{DestDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		// An idle client closes its session on GOAWAY, so Shutdown
		// finishes without waiting for its deadline.
		if err := srv.Shutdown(testContext(t)); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if _, err := c.Echo(testContext(t), nil); err == nil {
			t.Error("Echo after Shutdown succeeded")
		}
	})
}

// TestSessionLimitPerHost checks that one client address cannot hold more
// than MaxSessionsPerHost sessions, and that a slot comes back when one of
// its sessions ends.
func TestSessionLimitPerHost(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		addr, _ := serve(t, k, t.TempDir(), ServerConfig{MaxSessions: 10, MaxSessionsPerHost: 2})
		tr := k.client(t)
		var clients []*Client
		for range 2 {
			c := dial(t, tr, addr, ClientConfig{})
			if _, err := c.Echo(testContext(t), []byte("x")); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		third := func() error {
			c, err := Dial(testContext(t), tr, addr, ClientConfig{})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Echo(testContext(t), []byte("x"))
			return err
		}
		err := third()
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("third session from one address: %v, want ErrBusy", err)
		}
		if !strings.Contains(err.Error(), "your address") {
			t.Errorf("error %q does not say the limit is per address", err)
		}
		clients[0].Close()
		// The server counts the session out once it has ended on its
		// side too; retry for a moment.
		deadline := time.Now().Add(10 * time.Second)
		for err = third(); err != nil && time.Now().Before(deadline); err = third() {
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("a session after one of the two ended: %v", err)
		}
	})
}

// TestSlotFreeOnFinalReply checks that a request stops counting against
// max_transfers the moment its final reply is sent: a client that keeps
// exactly max_transfers requests in flight, starting the next one as soon
// as a reply ends the last, is never told TOO_BUSY, however long the
// server's goroutine takes to wind down after the reply. (CI once caught a
// tree fetch of 1000 files failing two of them this way.)
func TestSlotFreeOnFinalReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		items := writeItems(t, root, 4, 1000)
		addr, _ := serve(t, k, root, ServerConfig{
			MaxTransfersPerSession: 1,
			// Wind down slowly after every final reply.
			testHookAfterReply: func() { time.Sleep(30 * time.Millisecond) },
		})
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)
		if _, err := c.List(ctx, "."); err != nil {
			t.Fatalf("List: %v", err)
		}
		if _, err := c.Get(ctx, "missing", GetOptions{DestDir: dest}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a missing file: %v, want ErrNotFound", err)
		}
		if _, err := c.Get(ctx, "f00", GetOptions{DestDir: dest}); err != nil {
			t.Fatalf("Get right after an ERROR reply: %v", err)
		}
		sum, err := c.GetBatch(ctx, items, BatchOptions{DestDir: dest, Replace: true, Parallel: 8})
		if err != nil || sum.Files != len(items) {
			t.Fatalf("GetBatch: %+v, %v", sum, err)
		}
	})
}

// TestBatchParallelBound checks that GetBatch keeps at most Parallel GETs
// on the network, although it runs more workers than that (the others wait
// for the sync that makes their file durable), and that it does use all of
// them.
func TestBatchParallelBound(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root, dest := t.TempDir(), t.TempDir()
		items := writeItems(t, root, 24, 100)
		var mu sync.Mutex
		inFlight, most := 0, 0
		addr, _ := serve(t, k, root, ServerConfig{testHookBeforeCopy: func(string) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
		}})
		c := dial(t, k.client(t), addr, ClientConfig{})
		const parallel = 3
		sum, err := c.GetBatch(testContext(t), items, BatchOptions{DestDir: dest, Parallel: parallel})
		if err != nil || sum.Files != len(items) {
			t.Fatalf("GetBatch: %+v, %v", sum, err)
		}
		// Under the lock: the server's goroutines wrote most, and the race
		// detector sees no order through the sockets.
		mu.Lock()
		peak := most
		mu.Unlock()
		if peak > parallel {
			t.Errorf("%d GETs in flight at once, want at most Parallel = %d", peak, parallel)
		}
		if peak < 2 {
			t.Errorf("at most %d GET in flight: the batch did not run in parallel", peak)
		}
		for _, it := range items {
			if _, err := os.Stat(filepath.Join(dest, it.Local)); err != nil {
				t.Error(err)
			}
		}
	})
}

// writeItems writes n files of size random bytes into root, named f00,
// f01, ..., and returns them as batch items saved under the same names.
func writeItems(t *testing.T, root string, n, size int) []Item {
	t.Helper()
	items := make([]Item, n)
	for i := range items {
		name := fmt.Sprintf("f%02d", i)
		writeFile(t, root, name, randomBytes(t, size))
		items[i] = Item{Remote: name, Local: name}
	}
	return items
}

// TestBatchPartialsOnlyInFlight checks that a batch makes a partial file
// only for a file on the network: the files waiting for a slot have none,
// so a process killed mid-batch leaves at most Parallel part files.
func TestBatchPartialsOnlyInFlight(t *testing.T) {
	root, dest := t.TempDir(), t.TempDir()
	items := writeItems(t, root, 6, 100)
	var once sync.Once
	parts := -1
	countParts := func(string) {
		once.Do(func() {
			time.Sleep(50 * time.Millisecond) // time for waiting workers to act
			ents, err := os.ReadDir(dest)
			if err != nil {
				t.Error(err)
				return
			}
			parts = 0
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), safefs.PartSuffix) {
					parts++
				}
			}
		})
	}
	k := kits(t)[0]
	addr, _ := serve(t, k, root, ServerConfig{testHookBeforeCopy: countParts})
	c := dial(t, k.client(t), addr, ClientConfig{})
	sum, err := c.GetBatch(testContext(t), items, BatchOptions{DestDir: dest, Parallel: 1})
	if err != nil || sum.Files != len(items) {
		t.Fatalf("GetBatch: %+v, %v", sum, err)
	}
	// The server's goroutine wrote parts; a second Do orders that write
	// before this read for the race detector, which sees no order through
	// the sockets.
	once.Do(func() {})
	if parts != 1 {
		t.Errorf("%d part files while one file was on the network, want 1", parts)
	}
}

// A full destination fails every file that is still to come: the batch
// stops starting files after the first "no space left", reports that error
// once per file in flight, not once per file, and returns it. Needs root,
// for a small tmpfs.
func TestBatchStopsWhenDestinationFull(t *testing.T) {
	dest := t.TempDir()
	if err := syscall.Mount("tmpfs", dest, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dest, 0) })
	k := kits(t)[0]
	root := t.TempDir()
	items := writeItems(t, root, 200, 64<<10) // 12.5 MiB for 1 MiB of room
	addr, _ := serve(t, k, root, ServerConfig{})
	c := dial(t, k.client(t), addr, ClientConfig{})
	const parallel = 4
	var mu sync.Mutex
	errs := 0
	sum, err := c.GetBatch(testContext(t), items, BatchOptions{DestDir: dest, Parallel: parallel, Event: func(e Event) {
		if e.Kind == EventError {
			mu.Lock()
			errs++
			mu.Unlock()
		}
	}})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("GetBatch: %v, want ENOSPC", err)
	}
	if sum.Files+sum.Failed != len(items) || sum.Files == 0 || sum.Files > 16 {
		t.Errorf("summary %+v: want a few files fetched (1 MiB of room), the rest failed", sum)
	}
	// The files on the network when the disk filled up may fail; no more.
	if errs < 1 || errs > parallel*publishersPerSlot {
		t.Errorf("%d error events, want between 1 and the %d files that can be past the network at once", errs, parallel*publishersPerSlot)
	}
}
