package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/wire"
)

// Issue 3: globs are expanded on the server, on validated names, never
// escaping the root, with a bounded result.
func TestGlob(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		for _, n := range []string{"logs/a.gz", "logs/b.gz", "logs/c.txt", "logs/.hidden.gz",
			"logs/sub/d.gz", "other/e.gz", "file[1].txt", "file1.txt"} {
			writeFile(t, root, n, []byte(n))
		}
		outside := t.TempDir()
		writeFile(t, outside, "secret.gz", []byte("secret"))
		if err := os.Symlink(outside, filepath.Join(root, "logs", "escape")); err != nil {
			t.Fatal(err)
		}
		addr, _ := serve(t, k, root, ServerConfig{MaxFindEntries: 4})
		c := dial(t, k.client(t), addr, ClientConfig{})
		ctx := testContext(t)
		paths := func(es []TreeEntry) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.Path)
			}
			return out
		}
		tests := []struct {
			pattern string
			want    []string
		}{
			{"logs/*.gz", []string{"logs/a.gz", "logs/b.gz"}},
			{"logs/.*.gz", []string{"logs/.hidden.gz"}},
			{"*/*.gz", []string{"logs/a.gz", "logs/b.gz", "other/e.gz"}},
			{"logs/*/*.gz", []string{"logs/sub/d.gz"}}, // the symlink "escape" is not descended
			{"logs/?.txt", []string{"logs/c.txt"}},
			{"logs/c.txt", []string{"logs/c.txt"}},
			{"logs/none.txt", nil},
			{"nowhere/*", nil},
			{"file[1].txt", []string{"file1.txt", "file[1].txt"}},
			{"logs/[ab].gz", []string{"logs/a.gz", "logs/b.gz"}},
		}
		for _, tt := range tests {
			got, err := c.Glob(ctx, tt.pattern)
			if err != nil {
				t.Errorf("Glob(%q): %v", tt.pattern, err)
				continue
			}
			if !slices.Equal(paths(got), tt.want) {
				t.Errorf("Glob(%q) = %q, want %q", tt.pattern, paths(got), tt.want)
			}
		}
		if got, err := c.Glob(ctx, "logs/*"); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Glob over the limit: %q, %v, want ErrTooLarge", paths(got), err)
		}
		for _, bad := range []string{"../*", "/etc/*", "logs/../*", "logs/\\*", "logs/[", "a//*", "*\x1b"} {
			if _, err := c.Glob(ctx, bad); err == nil {
				t.Errorf("Glob(%q) succeeded", bad)
			}
			// The server refuses them too.
			if _, _, err := c.find(ctx, wire.FindGlob, bad); !errors.Is(err, ErrBadRequest) {
				t.Errorf("server: FIND glob %q: %v, want ErrBadRequest", bad, err)
			}
		}
	})
}

// Issue 3: "ferry get -r" fetches a tree: nested folders, empty files and
// folders, unicode and spaces, modes and times kept, symlinks skipped.
func TestGetTree(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		mtime := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
		files := map[string][]byte{
			"logs/a.txt":                 []byte("a"),
			"logs/empty":                 nil,
			"logs/sub/deeper/b.bin":      randomBytes(t, 300_000),
			"logs/ünïcødé and spaces.md": []byte("unicode"),
			"logs/run.sh":                []byte("#!/bin/sh\n"),
		}
		for n, b := range files {
			writeFile(t, root, n, b)
			os.Chtimes(filepath.Join(root, n), mtime, mtime)
		}
		os.Chmod(filepath.Join(root, "logs/run.sh"), 0o755)
		os.MkdirAll(filepath.Join(root, "logs/empty-dir"), 0o755)
		os.Symlink("a.txt", filepath.Join(root, "logs/link"))
		os.Chtimes(filepath.Join(root, "logs/sub"), mtime, mtime)

		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		dest := t.TempDir()
		var skipped []string
		var mu sync.Mutex
		sum, err := c.GetTree(testContext(t), "logs", BatchOptions{DestDir: dest, Event: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Kind == EventSkipped {
				skipped = append(skipped, e.Item.Local)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Files != len(files) || sum.Skipped != 1 || sum.Failed != 0 {
			t.Errorf("summary %+v, want %d files, 1 skipped", sum, len(files))
		}
		if !slices.Equal(skipped, []string{"logs/link"}) {
			t.Errorf("skipped %q, want logs/link", skipped)
		}
		for n, b := range files {
			p := filepath.Join(dest, n)
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s: %v, content equal %v", n, err, bytes.Equal(got, b))
				continue
			}
			fi, _ := os.Stat(p)
			if !fi.ModTime().Equal(mtime) {
				t.Errorf("%s: mtime %v, want %v", n, fi.ModTime(), mtime)
			}
			if exec := fi.Mode()&0o100 != 0; exec != (n == "logs/run.sh") {
				t.Errorf("%s: mode %v", n, fi.Mode())
			}
		}
		if fi, err := os.Stat(filepath.Join(dest, "logs/empty-dir")); err != nil || !fi.IsDir() {
			t.Errorf("empty folder not created: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(dest, "logs/sub")); err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("folder time not kept: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(dest, "logs/link")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("symlink created: %v", err)
		}

		// Again: everything is identical, nothing transferred.
		sum, err = c.GetTree(testContext(t), "logs", BatchOptions{DestDir: dest, SkipIdentical: true})
		if err != nil || sum.Identical != len(files) || sum.Received != 0 {
			t.Errorf("second run: %+v, %v; want all %d identical, 0 bytes received", sum, err, len(files))
		}
	})
}

// Issue 3: 1000 small files in one batch over one session.
func TestManySmallFiles(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		const n = 1000
		for i := range n {
			writeFile(t, root, fmt.Sprintf("d/f%04d", i), bytes.Repeat([]byte{byte(i)}, 4<<10))
		}
		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		dest := t.TempDir()
		sum, err := c.GetTree(testContext(t), "d", BatchOptions{DestDir: dest, Parallel: 16})
		if err != nil || sum.Files != n {
			t.Fatalf("GetTree: %+v, %v", sum, err)
		}
		for i := range n {
			got, err := os.ReadFile(filepath.Join(dest, fmt.Sprintf("d/f%04d", i)))
			if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 4<<10)) {
				t.Fatalf("file %d: %v", i, err)
			}
		}
	})
}

// rawManifest encodes a MANIFEST frame without checking its fields, as a
// hostile server would.
func rawManifest(id uint64, paths []string, types []wire.EntryType) []byte {
	b := []byte{0, 0, 0, 0, byte(wire.TypeManifest)}
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(paths)))
	for i, p := range paths {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
		b = append(b, byte(types[i]))
		b = binary.BigEndian.AppendUint64(b, 1)
		b = binary.BigEndian.AppendUint64(b, 0)
		b = binary.BigEndian.AppendUint32(b, 0o644)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// manifestServer answers one session's FIND with the given manifest.
func manifestServer(t *testing.T, k kit, paths []string, types []wire.EntryType) string {
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
		r := wire.NewReader(ctrl, wire.MaxFrame)
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		b, _ := wire.AppendFrame(nil, &wire.HelloReply{Version: 1, MaxFrame: wire.MaxFrame, MaxTransfers: 4,
			Flags: wire.FlagFind, Algorithms: []wire.Algorithm{wire.BLAKE3}})
		ctrl.Write(b)
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		f, ok := m.(*wire.Find)
		if !ok {
			return
		}
		ctrl.Write(rawManifest(f.ID, paths, types))
		b, _ = wire.AppendFrame(nil, &wire.ListEnd{ID: f.ID})
		ctrl.Write(b)
		// Serve nothing else: a GET would hang until the session ends.
		select {
		case <-sess.Context().Done():
		case <-ctx.Done():
		}
	}()
	return ln.Addr().String()
}

// Issue 3: a hostile manifest is refused before anything is written.
func TestHostileManifest(t *testing.T) {
	F, D := wire.EntryFile, wire.EntryDir
	tests := []struct {
		name  string
		paths []string
		types []wire.EntryType
	}{
		{"dotdot", []string{"../evil"}, []wire.EntryType{F}},
		{"inner dotdot", []string{"a", "a/../../evil"}, []wire.EntryType{D, F}},
		{"absolute", []string{"/etc/evil"}, []wire.EntryType{F}},
		{"duplicate", []string{"a", "a"}, []wire.EntryType{F, F}},
		{"case collision", []string{"README", "readme"}, []wire.EntryType{F, F}},
		{"normalisation collision", []string{"\ufb01", "fi"}, []wire.EntryType{F, F}},
		{"nfd name", []string{"cafe\u0301"}, []wire.EntryType{F}},
		{"control character", []string{"a\x1b[2Jb"}, []wire.EntryType{F}},
		{"newline", []string{"a\nb"}, []wire.EntryType{F}},
		{"bidi override", []string{"evil\u202etxt.exe"}, []wire.EntryType{F}},
		{"backslash", []string{"..\\..\\evil"}, []wire.EntryType{F}},
		{"windows device", []string{"NUL"}, []wire.EntryType{F}},
		{"parent missing", []string{"x/y"}, []wire.EntryType{F}},
		{"parent is a file", []string{"x", "x/y"}, []wire.EntryType{F, F}},
		{"folder after its content", []string{"ok", "x/y", "x"}, []wire.EntryType{F, F, D}},
		{"too deep", []string{strings.Repeat("d/", 31) + "f"}, []wire.EntryType{F}},
		{"NUL", []string{"a\x00b"}, []wire.EntryType{F}},
	}
	forEachTransport(t, func(t *testing.T, k kit) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				addr := manifestServer(t, k, tt.paths, tt.types)
				c := dial(t, k.client(t), addr, ClientConfig{})
				dest := t.TempDir()
				ctx, cancel := context.WithTimeout(testContext(t), 10*time.Second)
				defer cancel()
				_, err := c.GetTree(ctx, "logs", BatchOptions{DestDir: dest})
				if !errors.Is(err, ErrProtocol) {
					t.Errorf("GetTree: %v, want ErrProtocol", err)
				}
				if left, _ := os.ReadDir(dest); len(left) != 0 {
					t.Errorf("created %v before refusing the manifest", left[0].Name())
				}
			})
		}
	})
}
