package main

import (
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress holds the bars drawn on an interactive stderr (see textReporter):
// one per file in flight, with name, bytes done of total, rate and time
// left. It is only created when stderr is a terminal and neither -q nor
// --json was given; otherwise ferry prints nothing while it works.
type progress struct {
	p *mpb.Progress
}

// fileBar is the bar of one file. Its update method is the transfer's
// progress callback; the bar appears on the first call barDelay after the
// first, once the size is known.
type fileBar struct {
	prog *progress
	name string

	mu    sync.Mutex
	bar   *mpb.Bar
	first time.Time // the first update, before the bar exists
	last  time.Time
}

// barDelay is how long a file must be in flight before it gets a bar of its
// own. The bar of a file that ends sooner could hardly be seen (frames are
// 120 ms apart), and adding and removing one per small file, each a round
// trip through mpb's goroutine, made a fetch of 1000 files of 64 KiB on a
// terminal take 0.97-1.14 s where it took 0.80-0.89 s with -q (0.81-0.91
// s with the delay). The total bar shows them all.
const barDelay = 300 * time.Millisecond

func (f *fileBar) update(done, total int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.bar == nil {
		if f.first.IsZero() {
			f.first = now
		}
		if now.Sub(f.first) < barDelay {
			return
		}
		f.bar = f.prog.p.AddBar(total,
			// The "fetched …" line replaces a finished bar.
			mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(
				decor.Name(shorten(f.name, 28), decor.WC{C: decor.DindentRight | decor.DextraSpace}),
			),
			mpb.AppendDecorators(
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
				decor.EwmaSpeed(decor.SizeB1000(0), "% .1f", 30, decor.WCSyncSpace),
				decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), ""),
			),
		)
		f.last = now
	}
	if total > 0 {
		f.bar.SetTotal(total, false)
	}
	f.bar.EwmaSetCurrent(done, now.Sub(f.last))
	f.last = now
}

// finish completes the bar, or removes it when the file failed (the error
// message says what happened).
func (f *fileBar) finish(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bar == nil {
		return
	}
	if ok {
		f.bar.SetTotal(-1, true)
	} else {
		f.bar.Abort(true)
	}
}

// shorten keeps the end of a long name, which is usually the part that tells
// files apart.
func shorten(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return "…" + string(r[len(r)-max+1:])
}
