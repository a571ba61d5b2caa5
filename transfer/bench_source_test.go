package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryproject/ferry/internal/benchdata"
	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// serveBench starts a NewBenchServer on k's server transport and returns
// the address.
func serveBench(t *testing.T, k kit) string {
	t.Helper()
	w := &tWriter{t: t}
	t.Cleanup(w.stop)
	srv, err := NewBenchServer(ServerConfig{Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))})
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
	})
	return ln.Addr().String()
}

// synthetic is the content of the bench file p, read through the package
// that "ferry bench --prepare" writes with.
func synthetic(t *testing.T, p string) []byte {
	t.Helper()
	f, err := benchdata.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The bench server serves the synthetic tree like a folder: ls, get with
// either digest, resume, globs and folder manifests; names out of the
// scheme are not found.
func TestBenchServer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		addr := serveBench(t, k)
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)

		es, err := c.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Name)
		}
		if strings.Join(got, " ") != "bulk-1GiB.bin parallel-4x64MiB small-1000x64KiB" ||
			es[0].Size != 1<<30 || es[0].IsDir || es[0].Mode != 0o444 || !es[1].IsDir || es[1].Mode != 0o555 ||
			!es[0].ModTime.Equal(benchdata.ModTime) {
			t.Errorf("the root lists %+v", es)
		}
		es, err = c.List(ctx, "small-3x1KiB")
		if err != nil || len(es) != 3 || es[2].Name != "0000002.bin" || es[2].Size != 1024 {
			t.Errorf("List(small-3x1KiB) = %+v, %v", es, err)
		}

		dest := t.TempDir()
		for _, alg := range []string{"blake3", "sha256"} {
			ca := dial(t, k.client(t), addr, ClientConfig{Digest: alg})
			for _, p := range []string{"small-3x1KiB/0000001.bin", "bulk-1000003B.bin", "parallel-2x1MiB/1.bin"} {
				name := alg + "-" + filepath.Base(p)
				res, err := ca.Get(ctx, p, GetOptions{DestDir: dest, Name: name})
				if err != nil {
					t.Fatalf("Get(%s, %s): %v", p, alg, err)
				}
				b, _ := os.ReadFile(filepath.Join(dest, name))
				if res.Algorithm != alg || !bytes.Equal(b, synthetic(t, p)) {
					t.Errorf("Get(%s, %s): %s, the bytes equal the synthetic file: %v", p, alg, res.Algorithm, bytes.Equal(b, synthetic(t, p)))
				}
			}
		}

		// Resume reads from an offset that is not on a cipher block.
		const big = "bulk-3MiB.bin"
		want := synthetic(t, big)
		writeFile(t, dest, big+safefs.PartSuffix, want[:1<<20+5])
		res, err := c.Get(ctx, big, GetOptions{DestDir: dest, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dest, big)); res.Resumed != 1<<20+5 || !bytes.Equal(b, want) {
			t.Errorf("resumed %d bytes; the file equals the synthetic one: %v", res.Resumed, bytes.Equal(b, want))
		}

		for _, tc := range []struct {
			p    string
			want error
		}{
			{"bulk-1024KiB.bin", ErrNotFound},
			{"small-3x1KiB/0000003.bin", ErrNotFound},
			{"bulk-1KiB.bin/x", ErrNotFound},
			{"notes.txt", ErrNotFound},
			{"bulk-65GiB.bin", ErrNotFound},
			{"small-3x1KiB", ErrNotRegular},
		} {
			_, err := c.Get(ctx, tc.p, GetOptions{DestDir: dest, Name: "x"})
			if !errors.Is(err, tc.want) {
				t.Errorf("Get(%q): %v, want %v", tc.p, err, tc.want)
			}
		}
		assertNoFile(t, dest, "x")
		if _, err := c.List(ctx, "bulk-1KiB.bin"); !errors.Is(err, ErrBadRequest) {
			t.Errorf("List of a file: %v, want a refusal", err)
		}

		// Globs and manifests.
		matches, err := c.Glob(ctx, "small-3x1KiB/*1.bin")
		if err != nil || len(matches) != 1 || matches[0].Path != "small-3x1KiB/0000001.bin" || matches[0].Size != 1024 {
			t.Errorf("Glob = %+v, %v", matches, err)
		}
		matches, err = c.Glob(ctx, "bulk-*")
		if err != nil || len(matches) != 1 || matches[0].Path != "bulk-1GiB.bin" {
			t.Errorf("Glob(bulk-*) = %+v, %v; want the listed default only", matches, err)
		}
		matches, err = c.Glob(ctx, "bulk-7B.bin")
		if err != nil || len(matches) != 1 || matches[0].Size != 7 {
			t.Errorf("Glob of a name = %+v, %v", matches, err)
		}
		tree, _, err := c.Tree(ctx, "parallel-3x2KiB")
		if err != nil || len(tree) != 3 || tree[0].Path != "0.bin" || tree[0].Type != wire.EntryFile || tree[2].Size != 2048 {
			t.Errorf("Tree = %+v, %v", tree, err)
		}
		sum, err := c.GetTree(ctx, "parallel-3x2KiB", BatchOptions{DestDir: dest})
		if err != nil || sum.Files != 3 {
			t.Fatalf("GetTree: %+v, %v", sum, err)
		}
		for i := range 3 {
			p := benchdata.ParallelPath(3, 2048, i)
			if b, _ := os.ReadFile(filepath.Join(dest, filepath.FromSlash(p))); !bytes.Equal(b, synthetic(t, p)) {
				t.Errorf("GetTree: %s differs from the synthetic file", p)
			}
		}
	})
}

// The server reads synthetic and real files through the same source
// interface; the synthetic one reports what a folder would.
func TestBenchSourceErrors(t *testing.T) {
	var src source = benchSource{}
	for _, c := range []struct {
		err  error
		want error
	}{
		{second(src.openRegular("small-3x1KiB")), safefs.ErrNotRegular},
		{second(src.openRegular("nope")), safefs.ErrNotFound},
		{second(src.openRegular("a/../b")), safefs.ErrInvalidName},
		{third(src.readDir("bulk-1B.bin")), safefs.ErrNotDir},
		{third(src.readDir("x\x00")), safefs.ErrInvalidName},
		{lstatErr(src, "small-3x1KiB/0000004.bin"), safefs.ErrNotFound},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("got %v, want %v", c.err, c.want)
		}
	}
	f, fi, err := src.openRegular("bulk-100B.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi.Size() != 100 || fi.Name() != "bulk-100B.bin" || fi.Mode() != 0o444 || fi.IsDir() || !fi.Mode().IsRegular() {
		t.Errorf("FileInfo %v %d %v", fi.Name(), fi.Size(), fi.Mode())
	}
	if err := checkUnchanged(f, 100, benchdata.ModTime, make([]byte, 1)); err != nil {
		t.Errorf("checkUnchanged on a synthetic file: %v", err)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 200))
	if err != nil || !bytes.Equal(b, synthetic(t, "bulk-100B.bin")) {
		t.Errorf("read %d bytes, %v", len(b), err)
	}
	e, err := src.lstat("small-3x1KiB")
	if err != nil || e.Type != safefs.Dir || e.Mode != fs.ModeDir|0o555 {
		t.Errorf("lstat of a folder: %+v, %v", e, err)
	}
}

func second[T any](_ T, _ fs.FileInfo, err error) error { return err }
func third(_ []safefs.Entry, _ int, err error) error    { return err }
func lstatErr(src source, p string) error {
	_, err := src.lstat(p)
	return err
}
