package tcp

import (
	"crypto/tls"
	"net"
	"os"
	"sync"
	"time"
)

// asyncWriteConn gives a TLS connection write deadlines that behave like a
// socket's. crypto/tls treats a write that timed out as fatal (the record it
// was sending is cut), yet net.Conn users, and ferry's server, expect to time
// out a write to a slow peer and carry on or close cleanly. So writes are
// copied into a small queue, like a kernel send buffer, and one goroutine
// hands them to crypto/tls without a deadline; Write's deadline bounds only
// the wait for room in the queue.
type asyncWriteConn struct {
	net.Conn                // the *tls.Conn; reads and read deadlines go straight to it
	raw      net.Conn       // the TCP connection underneath
	batcher  *recordBatcher // between the two; nil: none

	queue chan []byte
	done  chan struct{} // closed by Close

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline changes
	err      error         // the first write error; reported by later Writes
	pending  int           // chunks queued or being written
	drained  chan struct{} // closed and replaced when pending reaches 0

	closeOnce sync.Once
}

const (
	asyncChunk  = 64 << 10
	asyncQueued = 4 // chunks: 256 KiB in flight, like a send buffer
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, asyncChunk); return &b }}

// newAsyncWriteConn wraps c, a *tls.Conn over raw, possibly through
// batcher (may be nil).
func newAsyncWriteConn(c, raw net.Conn, batcher *recordBatcher) *asyncWriteConn {
	a := &asyncWriteConn{
		Conn:    c,
		raw:     raw,
		batcher: batcher,
		queue:   make(chan []byte, asyncQueued),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		drained: make(chan struct{}),
	}
	go a.writeLoop()
	return a
}

func (a *asyncWriteConn) writeLoop() {
	batch := make([][]byte, 0, asyncQueued)
	for {
		select {
		case b := <-a.queue:
			// Whatever else is queued goes out with it, in one write to
			// the socket (see recordBatcher).
			batch = append(batch[:0], b)
		more:
			for len(batch) < asyncQueued {
				select {
				case b := <-a.queue:
					batch = append(batch, b)
				default:
					break more
				}
			}
			a.mu.Lock()
			failed := a.err != nil
			a.mu.Unlock()
			if !failed {
				if err := a.writeBatch(batch); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			for _, b := range batch {
				full := b[:cap(b)]
				chunkPool.Put(&full)
			}
			a.mu.Lock()
			a.pending -= len(batch)
			if a.pending == 0 {
				close(a.drained)
				a.drained = make(chan struct{})
			}
			a.mu.Unlock()
		case <-a.done:
			return
		}
	}
}

// writeBatch hands the chunks to crypto/tls, with their records gathered
// into one socket write when there is a batcher.
func (a *asyncWriteConn) writeBatch(batch [][]byte) error {
	if a.batcher != nil {
		a.batcher.begin()
	}
	var err error
	for _, b := range batch {
		if _, err = a.Conn.Write(b); err != nil {
			break
		}
	}
	if a.batcher != nil {
		if ferr := a.batcher.end(); err == nil {
			err = ferr
		}
	}
	return err
}

// Write queues p, waiting for room until the write deadline. It returns how
// much of p was queued.
func (a *asyncWriteConn) Write(p []byte) (n int, err error) {
	for len(p) > 0 {
		select {
		case <-a.done:
			return n, &net.OpError{Op: "write", Net: "tcp", Source: a.LocalAddr(), Addr: a.RemoteAddr(), Err: net.ErrClosed}
		default:
		}
		a.mu.Lock()
		if a.err != nil {
			err := a.err
			a.mu.Unlock()
			return n, err
		}
		deadline, changed := a.deadline, a.changed
		a.mu.Unlock()

		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return n, timeoutError()
			}
			t := time.NewTimer(d)
			timeout = t.C
			defer t.Stop()
		}
		bp := chunkPool.Get().(*[]byte)
		k := copy(*bp, p)
		a.mu.Lock()
		a.pending++
		a.mu.Unlock()
		select {
		case a.queue <- (*bp)[:k]:
			n += k
			p = p[k:]
			continue
		case <-timeout:
			err = timeoutError()
		case <-changed:
		case <-a.done:
			err = net.ErrClosed
		}
		chunkPool.Put(bp)
		a.mu.Lock()
		a.pending--
		if a.pending == 0 {
			close(a.drained)
			a.drained = make(chan struct{})
		}
		a.mu.Unlock()
		if err != nil {
			return n, &net.OpError{Op: "write", Net: "tcp", Source: a.LocalAddr(), Addr: a.RemoteAddr(), Err: err}
		}
	}
	return n, nil
}

func timeoutError() error { return os.ErrDeadlineExceeded }

// flush waits until everything queued has been handed to crypto/tls, or
// until timeout.
func (a *asyncWriteConn) flush(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		a.mu.Lock()
		if a.pending == 0 || a.err != nil {
			a.mu.Unlock()
			return
		}
		drained := a.drained
		a.mu.Unlock()
		select {
		case <-drained:
		case <-t.C:
			return
		case <-a.done:
			return
		}
	}
}

func (a *asyncWriteConn) SetDeadline(t time.Time) error {
	if err := a.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return a.SetWriteDeadline(t)
}

func (a *asyncWriteConn) SetWriteDeadline(t time.Time) error {
	a.mu.Lock()
	a.deadline = t
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
	return nil
}

// Close closes the TCP connection at once. It sends no TLS close_notify:
// ferry's frames say whether a stream ended cleanly, and close_notify could
// block behind a full send buffer.
func (a *asyncWriteConn) Close() error {
	var err error
	a.closeOnce.Do(func() {
		close(a.done)
		err = a.raw.Close()
	})
	return err
}

// ConnectionState returns the state of the TLS connection underneath.
func (a *asyncWriteConn) ConnectionState() tls.ConnectionState {
	return a.Conn.(*tls.Conn).ConnectionState()
}

// recordBatcher sits between crypto/tls and the TCP connection. crypto/tls
// writes every record (at most 16 KiB of data) with a write call of its own:
// four system calls for a 64 KiB file, sixteen per 256 KiB of a large one.
// While a batch is open (begin, end) the records are gathered instead and
// go out in one write at end. A record another goroutine writes meanwhile
// (an alert) joins the batch in order. A failed write shows at end, where
// the caller takes it as the connection's write error.
type recordBatcher struct {
	net.Conn // the TCP connection

	mu       sync.Mutex
	batching bool
	buf      *[]byte // from batchPool while batching
}

// batchPool holds the gathering buffers, so that an idle connection keeps
// none: a batch is at most asyncQueued chunks and their record overhead.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, asyncQueued*(asyncChunk+asyncChunk/512)); return &b }}

func (r *recordBatcher) Write(p []byte) (int, error) {
	r.mu.Lock()
	if r.batching {
		*r.buf = append(*r.buf, p...)
		r.mu.Unlock()
		return len(p), nil
	}
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordBatcher) begin() {
	r.mu.Lock()
	r.batching = true
	r.buf = batchPool.Get().(*[]byte)
	r.mu.Unlock()
}

// end closes the batch and writes what it gathered.
func (r *recordBatcher) end() error {
	r.mu.Lock()
	r.batching = false
	buf := r.buf
	r.buf = nil
	r.mu.Unlock()
	var err error
	if len(*buf) > 0 {
		_, err = r.Conn.Write(*buf)
	}
	*buf = (*buf)[:0]
	batchPool.Put(buf)
	return err
}
