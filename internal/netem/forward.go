package netem

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxInFlight bounds the packets one direction holds (queued or in the delay
// line). With a rate cap the queue bounds the bytes first; without one this
// stops a sender that outruns the delay line from using unbounded memory.
// Packets beyond it are counted as queue drops.
const maxInFlight = 1 << 16

// DirStats counts the packets of one direction.
type DirStats struct {
	Packets, Bytes        uint64 // read from the sending TUN device
	Delivered             uint64 // packets written to the receiving TUN device
	DeliveredBytes        uint64
	LossDrops, QueueDrops uint64 // packets dropped by random loss / a full queue
	LossBytes, QueueBytes uint64
	WriteErrors           uint64 // writes the receiving device refused
}

// Stats counts the packets the link forwarded, per direction. Byte counts
// are IP bytes: whole packets including the IP header.
type Stats struct {
	ClientToServer, ServerToClient DirStats
}

type dirCounters struct {
	packets, bytes                     atomic.Uint64
	delivered, deliveredBytes          atomic.Uint64
	lossDrops, queueDrops              atomic.Uint64
	lossBytes, queueBytes, writeErrors atomic.Uint64
}

func (c *dirCounters) snapshot() DirStats {
	return DirStats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		Delivered: c.delivered.Load(), DeliveredBytes: c.deliveredBytes.Load(),
		LossDrops: c.lossDrops.Load(), QueueDrops: c.queueDrops.Load(),
		LossBytes: c.lossBytes.Load(), QueueBytes: c.queueBytes.Load(),
		WriteErrors: c.writeErrors.Load(),
	}
}

type packet struct {
	buf     *[]byte
	n       int
	release time.Duration
}

// pipe forwards one direction: a reader goroutine reads packets from in,
// asks the shaper for their fate and puts the survivors on the delay line;
// a writer goroutine releases them to out at their time. The delay line is a
// FIFO because release times never decrease.
type pipe struct {
	in    io.Reader
	out   io.Writer
	sh    *shaper
	start time.Time // origin of the shaper's clock
	mtu   int
	line  chan packet
	done  <-chan struct{}
	pool  sync.Pool
	stats dirCounters
}

func newPipe(in io.Reader, out io.Writer, sh *shaper, start time.Time, mtu int, done <-chan struct{}) *pipe {
	p := &pipe{in: in, out: out, sh: sh, start: start, mtu: mtu, line: make(chan packet, maxInFlight), done: done}
	p.pool.New = func() any { b := make([]byte, mtu); return &b }
	return p
}

// read runs until in fails (it is closed by Link.Close). It closes the delay
// line when it returns, which ends write.
func (p *pipe) read() {
	defer close(p.line)
	// Read into a buffer larger than the MTU so that an oversized packet is
	// seen whole and dropped rather than forwarded truncated.
	scratch := make([]byte, 65536)
	for {
		n, err := p.in.Read(scratch)
		if err != nil {
			return // closed by Link.Close; a TUN device has no other read errors
		}
		if n == 0 {
			continue
		}
		now := time.Since(p.start)
		c := &p.stats
		c.packets.Add(1)
		c.bytes.Add(uint64(n))
		if n > p.mtu {
			c.queueDrops.Add(1)
			c.queueBytes.Add(uint64(n))
			continue
		}
		release, v := p.sh.admit(now, n)
		switch v {
		case dropLoss:
			c.lossDrops.Add(1)
			c.lossBytes.Add(uint64(n))
			continue
		case dropQueue:
			c.queueDrops.Add(1)
			c.queueBytes.Add(uint64(n))
			continue
		}
		buf := p.pool.Get().(*[]byte)
		copy(*buf, scratch[:n])
		select {
		case p.line <- packet{buf: buf, n: n, release: release}:
		default:
			p.pool.Put(buf)
			c.queueDrops.Add(1)
			c.queueBytes.Add(uint64(n))
		}
	}
}

// fineWait is the last part of a wait that write sleeps with sleep rather
// than a runtime timer. When the process is otherwise idle the runtime's
// timers fire up to a millisecond late (the poller sleeps in whole
// milliseconds), which would add about half a millisecond to each
// direction's delay; a plain nanosleep is accurate to tens of microseconds.
const fineWait = 2 * time.Millisecond

// write releases packets from the delay line at their time until the line
// is closed or done is closed.
func (p *pipe) write() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for pkt := range p.line {
		if wait := pkt.release - time.Since(p.start) - fineWait; wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.done:
				return
			}
		}
		if wait := pkt.release - time.Since(p.start); wait > 0 {
			sleep(wait)
		}
		if _, err := p.out.Write((*pkt.buf)[:pkt.n]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			p.stats.writeErrors.Add(1)
		} else {
			p.stats.delivered.Add(1)
			p.stats.deliveredBytes.Add(uint64(pkt.n))
		}
		p.pool.Put(pkt.buf)
	}
}
