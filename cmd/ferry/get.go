package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transfer"
)

const getHelp = `Fetch files and folders from a ferry server. Every byte is verified with
BLAKE3, and the file is on disk, before it appears under its name; a failed or
interrupted fetch leaves no file under its name, only a partial file that the
same command continues later.

Usage:
  ferry get [flags] HOST:PORT PATH...

PATH is relative to the folder the server shares. It may be a glob, expanded
on the server ('logs/*.gz': quote it so that your shell leaves it alone).
Without -o, each file is saved in the current folder under the last element
of its PATH; with -r a folder is fetched whole, as DEST/NAME/... ("." with -r
fetches the whole shared folder into DEST itself).

Flags:
  -r, --recursive         fetch folders and everything beneath them
  -o, --output DEST       with one file: the file to write, or an existing folder
                          to write into; "-" writes the file to stdout.
                          Otherwise: the folder to write into (created if needed)
  --parallel N            files in flight at once over the one connection (default 8)
  --no-clobber            never replace an existing file that differs
                          (by default it is replaced, atomically, once the new
                          one is verified)
  --no-sync               do not wait for each file to reach the disk before it
                          gets its name (as cp and rsync do): faster for many
                          small files, but a power cut or system crash soon
                          after may leave a fetched file empty or short. A
                          killed or failed fetch still never leaves one
  --symlinks              with -r, recreate the symlinks whose targets stay
                          inside the fetched folder (by default every symlink
                          is reported and skipped)
  -q, --quiet             print nothing but errors (no progress, no summary)
  --json                  print newline-delimited JSON events on stdout instead
                          of text (see docs/cli.md)
  --digest NAME           blake3 (default) or sha256, the digest that verifies
                          every file

An existing file identical to the server's (same digest) is not fetched
again. A partial file left by an interrupted fetch is continued once its
bytes are proven to match the server's file, and fetched again from the
start, with a notice, when they do not.

` + clientFlagsHelp + `
Output:
  Progress bars on stderr when it is a terminal; then one line per file:
  "fetched PATH → LOCAL (SIZE, RATE, blake3 verified)". Exit status 0 when every
  file was fetched, 1 when any failed, 2 on a wrong command line, 130 when
  interrupted by ^C (143 by SIGTERM; the same command continues). With -o -,
  bytes reach stdout as they arrive and are verified at the end: only exit
  status 0 says that what was written is the file.

Examples:
  ferry get example.org:7420 photos/cat.jpg
  ferry get -t tls -o backup/ example.org:7420 a.txt b.txt 'logs/*.gz'
  ferry get -r -o out example.org:7420 logs
  ferry get --pin SHA256:… -o - example.org:7420 notes.txt | less
`

func getMain(c *cli, args []string) int {
	var (
		cf                                   clientFlags
		out, digest                          string
		force, resume, quiet, jsonOut, recur bool
		noClobber, symlinks, noSync          bool
		parallel                             int
	)
	fs := newFlagSet("get")
	cf.register(fs)
	fs.StringVar(&out, "o", "", "")
	fs.StringVar(&out, "output", "", "")
	fs.BoolVar(&recur, "r", false, "")
	fs.BoolVar(&recur, "recursive", false, "")
	fs.BoolVar(&force, "f", false, "")
	fs.BoolVar(&force, "force", false, "")
	fs.BoolVar(&noClobber, "no-clobber", false, "")
	fs.BoolVar(&symlinks, "symlinks", false, "")
	fs.BoolVar(&noSync, "no-sync", false, "")
	fs.BoolVar(&resume, "resume", true, "")
	fs.IntVar(&parallel, "parallel", transfer.DefaultParallel, "")
	fs.StringVar(&digest, "digest", "blake3", "")
	fs.BoolVar(&quiet, "q", false, "")
	fs.BoolVar(&quiet, "quiet", false, "")
	fs.BoolVar(&jsonOut, "json", false, "")
	pos, status, done := c.parse(fs, "get", getHelp, args)
	if done {
		return status
	}
	if len(pos) < 2 {
		return c.misuse("get", usagef("get needs a server and at least one path: ferry get HOST:PORT PATH..."))
	}
	if err := cf.check(pos[0]); err != nil {
		return c.misuse("get", err)
	}
	if digest != "blake3" && digest != "sha256" {
		return c.misuse("get", usagef("unknown --digest %q: choose blake3 or sha256", digest))
	}
	if parallel < 1 || parallel > 256 {
		return c.misuse("get", usagef("--parallel must be between 1 and 256"))
	}
	if symlinks && !recur {
		return c.misuse("get", usagef("--symlinks recreates the links inside folders fetched with -r: add -r"))
	}
	if force && noClobber {
		return c.misuse("get", usagef("--force and --no-clobber contradict each other"))
	}
	paths := pos[1:]
	for i, p := range paths {
		if p == "" {
			return c.misuse("get", usagef("empty path"))
		}
		paths[i] = remotePath(p)
	}
	// The same PATH twice is one fetch.
	seen := make(map[string]bool, len(paths))
	paths = slices.DeleteFunc(paths, func(p string) bool {
		dup := seen[p]
		seen[p] = true
		return dup
	})
	if slices.Contains(paths, ".") && (len(paths) > 1 || !recur) {
		return c.misuse("get", usagef(`"." is the whole shared folder: fetch it alone, with -r`))
	}
	toStdout := out == "-"
	if toStdout && (len(paths) > 1 || recur || strings.ContainsAny(paths[0], "*?[")) {
		return c.misuse("get", usagef("-o - writes one file to stdout: give one PATH, without -r or wildcards"))
	}
	if toStdout && jsonOut {
		return c.misuse("get", usagef("-o - and --json both want stdout: choose one"))
	}
	if toStdout && noClobber {
		return c.misuse("get", usagef("--no-clobber applies to files, not to -o -"))
	}
	if toStdout && noSync {
		return c.misuse("get", usagef("--no-sync applies to files, not to -o -"))
	}

	// Where files go: a folder (the client names each file after the last
	// element of its path) or, for one plain path, an explicit file name.
	destDir, name := ".", ""
	single := len(paths) == 1 && !recur && !strings.ContainsAny(paths[0], "*?[")
	switch {
	case out == "" || toStdout:
	case !single || strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) || isDir(out):
		destDir = out
	default:
		destDir, name = filepath.Dir(out), filepath.Base(out)
	}

	ctx, stop := withInterrupt(context.Background())
	defer stop()

	var rep reporter
	if jsonOut {
		rep = newJSONReporter(c.stdout, destDir)
	} else {
		rep = newTextReporter(c, quiet, toStdout, destDir)
	}
	rep.start(cf.addr, cf.transport, paths)

	if destDir != "." && !toStdout && !isDir(destDir) {
		if single && name != "" {
			return rep.fatal(fmt.Errorf("cannot write %s: folder %s does not exist", out, destDir))
		}
		if fi, err := os.Stat(destDir); err == nil && !fi.IsDir() {
			return rep.fatal(fmt.Errorf("-o %s is a file: with several paths, a glob or -r, -o names the folder to write into", destDir))
		}
		if err := os.MkdirAll(destDir, 0o755); err != nil {
			return rep.fatal(fmt.Errorf("cannot create the folder %s: %w", destDir, err))
		}
		// A fetch that saves nothing leaves no empty folder behind.
		defer os.Remove(destDir) // fails harmlessly when the folder is not empty
	}

	cl, closeClient, err := c.connect(ctx, &cf, digest)
	if err != nil {
		return rep.fatal(runError(ctx, err))
	}
	defer closeClient()

	if toStdout {
		return getStdout(ctx, c, cl, paths[0], rep)
	}

	opts := transfer.BatchOptions{
		DestDir: destDir, Parallel: parallel, Replace: !noClobber,
		SkipIdentical: true, Resume: resume, NoSync: noSync, Symlinks: symlinks, Event: rep.event,
	}
	plan, err := resolve(ctx, cl, paths, recur, symlinks, name, rep)
	if err != nil {
		return rep.fatal(runError(ctx, err))
	}
	var sum transfer.Summary
	sum.Failed = plan.failed
	sum.Skipped = plan.skipped
	start := time.Now()
	rep.plan(plan.bytes, plan.files)
	if len(plan.items) > 0 {
		s, err := cl.GetBatch(ctx, plan.items, opts)
		add(&sum, s)
		if err != nil && fatal(ctx, err) {
			sum.Duration = time.Since(start)
			return rep.summary(sum, runError(ctx, err))
		}
	}
	for _, tr := range plan.trees {
		s, err := cl.FetchTree(ctx, tr.dir, tr.entries, opts)
		add(&sum, s)
		if err != nil && (fatal(ctx, err) || errors.Is(err, transfer.ErrProtocol)) {
			sum.Duration = time.Since(start)
			return rep.summary(sum, runError(ctx, err))
		}
	}
	sum.Duration = time.Since(start)
	return rep.summary(sum, runError(ctx, nil))
}

func add(sum *transfer.Summary, s transfer.Summary) {
	sum.Files += s.Files
	sum.Identical += s.Identical
	sum.Failed += s.Failed
	sum.Skipped += s.Skipped
	sum.Bytes += s.Bytes
	sum.Received += s.Received
	sum.Links += s.Links
}

// plan is what a get command fetches, resolved on the server before any
// file is written.
type plan struct {
	items   []transfer.Item
	trees   []tree
	files   int   // files to fetch, trees included
	bytes   int64 // their size
	failed  int   // paths that resolved to nothing fetchable
	skipped int
}

type tree struct {
	dir     string
	entries []transfer.TreeEntry
}

// resolve expands every PATH on the server (globs, and the manifests of
// folders with -r) and checks that no two files would be saved under the
// same local name, before anything is written. Paths that match nothing,
// or name a folder without -r, are reported and counted as failed.
func resolve(ctx context.Context, cl *transfer.Client, paths []string, recur, symlinks bool, name string, rep reporter) (*plan, error) {
	type result struct {
		entries []transfer.TreeEntry
		err     error
	}
	results := make([]result, len(paths))
	done := make(chan struct{})
	// The FINDs go out at once: one round trip for all the paths.
	for i, p := range paths {
		go func() {
			defer func() { done <- struct{}{} }()
			if p == "." {
				// The shared folder itself: its tree, straight into DEST.
				results[i] = result{entries: []transfer.TreeEntry{{Path: ".", Type: wire.EntryDir}}}
				return
			}
			es, err := cl.Glob(ctx, p)
			if errors.Is(err, transfer.ErrUnsupported) && !strings.ContainsAny(p, "*?[") {
				// An older server: fetch the path as it is.
				results[i] = result{entries: []transfer.TreeEntry{{Path: p, Type: wire.EntryFile, Size: -1}}}
				return
			}
			results[i] = result{es, err}
		}()
	}
	for range paths {
		<-done
	}
	pl := &plan{}
	locals := map[string]string{} // FoldKey of the local path → remote path
	claim := func(local, remote string) error {
		k := safefs.FoldKey(local)
		if other, dup := locals[k]; dup {
			return fmt.Errorf("%s and %s would both be saved as %s: fetch them separately, or with -r",
				safefs.Printable(other), safefs.Printable(remote), safefs.Printable(local))
		}
		locals[k] = remote
		return nil
	}
	for i, p := range paths {
		r := results[i]
		if r.err != nil {
			if fatal(ctx, r.err) || errors.Is(r.err, transfer.ErrProtocol) {
				return nil, fmt.Errorf("%s: %w", p, r.err)
			}
			pl.failed++
			rep.pathError(p, r.err)
			continue
		}
		if len(r.entries) == 0 {
			pl.failed++
			if strings.ContainsAny(p, "*?[") {
				rep.pathError(p, errors.New("no match on the server"))
			} else {
				rep.pathError(p, &transfer.RemoteError{Code: wire.CodeNotFound, Message: "no such file or directory: " + safefs.Printable(p)})
			}
			continue
		}
		for j := range r.entries {
			e := &r.entries[j]
			typ := e.Type
			if typ != wire.EntryDir && !strings.ContainsAny(p, "*?[") {
				// Named explicitly: the server decides (it follows a
				// symlink that stays inside its folder).
				typ = wire.EntryFile
			}
			switch typ {
			case wire.EntryFile:
				local := path.Base(e.Path)
				if name != "" {
					local = name
				}
				if safefs.IsPartName(local) {
					if strings.ContainsAny(p, "*?[") {
						pl.skipped++
						rep.event(transfer.Event{Kind: transfer.EventSkipped, Item: transfer.Item{Remote: e.Path, Local: local, Entry: e}, Reason: transfer.ReasonPartFile})
					} else {
						pl.failed++
						rep.pathError(e.Path, fmt.Errorf("cannot save it as %s: names ending in %s are ferry's partial files; choose another name with -o", safefs.Printable(local), safefs.PartSuffix))
					}
					continue
				}
				if err := claim(local, e.Path); err != nil {
					return nil, err
				}
				it := transfer.Item{Remote: e.Path, Local: local, Entry: e}
				if e.Size < 0 || e.Type != wire.EntryFile {
					it.Entry = nil
				} else {
					pl.bytes += e.Size
				}
				pl.items = append(pl.items, it)
				pl.files++
			case wire.EntryDir:
				if !recur {
					pl.failed++
					rep.pathError(e.Path, fmt.Errorf("%w: it is a folder (use -r to fetch it whole)", transfer.ErrNotRegular))
					continue
				}
				if err := claim(path.Base(e.Path), e.Path); err != nil {
					return nil, err
				}
				list := cl.Tree
				if symlinks {
					list = cl.TreeLinks
				}
				entries, skipped, err := list(ctx, e.Path)
				if err != nil {
					if fatal(ctx, err) || errors.Is(err, transfer.ErrProtocol) {
						return nil, fmt.Errorf("%s: %w", e.Path, err)
					}
					pl.failed++
					rep.pathError(e.Path, err)
					continue
				}
				if skipped > 0 {
					rep.notice(fmt.Sprintf("%s: the server left out %d entries whose names it cannot send", safefs.Printable(e.Path), skipped))
				}
				for _, te := range entries {
					if te.Type == wire.EntryFile && !safefs.IsPartName(te.Path) {
						pl.files++
						pl.bytes += te.Size
					}
				}
				pl.trees = append(pl.trees, tree{e.Path, entries})
			default:
				pl.skipped++
				reason := "symlink, not followed"
				if e.Type != wire.EntrySymlink {
					reason = "not a regular file"
				}
				rep.event(transfer.Event{Kind: transfer.EventSkipped, Item: transfer.Item{Remote: e.Path, Local: path.Base(e.Path), Entry: e}, Reason: reason})
			}
		}
	}
	return pl, nil
}

// getStdout streams one file to stdout.
func getStdout(ctx context.Context, c *cli, cl *transfer.Client, p string, rep reporter) int {
	it := transfer.Item{Remote: p}
	rep.event(transfer.Event{Kind: transfer.EventStart, Item: it})
	res, err := cl.Get(ctx, p, transfer.GetOptions{
		Stdout: c.stdout,
		Progress: func(done, total int64) {
			rep.event(transfer.Event{Kind: transfer.EventProgress, Item: it, Done: done, Total: total})
		},
	})
	sum := transfer.Summary{}
	if err != nil {
		sum.Failed = 1
		rep.event(transfer.Event{Kind: transfer.EventError, Item: it, Err: err})
		return rep.summary(sum, runError(ctx, nil))
	}
	sum.Files, sum.Bytes, sum.Received, sum.Duration = 1, res.Size, res.Received, res.Duration
	rep.event(transfer.Event{Kind: transfer.EventDone, Item: it, Result: res})
	return rep.summary(sum, nil)
}

// runError is what ended a run: the signal that interrupted it, if one
// did, rather than the cancellation it caused; otherwise err.
func runError(ctx context.Context, err error) error {
	if ie := interruption(ctx); ie != nil {
		return ie
	}
	return err
}

// fatal reports whether err ends the whole run rather than one file: the
// user interrupted, or the connection is gone.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func (c *cli) printFetched(path string, res *transfer.Result, d time.Duration, toStdout bool) {
	where := "stdout"
	if !toStdout {
		where = res.Path
	}
	// Below a megabyte the rate mostly measures the round trip: show the time.
	speed := formatRate(res.Size, d)
	if res.Size < 1<<20 {
		speed = fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
	}
	resumed := ""
	if res.Resumed > 0 {
		resumed = fmt.Sprintf(", %s resumed", formatSize(res.Resumed))
	}
	fmt.Fprintf(c.stderr, "fetched %s → %s (%s%s, %s, %s verified)\n",
		safefs.Printable(path), safefs.Printable(where), formatSize(res.Size), resumed, speed, res.Algorithm)
}
