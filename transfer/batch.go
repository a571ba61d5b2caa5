package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// DefaultParallel is the number of files GetBatch fetches at once.
const DefaultParallel = 8

// publishersPerSlot: GetBatch runs this many workers per file in flight on
// the network; the others wait for the sync that makes their file durable.
const publishersPerSlot = 8

// Item is one file of a batch.
type Item struct {
	Remote string     // the path on the server
	Local  string     // the path beneath the batch's DestDir, slash-separated
	Entry  *TreeEntry // what Glob or Tree said about it, if known
}

// BatchOptions controls GetBatch and GetTree. The zero value fetches into
// the current folder, 8 files at once, refusing to replace existing files.
type BatchOptions struct {
	DestDir       string // default "."
	Parallel      int    // files in flight at once; default DefaultParallel, capped by the server's limit
	Replace       bool   // see GetOptions.Replace
	SkipIdentical bool   // see GetOptions.SkipIdentical
	Resume        bool   // see GetOptions.Resume
	NoSync        bool   // see GetOptions.NoSync
	// Symlinks makes FetchTree and GetTree recreate the tree's symlinks
	// whose targets stay inside the tree (see FetchTree). Default: every
	// symlink is skipped. FetchTree needs the manifest from TreeLinks.
	Symlinks bool
	// Event, if set, receives the batch's events, one call at a time.
	Event func(Event)
}

// EventKind names an Event.
type EventKind int

// Kinds of Event.
const (
	EventStart    EventKind = iota + 1 // a file's transfer begins
	EventProgress                      // bytes arrived (at most every 100 ms per file)
	EventDone                          // a file was fetched and verified, or found identical (Result.Identical)
	EventSkipped                       // an entry that is not fetched (a symlink, a special file)
	EventError                         // a file failed
	EventLink                          // a symlink was recreated, or found identical (Same)
)

// Event reports what a batch is doing.
type Event struct {
	Kind   EventKind
	Item   Item
	Done   int64   // EventProgress: bytes of the file so far, resumed ones included
	Total  int64   // EventProgress: the file's size
	Result *Result // EventDone
	Reason string  // EventSkipped
	Err    error   // EventError
	Target string  // EventLink: the link's target
	Same   bool    // EventLink: the link was already there, with this target
}

// Summary counts what a batch did.
type Summary struct {
	Files     int   // files fetched and verified (identical ones included)
	Identical int   // files already identical: nothing transferred
	Failed    int   // files that failed
	Skipped   int   // entries not fetched (symlinks, special files)
	Links     int   // symlinks recreated or already there (BatchOptions.Symlinks)
	Bytes     int64 // bytes of the files
	Received  int64 // bytes that came over the network, those of files that failed included
	Duration  time.Duration
}

// ReasonPartFile is why FetchTree, and ferry get with a glob, skip a file
// whose name ends in safefs.PartSuffix: it is the partial file of a fetch
// that has not finished on the server's side, and its name is one that
// ferry keeps for its own partial files on this side.
const ReasonPartFile = "a partial file of an unfinished ferry fetch (" + safefs.PartSuffix + "), not fetched"

// GetBatch fetches items, up to opts.Parallel at once over the one session:
// each file's GET and data stream go out at once, so the round trips of
// many small files overlap. A file that fails does not stop the others,
// except when the session itself is lost, ctx is done, or the destination
// is full (or read-only: see destinationFull), which would fail every
// file; the first error (that one, if any) is returned along with the
// summary. The files of a batch are made durable with file-system syncs
// they share (safefs.PublishOptions.SharedSync), not two fsyncs each: a
// file is still reported done only once it and its name are on disk.
func (c *Client) GetBatch(ctx context.Context, items []Item, opts BatchOptions) (Summary, error) {
	start := time.Now()
	par := opts.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	if err := c.waitReady(ctx); err != nil {
		return Summary{}, err
	}
	par = min(par, cap(c.sem), max(len(items), 1))
	// More workers than files on the network: a worker whose file waits
	// for the shared sync that makes it durable holds no network slot, so
	// while one sync runs the next files keep arriving, and the sync after
	// it covers them all.
	slots := make(chan struct{}, par)
	workers := min(publishersPerSlot*par, max(len(items), 1))
	// The destination and its folders are opened once for the batch.
	dest, err := safefs.OpenDest(opts.DestDir)
	if err != nil {
		return Summary{Failed: len(items)}, fmt.Errorf("destination folder: %w", err)
	}
	defer dest.Close()
	var (
		mu       sync.Mutex
		sum      Summary
		firstErr error
		// destErr is set by the first file that failed on an error of
		// the destination that every other file would meet too (no space
		// left): the batch then starts no more files.
		destErr error
	)
	emit := func(e Event) {
		if opts.Event != nil {
			opts.Event(e)
		}
	}
	// bctx stops the files waiting for a network slot, and those in
	// flight, once the destination is full.
	bctx, stopBatch := context.WithCancelCause(ctx)
	defer stopBatch(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				it := items[i]
				mu.Lock()
				stop := destErr != nil
				mu.Unlock()
				if stop {
					continue // counted as failed below, as never started
				}
				// The file starts when its GET goes out, not while it
				// waits for a network slot.
				started := sync.OnceFunc(func() {
					mu.Lock()
					emit(Event{Kind: EventStart, Item: it})
					mu.Unlock()
				})
				onNetwork := false // the file's GET took its slots
				var last time.Time
				// What arrived of a file that then failed still counts as
				// received: from the first progress call (the resumed
				// bytes) to the last.
				began, reached := int64(-1), int64(0)
				res, err := c.Get(bctx, it.Remote, GetOptions{
					DestDir: opts.DestDir, Name: it.Local, Replace: opts.Replace,
					SkipIdentical: opts.SkipIdentical, Resume: opts.Resume, NoSync: opts.NoSync, Expected: it.Entry,
					dest: dest, sharedSync: true, slots: slots,
					onSlot: func() { onNetwork = true; started() },
					Progress: func(done, total int64) {
						if began < 0 {
							began = done
						}
						reached = done
						if opts.Event == nil {
							return
						}
						if now := time.Now(); now.Sub(last) >= 100*time.Millisecond || done == total {
							last = now
							mu.Lock()
							emit(Event{Kind: EventProgress, Item: it, Done: done, Total: total})
							mu.Unlock()
						}
					},
				})
				mu.Lock()
				stopped := destErr != nil && ctx.Err() == nil && errors.Is(err, context.Canceled)
				mu.Unlock()
				if stopped && !onNetwork {
					continue // never started: counted as failed below
				}
				started() // a file that needed no GET starts and ends here
				if stopped {
					err = fmt.Errorf("stopped: %w", context.Cause(bctx))
				}
				mu.Lock()
				if err != nil {
					sum.Failed++
					if began >= 0 {
						sum.Received += reached - began
					}
					if firstErr == nil {
						firstErr = err
					}
					if destErr == nil && destinationFull(err) {
						destErr = err
						stopBatch(err)
					}
					emit(Event{Kind: EventError, Item: it, Err: err})
				} else {
					sum.Files++
					sum.Bytes += res.Size
					sum.Received += res.Received
					if res.Identical {
						sum.Identical++
					}
					emit(Event{Kind: EventDone, Item: it, Result: res})
				}
				mu.Unlock()
			}
		})
	}
	for i := range items {
		mu.Lock()
		stop := destErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil || c.lost() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	sum.Duration = time.Since(start)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil && c.lost() {
		firstErr = c.err
	}
	if destErr != nil {
		firstErr = destErr
	}
	// Files never started count as failed.
	sum.Failed = len(items) - sum.Files
	return sum, firstErr
}

// destinationFull reports an error of the destination's file system that
// every further file would meet too: no space or quota left, or a file
// system that is read-only.
func destinationFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}

// lost reports whether the session has ended.
func (c *Client) lost() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// GetTree fetches the folder dir from the server into DestDir/BASE, where
// BASE is the last element of dir ("." fetches the whole served folder into
// DestDir itself), like "scp -r". It asks for the folder's manifest first
// and checks all of it (CheckManifest) before creating anything; then it
// creates the folders, fetches the files with GetBatch, and finally sets
// the folders' modification times. Special files are reported as skipped
// (EventSkipped), never created; so are symlinks, unless opts.Symlinks asks
// for those that stay inside the tree (see FetchTree).
func (c *Client) GetTree(ctx context.Context, dir string, opts BatchOptions) (Summary, error) {
	start := time.Now()
	tree := c.Tree
	if opts.Symlinks {
		tree = c.TreeLinks
	}
	entries, _, err := tree(ctx, dir)
	if err != nil {
		return Summary{}, err
	}
	sum, err := c.FetchTree(ctx, dir, entries, opts)
	sum.Duration = time.Since(start)
	return sum, err
}

// FetchTree is GetTree with the manifest already in hand (from Tree, or
// TreeLinks for opts.Symlinks); it checks it again with CheckManifest
// before creating anything.
//
// With opts.Symlinks, each symlink's target is judged before anything is
// created: it must be relative, made of ".", ".." and names that pass the
// name rule, and, resolved from the link's folder through folders of the
// manifest only, stay inside the tree. A link that passes is created once
// the files are fetched (so that no file is ever written through it), with
// safefs.CreateSymlink: an identical link is left as it is, anything else
// in the way is replaced only as opts.Replace allows, a folder never. A
// link that does not pass is reported as skipped, with the reason.
func (c *Client) FetchTree(ctx context.Context, dir string, entries []TreeEntry, opts BatchOptions) (Summary, error) {
	start := time.Now()
	base := path.Base(dir)
	if dir == "." {
		base = ""
	}
	local := func(p string) string {
		if base == "" {
			return p
		}
		return base + "/" + p
	}
	remote := func(p string) string {
		if dir == "." {
			return p
		}
		return dir + "/" + p
	}
	if err := CheckManifest(base, entries); err != nil {
		return Summary{}, err
	}
	destDir := opts.DestDir
	if destDir == "" {
		destDir = "."
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return Summary{}, fmt.Errorf("destination folder: %w", err)
	}
	defer root.Close()

	var dirs []TreeEntry
	var items []Item
	var links []*TreeEntry
	var skipped int
	skip := func(e *TreeEntry, reason string) {
		skipped++
		if opts.Event != nil {
			opts.Event(Event{Kind: EventSkipped, Item: Item{Remote: remote(e.Path), Local: local(e.Path), Entry: e}, Reason: reason})
		}
	}
	// Judge every link before anything is created.
	if opts.Symlinks {
		types := make(map[string]wire.EntryType, len(entries))
		for _, e := range entries {
			types[e.Path] = e.Type
		}
		for i := range entries {
			e := &entries[i]
			if e.Type != wire.EntrySymlink {
				continue
			}
			reason := linkReason(e.Path, e.Target, types)
			if reason == reasonNoTarget && !c.canLinks {
				reason = reasonNoLinkSupport
			}
			if reason != "" {
				skip(e, reason)
				continue
			}
			links = append(links, e)
		}
	}
	if base != "" {
		if err := mkdir(root, base); err != nil {
			return Summary{}, err
		}
	}
	for i := range entries {
		e := &entries[i]
		switch e.Type {
		case wire.EntryDir:
			if err := mkdir(root, local(e.Path)); err != nil {
				return Summary{}, err
			}
			dirs = append(dirs, *e)
		case wire.EntryFile:
			if safefs.IsPartName(e.Path) {
				skip(e, ReasonPartFile)
				continue
			}
			items = append(items, Item{Remote: remote(e.Path), Local: local(e.Path), Entry: e})
		case wire.EntrySymlink:
			if !opts.Symlinks {
				skip(e, reasonSymlink)
			}
		default:
			skip(e, "not a regular file")
		}
	}
	sum, err := c.GetBatch(ctx, items, opts)
	sum.Skipped += skipped
	if ctx.Err() == nil {
		for _, e := range links {
			it := Item{Remote: remote(e.Path), Local: local(e.Path), Entry: e}
			same, lerr := safefs.CreateSymlink(root, it.Local, e.Target, opts.Replace)
			if errors.Is(lerr, safefs.ErrExists) {
				lerr = fmt.Errorf("%s: %w (not replaced by the server's link to %s)",
					safefs.Printable(filepath.Join(destDir, filepath.FromSlash(it.Local))), ErrExists, safefs.Printable(e.Target))
			}
			if lerr != nil {
				sum.Failed++
				if err == nil {
					err = lerr
				}
				if opts.Event != nil {
					opts.Event(Event{Kind: EventError, Item: it, Err: lerr})
				}
				continue
			}
			sum.Links++
			if opts.Event != nil {
				opts.Event(Event{Kind: EventLink, Item: it, Target: e.Target, Same: same})
			}
		}
	}
	// Deepest first, so that setting a folder's time is not undone by
	// changes inside it.
	slices.Reverse(dirs)
	for _, d := range dirs {
		root.Chtimes(local(d.Path), d.ModTime, d.ModTime)
	}
	sum.Duration = time.Since(start)
	return sum, err
}

// mkdir creates the folder p beneath root, and accepts one that exists.
// A file in the way is an error.
func mkdir(root *os.Root, p string) error {
	if err := safefs.ValidatePath(p); err != nil {
		return err
	}
	err := root.MkdirAll(p, 0o755)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cannot create folder %s: %w", safefs.Printable(p), ErrExists)
		}
		return fmt.Errorf("cannot create folder %s: %w", safefs.Printable(p), err)
	}
	return nil
}
