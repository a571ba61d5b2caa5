package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/transfer"
)

const getHelp = `Fetch files from a ferry server. Every byte is verified with BLAKE3 before
the file appears under its name; a failed or interrupted fetch leaves nothing.

Usage:
  ferry get [flags] HOST:PORT PATH...

PATH is relative to the folder the server shares. Without -o, each file is
saved in the current folder under the last element of its PATH.

Flags:
  -o, --output DEST       with one PATH: the file to write, or an existing folder
                          to write into; "-" writes the file to stdout.
                          With several PATHs: the folder to write into (created
                          if needed).
  -f, --force             replace files that already exist
  --resume                continue a partial download left by an interrupted
                          fetch, after checking that its bytes match the server's
  -q, --quiet             print nothing but errors (no progress, no summary)
  --digest NAME           blake3 (default) or sha256, the digest that verifies
                          every file

` + clientFlagsHelp + `
Output:
  A progress bar on stderr when it is a terminal; then one line per file:
  "fetched PATH → LOCAL (SIZE, RATE, blake3 verified)". Exit status 0 when every
  file was fetched, 1 when any failed, 2 on a wrong command line. With -o -,
  bytes reach stdout as they arrive and are verified at the end: only exit
  status 0 says that what was written is the file.

Examples:
  ferry get example.org:7420 photos/cat.jpg
  ferry get -t tls -o backup/ example.org:7420 a.txt b.txt
  ferry get --pin SHA256:… -o - example.org:7420 notes.txt | less
`

func getMain(c *cli, args []string) int {
	var (
		cf                   clientFlags
		out                  string
		force, resume, quiet bool
		digest               string
	)
	fs := newFlagSet("get")
	cf.register(fs)
	fs.StringVar(&out, "o", "", "")
	fs.StringVar(&out, "output", "", "")
	fs.BoolVar(&force, "f", false, "")
	fs.BoolVar(&force, "force", false, "")
	fs.BoolVar(&resume, "resume", false, "")
	fs.StringVar(&digest, "digest", "blake3", "")
	fs.BoolVar(&quiet, "q", false, "")
	fs.BoolVar(&quiet, "quiet", false, "")
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
	paths := pos[1:]
	for _, p := range paths {
		if p == "" {
			return c.misuse("get", usagef("empty path"))
		}
	}
	toStdout := out == "-"
	if toStdout && len(paths) > 1 {
		return c.misuse("get", usagef("-o - writes one file to stdout, but %d paths were given", len(paths)))
	}
	if toStdout && (resume || force) {
		return c.misuse("get", usagef("--resume and --force apply to files, not to -o -"))
	}

	// Where each file goes: a folder (the client names the file after the
	// last element of its path) or, for one path, an explicit file name.
	destDir, name := ".", ""
	switch {
	case out == "" || toStdout:
	case len(paths) > 1 || strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) || isDir(out):
		destDir = out
	default:
		destDir, name = filepath.Dir(out), filepath.Base(out)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if destDir != "." && !toStdout && !isDir(destDir) {
		if len(paths) == 1 && name != "" {
			return c.report(fmt.Errorf("cannot write %s: folder %s does not exist", out, destDir))
		}
		if err := os.MkdirAll(destDir, 0o755); err != nil {
			return c.report(err)
		}
		// A fetch that saves nothing leaves no empty folder behind.
		defer os.Remove(destDir) // fails harmlessly when the folder is not empty
	}

	cl, closeClient, err := c.connect(ctx, &cf, digest)
	if err != nil {
		return c.report(err)
	}
	defer closeClient()

	var prog *progress
	if !quiet && c.stderrIsTerminal() {
		prog = newProgress(c.stderr)
	}
	failed := 0
	for i, p := range paths {
		opts := transfer.GetOptions{DestDir: destDir, Name: name, Replace: force, Resume: resume}
		if toStdout {
			opts.Stdout = c.stdout
		}
		var bar *fileBar
		if prog != nil {
			bar = prog.file(p)
			opts.Progress = bar.update
		}
		res, err := cl.Get(ctx, p, opts)
		if bar != nil {
			bar.finish(err == nil)
		}
		if err != nil {
			failed++
			if prog != nil {
				prog.wait()
				prog = newProgress(c.stderr)
			}
			c.report(fmt.Errorf("%s: %w", p, err))
			if fatal(ctx, err) {
				if rest := len(paths) - i - 1; rest > 0 {
					c.infof("%d more path(s) not fetched", rest)
				}
				failed += len(paths) - i - 1
				break
			}
			continue
		}
		if !quiet {
			if prog != nil {
				prog.wait()
				prog = newProgress(c.stderr)
			}
			c.printFetched(p, res, res.Duration, toStdout)
		}
	}
	if prog != nil {
		prog.wait()
	}
	if failed > 0 {
		if len(paths) > 1 {
			c.errorf("%d of %d files not fetched", failed, len(paths))
		}
		return exitFailure
	}
	return exitOK
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

// fatal reports whether err ends the whole run rather than one file: the
// user interrupted, or the connection is gone.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
