package safefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Many files published at once into one DestDir: each appears whole under
// its name, no part name is left, and the part names never show.
func TestDestDirConcurrentPublish(t *testing.T) {
	for _, link := range []bool{false, true} {
		t.Run(fmt.Sprintf("link=%v", link), func(t *testing.T) {
			testNoRenameat2 = link
			t.Cleanup(func() { testNoRenameat2 = false })
			root := openRoot(t, t.TempDir())
			d, err := OpenDestDir(root, "a/b")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			const n = 40
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					name := fmt.Sprintf("f%02d", i)
					p, err := d.CreatePartial(name, "a/b/"+name, false)
					if err != nil {
						t.Error(err)
						return
					}
					defer p.Discard()
					fmt.Fprintf(p, "file %d", i)
					if err := p.Publish(PublishOptions{}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			ents, _ := os.ReadDir(filepath.Join(root.Name(), "a/b"))
			if len(ents) != n {
				t.Fatalf("%d entries, want %d", len(ents), n)
			}
			for i := range n {
				got, err := os.ReadFile(filepath.Join(root.Name(), "a/b", fmt.Sprintf("f%02d", i)))
				if err != nil || string(got) != fmt.Sprintf("file %d", i) {
					t.Errorf("f%02d: %q, %v", i, got, err)
				}
			}
			// Without replacing, an existing name is refused either way.
			p, err := d.CreatePartial("f00", "a/b/f00", false)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(PublishOptions{}); !errors.Is(err, ErrExists) {
				t.Errorf("Publish over an existing file: %v, want ErrExists", err)
			}
			p.Discard()
		})
	}
}

// A group sync returns only once a run that began after the call has
// finished: callers that arrive while a run is in progress share the next.
func TestGroupSync(t *testing.T) {
	first := make(chan struct{})
	var mu sync.Mutex
	var order []string
	g := newGroupSync(func() error { return nil }, 0)
	g.testHook = func(n uint64) {
		if n == 1 {
			<-first
		}
		mu.Lock()
		order = append(order, fmt.Sprintf("sync %d", n))
		mu.Unlock()
	}

	var wg sync.WaitGroup
	wg.Go(func() { g.sync() }) // starts run 1, which blocks
	waitFor(func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.running })
	const late = 5
	for range late {
		wg.Go(func() {
			if err := g.sync(); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, "returned")
			mu.Unlock()
		})
	}
	waitFor(func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.waiting == late })
	close(first)
	wg.Wait()
	if g.started != 2 {
		t.Errorf("%d runs for %d callers, want 2", g.started, late+1)
	}
	if len(order) < 2 || order[0] != "sync 1" || order[1] != "sync 2" {
		t.Errorf("order %q: a caller that came during run 1 returned before run 2", order)
	}
}

// With a linger, callers that arrive while the first one waits share its
// run; without it, the second caller needs a run of its own.
func TestGroupSyncLinger(t *testing.T) {
	for _, linger := range []time.Duration{0, 200 * time.Millisecond} {
		g := newGroupSync(func() error { time.Sleep(20 * time.Millisecond); return nil }, linger)
		var wg sync.WaitGroup
		wg.Go(func() { g.sync() })
		waitFor(func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.running })
		wg.Go(func() { g.sync() })
		wg.Wait()
		want := uint64(2)
		if linger > 0 {
			want = 1
		}
		if g.started != want {
			t.Errorf("linger %v: %d runs for two callers, want %d", linger, g.started, want)
		}
	}
}

// A run's error reaches every caller it covers.
func TestGroupSyncError(t *testing.T) {
	boom := errors.New("boom")
	g := newGroupSync(func() error { return boom }, 0)
	if err := g.sync(); !errors.Is(err, boom) {
		t.Fatalf("sync: %v, want boom", err)
	}
}

// With SharedSync, the file system is synced after the part file is
// written and before it gets its name, and again after: a crash at any
// moment leaves either no name or the name with every byte.
func TestPublishSharedSyncOrder(t *testing.T) {
	dest := openSyncDest(t)
	d, err := dest.Dir("sub")
	if err != nil {
		t.Fatal(err)
	}
	if d.fsSync == nil {
		t.Fatal("a folder of a Dest has no file-system sync")
	}
	if again, _ := dest.Dir("sub"); again != d {
		t.Error("Dir opened the same folder twice")
	}
	p, err := d.CreatePartial("f", "sub/f", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	var named []bool
	d.fsSync.testHook = func(uint64) {
		_, err := d.Root().Lstat("f")
		named = append(named, err == nil)
	}
	if err := p.Publish(PublishOptions{SharedSync: true}); err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 || named[0] || !named[1] {
		t.Errorf("file-system syncs saw the name %v, want [false true]: one before the rename, one after", named)
	}
	if got, err := dest.Root().ReadFile("sub/f"); err != nil || string(got) != "data" {
		t.Errorf("published file: %q, %v", got, err)
	}
}

// NoSync publishes without a single sync, shared or not; without it the
// same Publish syncs (so the counting below can see them).
func TestPublishNoSync(t *testing.T) {
	for _, tc := range []struct {
		shared, noSync bool
		want           int
	}{
		{shared: false, noSync: false, want: 2}, // fsync of the file, then of the folder
		{shared: true, noSync: false, want: 2},  // syncfs before the rename and after
		{shared: false, noSync: true, want: 0},
		{shared: true, noSync: true, want: 0},
	} {
		t.Run(fmt.Sprintf("shared=%v,nosync=%v", tc.shared, tc.noSync), func(t *testing.T) {
			dest := openSyncDest(t)
			d, err := dest.Dir(".")
			if err != nil {
				t.Fatal(err)
			}
			syncs := 0
			count := func(uint64) { syncs++ }
			d.fsSync.testHook, d.dirSync.testHook = count, count
			testHookFileSync = func() { syncs++ }
			t.Cleanup(func() { testHookFileSync = nil })
			p, err := d.CreatePartial("f", "f", false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write([]byte("data")); err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(PublishOptions{SharedSync: tc.shared, NoSync: tc.noSync}); err != nil {
				t.Fatal(err)
			}
			if syncs != tc.want {
				t.Errorf("%d syncs, want %d", syncs, tc.want)
			}
			if got, err := dest.Root().ReadFile("f"); err != nil || string(got) != "data" {
				t.Errorf("published file: %q, %v", got, err)
			}
		})
	}
}

// waitFor yields until cond holds; the test's deadline bounds it.
func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// The folders of one Dest on one file system share one group of syncs, so
// that files published into different folders still share their syncs.
func TestDestFoldersShareSyncs(t *testing.T) {
	dest := openSyncDest(t)
	top, err := dest.Dir(".")
	if err != nil {
		t.Fatal(err)
	}
	deep, err := dest.Dir("a/b")
	if err != nil {
		t.Fatal(err)
	}
	if top.fsSync == nil || top.fsSync != deep.fsSync {
		t.Errorf("folders on one file system have syncs %p and %p, want one shared", top.fsSync, deep.fsSync)
	}
	if top.dirSync == deep.dirSync {
		t.Error("two folders share one folder sync")
	}
}

// openSyncDest opens a Dest on a fresh folder, skipping the test where
// there is no syncfs.
func openSyncDest(t *testing.T) *Dest {
	t.Helper()
	if !haveSyncFS {
		t.Skip("no syncfs here")
	}
	dest, err := OpenDest(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Close() })
	return dest
}
