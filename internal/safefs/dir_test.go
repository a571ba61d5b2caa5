package safefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
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

// Sync returns only once a sync that began after the call has finished:
// callers that arrive while a sync runs share the next one.
func TestDestDirSyncGroupCommit(t *testing.T) {
	root := openRoot(t, t.TempDir())
	d, err := OpenDestDir(root, ".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := make(chan struct{})
	var mu sync.Mutex
	var order []string
	testHookDirSync = func(n uint64) {
		if n == 1 {
			<-first
		}
		mu.Lock()
		order = append(order, fmt.Sprintf("sync %d", n))
		mu.Unlock()
	}
	t.Cleanup(func() { testHookDirSync = nil })

	var wg sync.WaitGroup
	wg.Go(func() { d.Sync() }) // starts sync 1, which blocks
	waitFor(func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.running })
	const late = 5
	for range late {
		wg.Go(func() {
			if err := d.Sync(); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, "returned")
			mu.Unlock()
		})
	}
	waitFor(func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.waiting == late })
	close(first)
	wg.Wait()
	if d.started != 2 {
		t.Errorf("%d syncs for %d callers, want 2", d.started, late+1)
	}
	if len(order) < 2 || order[0] != "sync 1" || order[1] != "sync 2" {
		t.Errorf("order %q: a caller that came during sync 1 returned before sync 2", order)
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
