package safefs

import (
	"sync"
	"time"
)

// groupSync runs a sync operation for many concurrent callers at once
// (group commit): a caller returns once a run that began after its call
// has completed, with that run's error. While one run is in progress,
// every caller that arrives waits for the next, which then covers all of
// them. So a burst of callers costs about two runs, not one each, and no
// caller is told "durable" by a run that began before its change.
type groupSync struct {
	run    func() error
	linger time.Duration // wait before a run, to gather callers

	mu      sync.Mutex
	cond    sync.Cond
	running bool   // a run is in progress
	waiting int    // callers waiting for a run to finish
	started uint64 // runs started
	done    uint64 // runs finished; they run one at a time, in order
	err     error  // the result of run number done

	// testHook, when set by a test, runs before the n-th run.
	testHook func(n uint64)
}

// newGroupSync returns a group commit of run. With linger > 0, a run
// begins only linger after the first caller that asks for it, so that the
// callers arriving meanwhile share it.
func newGroupSync(run func() error, linger time.Duration) *groupSync {
	g := &groupSync{run: run, linger: linger}
	g.cond.L = &g.mu
	return g
}

// sync returns once a run that began after sync was called has finished,
// with its error.
func (g *groupSync) sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A run already in progress may have begun before the caller's
	// change: only the next one to start counts.
	need := g.started + 1
	for g.done < need {
		if g.running {
			g.waiting++
			g.cond.Wait()
			g.waiting--
			continue
		}
		g.running = true
		if g.linger > 0 {
			// Let more callers join this run: the run begins, and covers
			// them, only after the wait.
			g.mu.Unlock()
			time.Sleep(g.linger)
			g.mu.Lock()
		}
		g.started++
		n := g.started
		g.mu.Unlock()
		if g.testHook != nil {
			g.testHook(n)
		}
		err := g.run()
		g.mu.Lock()
		g.running = false
		g.done, g.err = n, err
		g.cond.Broadcast()
	}
	return g.err
}
