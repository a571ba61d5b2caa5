package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/transfer"
)

// reporter turns what a get does into output: text on stderr (with
// progress bars on a terminal), or JSON events on stdout. Its methods are
// safe for concurrent use.
type reporter interface {
	start(addr, transport string, paths []string)
	// plan announces the files and bytes about to be fetched.
	plan(bytes int64, files int)
	event(e transfer.Event)
	// pathError reports a PATH that resolved to nothing fetchable.
	pathError(p string, err error)
	notice(msg string)
	// fatal reports an error that ends the run before any file, and
	// returns the exit status.
	fatal(err error) int
	// summary ends the run, with the error that cut it short if any, and
	// returns the exit status.
	summary(sum transfer.Summary, err error) int
}

// ---- Text

type textReporter struct {
	c        *cli
	quiet    bool
	toStdout bool
	dest     string // the destination folder, for local paths

	mu      sync.Mutex
	prog    *mpb.Progress     // nil unless stderr is a terminal
	console *cupwriter.Writer // the bars' output, buffered by frame
	total   *mpb.Bar
	bars    map[string]*fileBar
	seen    map[string]int64 // bytes already counted in the total bar, per file
	// failures holds the errors already reported for files, so that the
	// error that ends the run is not said twice.
	failures map[string]bool
}

// maxRememberedFailures bounds failures: the error that ends a run is one of
// the first (a lost session, a full disk), and a run of a million failing
// files must not keep a million messages.
const maxRememberedFailures = 64

// newTextReporter reports on stderr; dest is the folder that items' local
// names are relative to.
func newTextReporter(c *cli, quiet, toStdout bool, dest string) *textReporter {
	r := &textReporter{c: c, quiet: quiet, toStdout: toStdout, dest: dest, bars: map[string]*fileBar{}, seen: map[string]int64{}, failures: map[string]bool{}}
	if !quiet && c.stderrIsTerminal() {
		// Our own console writer, so that what mpb still holds when the
		// bars end can be flushed (see stopBars).
		r.console = cupwriter.New(c.stderr, false)
		r.prog = mpb.New(mpb.WithConsoleWriter(r.console), mpb.WithWidth(32), mpb.WithRefreshRate(120*time.Millisecond))
	}
	return r
}

// out is where lines go: above the bars while they are drawn.
func (r *textReporter) out() *cli {
	if r.prog == nil {
		return r.c
	}
	cc := *r.c
	cc.stderr = aboveBars{r.prog, r.c.stderr}
	return &cc
}

// aboveBars writes lines above the progress bars, or straight to stderr if
// the bars have stopped (mpb refuses writes after a failed render).
type aboveBars struct {
	prog   *mpb.Progress
	stderr io.Writer
}

func (w aboveBars) Write(b []byte) (int, error) {
	if n, err := w.prog.Write(b); err == nil {
		return n, nil
	}
	return w.stderr.Write(b)
}

func (r *textReporter) start(string, string, []string) {}

func (r *textReporter) plan(bytes int64, files int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prog == nil || files < 2 {
		return
	}
	r.total = r.prog.AddBar(bytes,
		mpb.BarPriority(-1), // on top
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("total (%d files)", files), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
			decor.AverageSpeed(decor.SizeB1000(0), "% .1f", decor.WCSyncSpace),
			decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace), ""),
		),
	)
}

func (r *textReporter) addTotal(key string, done int64) {
	if r.total == nil {
		return
	}
	if d := done - r.seen[key]; d > 0 {
		r.total.IncrInt64(d)
		r.seen[key] = done
	}
}

func (r *textReporter) event(e transfer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := e.Item.Remote + "\x00" + e.Item.Local
	switch e.Kind {
	case transfer.EventProgress:
		if r.prog == nil {
			return
		}
		b := r.bars[key]
		if b == nil {
			b = &fileBar{prog: &progress{r.prog}, name: e.Item.Remote}
			r.bars[key] = b
		}
		b.update(e.Done, e.Total)
		r.addTotal(key, e.Done)
	case transfer.EventDone:
		if b := r.bars[key]; b != nil {
			b.finish(true)
			delete(r.bars, key)
		}
		res := e.Result
		r.addTotal(key, res.Size)
		if res.Restarted {
			r.out().infof("%s: the partial file no longer matched the server's file (it changed since); fetched again from the start", safefs.Printable(e.Item.Remote))
		}
		if r.quiet {
			return
		}
		if res.Identical {
			fmt.Fprintf(r.out().stderr, "identical %s → %s (%s, %s verified): nothing transferred\n",
				safefs.Printable(e.Item.Remote), safefs.Printable(res.Path), formatSize(res.Size), res.Algorithm)
			return
		}
		r.out().printFetched(e.Item.Remote, res, res.Duration, r.toStdout)
	case transfer.EventError:
		if b := r.bars[key]; b != nil {
			b.finish(false)
			delete(r.bars, key)
		}
		if e.Item.Entry != nil {
			r.addTotal(key, e.Item.Entry.Size)
		}
		if errors.Is(e.Err, context.Canceled) {
			return // interrupted: the summary says so once, not per file
		}
		if len(r.failures) < maxRememberedFailures {
			r.failures[e.Err.Error()] = true
		}
		r.out().report(fmt.Errorf("%s: %w", e.Item.Remote, e.Err))
	case transfer.EventSkipped:
		if !r.quiet {
			r.out().infof("skipped %s: %s", safefs.Printable(e.Item.Remote), e.Reason)
		}
	case transfer.EventLink:
		if !r.quiet {
			what := "linked"
			if e.Same {
				what = "identical link"
			}
			fmt.Fprintf(r.out().stderr, "%s %s → %s (-> %s)\n", what,
				safefs.Printable(e.Item.Remote), safefs.Printable(localPath(r.dest, e.Item)), safefs.Printable(e.Target))
		}
	}
}

func (r *textReporter) pathError(p string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out().report(fmt.Errorf("%s: %w", p, err))
}

func (r *textReporter) notice(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out().infof("%s", msg)
}

func (r *textReporter) stopBars() {
	if r.prog == nil {
		return
	}
	for k, b := range r.bars {
		b.finish(false)
		delete(r.bars, k)
	}
	if r.total != nil {
		r.total.SetTotal(-1, true)
	}
	r.prog.Wait()
	r.prog = nil
	// mpb draws what was written above the bars with the next frame; the
	// lines written after the last one (the "fetched" line of the last
	// file) are still in the console writer, after the sequence that
	// erases the last frame. Flushing both leaves the lines, not the bars.
	r.console.Flush(0)
}

func (r *textReporter) fatal(err error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopBars()
	if ie, ok := errors.AsType[*interruptedError](err); ok {
		r.c.infof("%v", ie)
		return ie.exitStatus()
	}
	return r.c.report(err)
}

func (r *textReporter) summary(sum transfer.Summary, err error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopBars()
	ie, interrupted := errors.AsType[*interruptedError](err)
	if err != nil && !interrupted && !r.failures[err.Error()] {
		r.c.report(err)
	}
	n := sum.Files + sum.Failed
	if !r.quiet && (n > 1 || sum.Links > 0) {
		identical := ""
		if sum.Identical > 0 {
			identical = fmt.Sprintf(", %d already identical", sum.Identical)
		}
		if sum.Links > 0 {
			identical += fmt.Sprintf(", %d symlinks recreated", sum.Links)
		}
		rate := ""
		if sum.Received > 0 {
			rate = " (" + formatRate(sum.Received, sum.Duration) + ")"
		}
		r.c.infof("%d of %d files fetched and verified%s; %s received in %s%s",
			sum.Files, n, identical, formatSize(sum.Received), formatDuration(sum.Duration), rate)
	}
	if interrupted {
		r.c.infof("%v: the partial files are kept; run the same command again to continue them", ie)
		return ie.exitStatus()
	}
	if sum.Failed > 0 || err != nil {
		if n > 1 {
			r.c.errorf("%d of %d files not fetched", sum.Failed, n)
		}
		if errors.Is(err, net.ErrClosed) {
			r.c.hint("the partial files are kept: the same command continues them, over any transport")
		}
		return exitFailure
	}
	return exitOK
}

// ---- JSON

// jsonReporter writes one JSON object per line on stdout. The field names
// are documented in docs/cli.md and do not change.
type jsonReporter struct {
	mu           sync.Mutex
	enc          *json.Encoder
	dest         string // the destination folder, for local paths
	lastProgress time.Time
}

// newJSONReporter writes events to w; dest is the folder that items' local
// names are relative to.
func newJSONReporter(w io.Writer, dest string) *jsonReporter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonReporter{enc: enc, dest: dest}
}

// localPath is where item is saved: its local name beneath dest, as
// Result.Path has it, so that every event names a file the same way.
func localPath(dest string, item transfer.Item) string {
	if item.Local == "" {
		return ""
	}
	return filepath.Join(dest, filepath.FromSlash(item.Local))
}

// progressInterval bounds the rate of progress events, over all files.
const progressInterval = 200 * time.Millisecond

type jsonEvent struct {
	Event      string   `json:"event"`
	Time       string   `json:"time"`
	Server     string   `json:"server,omitempty"`
	Transport  string   `json:"transport,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	Path       string   `json:"path,omitempty"`
	Local      string   `json:"local,omitempty"`
	Size       *int64   `json:"size,omitempty"`
	Bytes      *int64   `json:"bytes,omitempty"`
	Received   *int64   `json:"received,omitempty"`
	Resumed    int64    `json:"resumed,omitempty"`
	Identical  bool     `json:"identical,omitempty"`
	Restarted  bool     `json:"restarted,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Mtime      string   `json:"mtime,omitempty"`
	Target     string   `json:"target,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Error      string   `json:"error,omitempty"`
	Code       string   `json:"code,omitempty"`
	Files      *int     `json:"files,omitempty"`
	IdentFiles *int     `json:"identical_files,omitempty"`
	Failed     *int     `json:"failed,omitempty"`
	Skipped    *int     `json:"skipped,omitempty"`
	Links      int      `json:"links,omitempty"`
	DurationMS *int64   `json:"duration_ms,omitempty"`
	OK         *bool    `json:"ok,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (r *jsonReporter) emit(e jsonEvent) {
	e.Time = time.Now().UTC().Format(time.RFC3339Nano)
	r.enc.Encode(e)
}

func (r *jsonReporter) start(addr, transport string, paths []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(jsonEvent{Event: "start", Server: addr, Transport: transport, Paths: paths})
}

func (r *jsonReporter) plan(bytes int64, files int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(jsonEvent{Event: "plan", Files: ptr(files), Bytes: ptr(bytes)})
}

func (r *jsonReporter) event(e transfer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	je := jsonEvent{Path: e.Item.Remote, Local: localPath(r.dest, e.Item)}
	switch e.Kind {
	case transfer.EventStart:
		je.Event = "file_start"
		if e.Item.Entry != nil && e.Item.Entry.Size >= 0 {
			je.Size = ptr(e.Item.Entry.Size)
		}
	case transfer.EventProgress:
		now := time.Now()
		if now.Sub(r.lastProgress) < progressInterval {
			return
		}
		r.lastProgress = now
		je.Event, je.Bytes, je.Size = "progress", ptr(e.Done), ptr(e.Total)
	case transfer.EventDone:
		res := e.Result
		je.Event = "file"
		if res.Path != "" {
			je.Local = res.Path
		}
		je.Size, je.Received, je.Resumed = ptr(res.Size), ptr(res.Received), res.Resumed
		je.Identical, je.Restarted = res.Identical, res.Restarted
		je.Digest = res.Algorithm + ":" + hex.EncodeToString(res.Digest)
		if !res.ModTime.IsZero() {
			je.Mtime = res.ModTime.UTC().Format(time.RFC3339Nano)
		}
		je.DurationMS = ptr(res.Duration.Milliseconds())
	case transfer.EventSkipped:
		je.Event, je.Reason = "skipped", e.Reason
	case transfer.EventLink:
		je.Event, je.Target, je.Identical = "link", e.Target, e.Same
	case transfer.EventError:
		je.Event, je.Error, je.Code = "error", e.Err.Error(), errorCode(e.Err)
		if errors.Is(e.Err, context.Canceled) {
			je.Error = "interrupted"
		}
	default:
		return
	}
	r.emit(je)
}

func (r *jsonReporter) pathError(p string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(jsonEvent{Event: "error", Path: p, Error: err.Error(), Code: errorCode(err)})
}

func (r *jsonReporter) notice(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(jsonEvent{Event: "notice", Reason: msg})
}

func (r *jsonReporter) fatal(err error) int {
	return r.summary(transfer.Summary{}, err)
}

func (r *jsonReporter) summary(sum transfer.Summary, err error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.emit(jsonEvent{Event: "error", Error: err.Error(), Code: errorCode(err)})
	}
	ok := err == nil && sum.Failed == 0
	r.emit(jsonEvent{
		Event: "summary", Files: ptr(sum.Files), IdentFiles: ptr(sum.Identical), Failed: ptr(sum.Failed),
		Skipped: ptr(sum.Skipped), Links: sum.Links, Bytes: ptr(sum.Bytes), Received: ptr(sum.Received),
		DurationMS: ptr(sum.Duration.Milliseconds()), OK: ptr(ok),
	})
	if ie, interrupted := errors.AsType[*interruptedError](err); interrupted {
		return ie.exitStatus()
	}
	if !ok {
		return exitFailure
	}
	return exitOK
}

// errorCode names the kind of a failure for scripts.
func errorCode(err error) string {
	var de *dialError
	switch {
	case errors.As(err, &de):
		return "connect"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, transfer.ErrStalled):
		return "stalled"
	case errors.Is(err, transfer.ErrNotFound):
		return "not_found"
	case errors.Is(err, transfer.ErrNotRegular):
		return "not_regular"
	case errors.Is(err, transfer.ErrAccessDenied):
		return "access_denied"
	case errors.Is(err, transfer.ErrBadRequest), errors.Is(err, safefs.ErrInvalidName):
		return "bad_request"
	case errors.Is(err, transfer.ErrBusy):
		return "busy"
	case errors.Is(err, transfer.ErrFileChanged):
		return "file_changed"
	case errors.Is(err, transfer.ErrIntegrity):
		return "integrity"
	case errors.Is(err, transfer.ErrExists):
		return "exists"
	case errors.Is(err, transfer.ErrProtocol):
		return "protocol"
	case errors.Is(err, transfer.ErrTooLarge):
		return "too_large"
	}
	return "error"
}

// formatDuration shows a duration to a useful precision: milliseconds under
// a second ("38 ms"), tenths of seconds above ("2.4 s").
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
