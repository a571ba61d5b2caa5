package transporttest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutineSnapshot is the number of goroutines when Run started and the
// ids among them, so that a failure can show only the newcomers.
type goroutineSnapshot struct {
	n   int
	ids map[string]bool
}

func snapshotGoroutines() goroutineSnapshot {
	ids := make(map[string]bool)
	for _, g := range goroutineStacks() {
		ids[goroutineID(g)] = true
	}
	return goroutineSnapshot{n: runtime.NumGoroutine(), ids: ids}
}

// checkGoroutines waits until no more goroutines run than when Run began.
// Transports stop their goroutines asynchronously after Close, so it polls
// for a while instead of looking once.
func checkGoroutines(t *testing.T, base goroutineSnapshot) {
	deadline := time.Now().Add(scaled(leakTimeout))
	self := goroutineID(goroutineStacks()[0]) // this subtest's goroutine: one more than at the start
	for {
		n := runtime.NumGoroutine() - 1
		if n <= base.n {
			return
		}
		if time.Now().After(deadline) {
			var extra []string
			for _, g := range goroutineStacks() {
				if id := goroutineID(g); !base.ids[id] && id != self {
					extra = append(extra, g)
				}
			}
			t.Errorf("goroutine leak: %d goroutines run %v after the suite ended, %d ran before it; the new ones:\n\n%s",
				n, scaled(leakTimeout), base.n, strings.Join(extra, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutineStacks returns the stack of every goroutine, one per element,
// the calling goroutine's first.
func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var stacks []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if len(bytes.TrimSpace(g)) > 0 {
			stacks = append(stacks, string(g))
		}
	}
	return stacks
}

// goroutineID returns "goroutine 42" from a stack that begins
// "goroutine 42 [running]:".
func goroutineID(stack string) string {
	if i := strings.Index(stack, " ["); i > 0 {
		return stack[:i]
	}
	return stack
}
