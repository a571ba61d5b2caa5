package transfer

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/wire"
)

func TestLinkReason(t *testing.T) {
	F, D, L := wire.EntryFile, wire.EntryDir, wire.EntrySymlink
	types := map[string]wire.EntryType{
		"a.txt": F, "sub": D, "sub/b.txt": F, "sub/deep": D, "sub/deep/c": F, "tosub": L,
	}
	ok := []struct{ link, target string }{
		{"l", "a.txt"},
		{"l", "./a.txt"},
		{"l", "sub"},
		{"l", "sub/deep/c"},
		{"l", "tosub"},        // a link to a link
		{"l", "nowhere"},      // dangling, but inside
		{"l", "."},            // the tree itself
		{"sub/l", "../a.txt"}, // up, within the tree
		{"sub/deep/l", "../../a.txt"},
		{"sub/l", "deep/../b.txt"}, // through a real folder
		{"sub/l", "../sub/./deep"},
	}
	for _, tt := range ok {
		if r := linkReason(tt.link, tt.target, types); r != "" {
			t.Errorf("linkReason(%q, %q) = %q, want it accepted", tt.link, tt.target, r)
		}
	}
	bad := []struct{ link, target, want string }{
		{"l", "", "could not send its target"},
		{"l", "/etc/passwd", "absolute"},
		{"l", "..", "leads out"},
		{"l", "../x", "leads out"},
		{"sub/l", "../../x", "leads out"},
		{"sub/l", "deep/../../../x", "leads out"},
		{"l", "tosub/../../x", "not a folder of the tree"}, // lexically inside; through a link it is not
		{"l", "tosub/b.txt", "not a folder of the tree"},
		{"l", "a.txt/x", "not a folder of the tree"},
		{"l", "missing/x", "not a folder of the tree"},
		{"l", "sub//b.txt", "not a clean relative path"},
		{"l", "sub/", "not a clean relative path"},
		{"l", "a\x1b[2Jb", "not a clean relative path"},
		{"l", "evil\u202etxt", "not a clean relative path"},
		{"l", "..\\..\\x", "not a clean relative path"},
		{"l", strings.Repeat("d/", 40) + "x", "not a folder of the tree"},
	}
	for _, tt := range bad {
		r := linkReason(tt.link, tt.target, types)
		if !strings.Contains(r, tt.want) {
			t.Errorf("linkReason(%q, %q) = %q, want a refusal mentioning %q", tt.link, tt.target, r, tt.want)
		}
	}
}

// Issue 3: with Symlinks, the tree's symlinks that stay inside it are
// recreated as they are; the others are reported as skipped, with the
// reason, and nothing is created for them.
func TestGetTreeSymlinks(t *testing.T) {
	forEachTransport(t, func(t *testing.T, k kit) {
		root := t.TempDir()
		outside := t.TempDir()
		writeFile(t, outside, "secret", []byte("secret"))
		writeFile(t, root, "logs/a.txt", []byte("a"))
		writeFile(t, root, "logs/sub/b.txt", []byte("b"))
		good := map[string]string{
			"logs/link":     "a.txt",
			"logs/sub/up":   "../a.txt",
			"logs/tosub":    "sub",
			"logs/chain":    "link",
			"logs/dangling": "nowhere",
		}
		bad := map[string]string{
			"logs/out":     "../secret",
			"logs/abs":     filepath.Join(outside, "secret"),
			"logs/through": "tosub/../../secret",
			"logs/ctl":     "a\x1b[2J.txt",
		}
		for _, m := range []map[string]string{good, bad} {
			for l, target := range m {
				if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
					t.Fatal(err)
				}
			}
		}
		addr, _ := serve(t, k, root, ServerConfig{})
		c := dial(t, k.client(t), addr, ClientConfig{})
		dest := t.TempDir()
		var mu sync.Mutex
		skipped := map[string]string{}
		linked := map[string]string{}
		same := 0
		opts := BatchOptions{DestDir: dest, Symlinks: true, SkipIdentical: true, Replace: true, Event: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case EventSkipped:
				skipped[e.Item.Local] = e.Reason
			case EventLink:
				linked[e.Item.Local] = e.Target
				if e.Same {
					same++
				}
			}
		}}
		sum, err := c.GetTree(testContext(t), "logs", opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Files != 2 || sum.Links != len(good) || sum.Skipped != len(bad) || sum.Failed != 0 {
			t.Errorf("summary %+v, want 2 files, %d links, %d skipped", sum, len(good), len(bad))
		}
		for l, target := range good {
			if got, err := os.Readlink(filepath.Join(dest, l)); err != nil || got != target {
				t.Errorf("%s: link to %q, %v; want a link to %q", l, got, err, target)
			}
			if linked[l] != target {
				t.Errorf("%s: no EventLink with target %q (%q)", l, target, linked[l])
			}
		}
		for l := range bad {
			if _, err := os.Lstat(filepath.Join(dest, l)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: created (%v), want it skipped", l, err)
			}
			if !strings.Contains(skipped[l], "not recreated") {
				t.Errorf("%s: skip reason %q", l, skipped[l])
			}
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "logs/sub/up")); string(got) != "a" {
			t.Errorf("logs/sub/up reads %q through the link, want %q", got, "a")
		}

		// The targets travel only when asked for (FIND mode 3).
		plain, _, err := c.Tree(testContext(t), "logs")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range plain {
			if e.Target != "" {
				t.Errorf("Tree: %s carries target %q; want targets only from TreeLinks", e.Path, e.Target)
			}
		}

		// Again: the links are there already.
		if sum, err := c.GetTree(testContext(t), "logs", opts); err != nil || sum.Links != len(good) || same != len(good) {
			t.Errorf("second run: %+v, %v, %d identical links; want %d", sum, err, same, len(good))
		}

		// A file in a link's place is replaced only as Replace allows; a
		// folder never.
		os.Remove(filepath.Join(dest, "logs/link"))
		writeFile(t, dest, "logs/link", []byte("mine"))
		os.Remove(filepath.Join(dest, "logs/chain"))
		os.Mkdir(filepath.Join(dest, "logs/chain"), 0o755)
		noClobber := opts
		noClobber.Replace = false
		sum, err = c.GetTree(testContext(t), "logs", noClobber)
		if !errors.Is(err, ErrExists) || sum.Failed != 2 {
			t.Errorf("no-clobber run: %+v, %v; want ErrExists and 2 failed", sum, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "logs/link")); string(got) != "mine" {
			t.Errorf("logs/link holds %q, want the local file kept", got)
		}
		sum, err = c.GetTree(testContext(t), "logs", opts)
		if !errors.Is(err, ErrExists) || sum.Failed != 1 {
			t.Errorf("replacing run: %+v, %v; want only the folder refused", sum, err)
		}
		if got, err := os.Readlink(filepath.Join(dest, "logs/link")); err != nil || got != "a.txt" {
			t.Errorf("logs/link: %q, %v; want the file replaced by the link", got, err)
		}
		if fi, err := os.Lstat(filepath.Join(dest, "logs/chain")); err != nil || !fi.IsDir() {
			t.Errorf("logs/chain: %v; want the folder kept", err)
		}
	})
}

// linkServer is a fake server that announces flags and answers one FIND
// with the MANIFEST frame that manifest builds; it reports the FIND's mode.
func linkServer(t *testing.T, k kit, flags uint64, manifest func(id uint64) []byte) (string, <-chan wire.FindMode) {
	t.Helper()
	ctx := testContext(t)
	ln, err := k.server(t).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	modes := make(chan wire.FindMode, 1)
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
			Flags: flags, Algorithms: []wire.Algorithm{wire.BLAKE3}})
		ctrl.Write(b)
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		f, ok := m.(*wire.Find)
		if !ok {
			return
		}
		modes <- f.Mode
		ctrl.Write(manifest(f.ID))
		b, _ = wire.AppendFrame(nil, &wire.ListEnd{ID: f.ID})
		ctrl.Write(b)
		select {
		case <-sess.Context().Done():
		case <-ctx.Done():
		}
	}()
	return ln.Addr().String(), modes
}

// Issue 3: hostile link targets from a server are refused before anything
// is written: the links are skipped, nothing is created for them, and a
// target that breaks the wire format refuses the whole manifest.
func TestHostileLinkTargets(t *testing.T) {
	targets := map[string]string{
		"abs":     "/etc/passwd",
		"up":      "../..",
		"upfar":   "d/../../../../etc/passwd",
		"ctl":     "a\x1b]0;pwned\x07",
		"newline": "a\nb",
		"bidi":    "evil\u202etxt",
		"through": "self/../..",
		"empty":   "d//x",
	}
	entries := []wire.ManifestEntry{{Path: "d", Type: wire.EntryDir, Mode: 0o755}, {Path: "self", Type: wire.EntrySymlink, Target: "."}}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range targets {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		entries = append(entries, wire.ManifestEntry{Path: "d/" + n, Type: wire.EntrySymlink, Target: targets[n]})
	}
	forEachTransport(t, func(t *testing.T, k kit) {
		addr, modes := linkServer(t, k, wire.FlagFind|wire.FlagLinks, func(id uint64) []byte {
			b, err := wire.AppendFrame(nil, &wire.Manifest{ID: id, Entries: entries})
			if err != nil {
				t.Error(err)
			}
			return b
		})
		c := dial(t, k.client(t), addr, ClientConfig{})
		dest := t.TempDir()
		var mu sync.Mutex
		skipped := map[string]string{}
		ctx, cancel := context.WithTimeout(testContext(t), 10*time.Second)
		defer cancel()
		sum, err := c.GetTree(ctx, ".", BatchOptions{DestDir: dest, Symlinks: true, Replace: true, Event: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Kind == EventSkipped {
				skipped[e.Item.Local] = e.Reason
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if m := <-modes; m != wire.FindTreeLinks {
			t.Errorf("FIND mode %v, want %v", m, wire.FindTreeLinks)
		}
		if sum.Links != 1 || sum.Skipped != len(targets) {
			t.Errorf("summary %+v, want 1 link and %d skipped", sum, len(targets))
		}
		for _, n := range names {
			if !strings.Contains(skipped["d/"+n], "not recreated") {
				t.Errorf("d/%s (-> %q): skip reason %q", n, targets[n], skipped["d/"+n])
			}
		}
		if left, _ := os.ReadDir(filepath.Join(dest, "d")); len(left) != 0 {
			t.Errorf("created d/%s for a hostile link", left[0].Name())
		}
	})

	// A target that breaks the wire format (NUL) refuses the whole
	// manifest: a protocol violation, nothing written.
	forEachTransport(t, func(t *testing.T, k kit) {
		addr, _ := linkServer(t, k, wire.FlagFind|wire.FlagLinks, func(id uint64) []byte {
			b := rawManifest(id, []string{"ok", "nul"}, []wire.EntryType{wire.EntryDir, 5})
			b = append(b, 0, 3, 'a', 0, 'b') // the target of the last entry
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		})
		c := dial(t, k.client(t), addr, ClientConfig{})
		dest := t.TempDir()
		ctx, cancel := context.WithTimeout(testContext(t), 10*time.Second)
		defer cancel()
		if _, err := c.GetTree(ctx, ".", BatchOptions{DestDir: dest, Symlinks: true}); !errors.Is(err, ErrProtocol) {
			t.Errorf("GetTree: %v, want ErrProtocol", err)
		}
		if left, _ := os.ReadDir(dest); len(left) != 0 {
			t.Errorf("created %v before refusing the manifest", left[0].Name())
		}
	})
}

// Issue 3: an older server (no FlagLinks) is never sent the FIND mode it
// does not know; its symlinks are skipped, saying why.
func TestSymlinksOlderServer(t *testing.T) {
	k := kits(t)[0]
	addr, modes := linkServer(t, k, wire.FlagFind, func(id uint64) []byte {
		return rawManifest(id, []string{"a"}, []wire.EntryType{wire.EntrySymlink})
	})
	c := dial(t, k.client(t), addr, ClientConfig{})
	var reason string
	sum, err := c.GetTree(testContext(t), ".", BatchOptions{DestDir: t.TempDir(), Symlinks: true, Event: func(e Event) {
		if e.Kind == EventSkipped {
			reason = e.Reason
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if m := <-modes; m != wire.FindTree {
		t.Errorf("FIND mode %v, want %v", m, wire.FindTree)
	}
	if sum.Skipped != 1 || !strings.Contains(reason, "predates") {
		t.Errorf("summary %+v, reason %q; want the link skipped because the server predates targets", sum, reason)
	}
}
