package safefs

import "sync"

// groupSync runs a sync operation for many concurrent callers at once
// (group commit): a caller returns once a run that began after its call
// has completed, with that run's error. While one run is in progress,
// every caller that arrives waits for the next, which then covers all of
// them. So a burst of callers costs about two runs, not one each, and no
// caller is told "durable" by a run that began before its change.
type groupSync struct {
	run func() error

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

func newGroupSync(run func() error) *groupSync {
	g := &groupSync{run: run}
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
