package netem

import (
	"math/rand/v2"
	"time"
)

// verdict is what the shaper decides for one packet.
type verdict uint8

const (
	deliver   verdict = iota
	dropLoss          // random loss
	dropQueue         // the drop-tail queue (or the delay line) was full
)

// shaper decides, for one direction, the fate of each packet as it arrives:
// random loss, then a drop-tail queue in front of a serializer that sends at
// the rate cap, then a fixed delay with jitter. It is a pure function of the
// arrival times and sizes plus its random source, so it is tested without
// any network (see shaper_test.go). Times are offsets from an arbitrary
// origin on a monotonic clock. A shaper is not safe for concurrent use.
type shaper struct {
	loss   float64
	rate   int64         // bits per second; 0 means no cap
	qtime  time.Duration // the queue's capacity, in time to send it at rate
	delay  time.Duration // one-way delay, RTT/2
	jitter time.Duration // full width of the uniform jitter, Jitter/2 each side
	rng    *rand.Rand

	busy time.Duration // when the serializer finishes the last admitted packet
	rem  int64         // remainder of bits*1e9 / rate not yet counted in busy
	last time.Duration // release time of the last admitted packet
}

func newShaper(s Spec, rng *rand.Rand) *shaper {
	sh := &shaper{
		loss:   s.Loss,
		rate:   s.RateBitsPerSec,
		delay:  s.RTT / 2,
		jitter: s.Jitter,
		rng:    rng,
	}
	if sh.rate > 0 {
		sh.qtime = sh.txTime(s.queueBytes())
	}
	return sh
}

// txTime is how long size bytes take to send at the rate cap, rounded down.
func (s *shaper) txTime(size int) time.Duration {
	return time.Duration(int64(size) * 8 * 1e9 / s.rate)
}

// admit decides what happens to a packet of size bytes arriving at now. For
// a delivered packet it returns when the packet is to be released at the far
// end; release times never decrease, so packets are never reordered.
func (s *shaper) admit(now time.Duration, size int) (release time.Duration, v verdict) {
	if s.loss > 0 && s.rng.Float64() < s.loss {
		return 0, dropLoss
	}
	sent := now
	if s.rate > 0 {
		// busy-now is the time the serializer needs for what is queued
		// before this packet (including the rest of the packet on the
		// wire); the packet fits if that plus its own time is within the
		// queue's capacity.
		if s.busy < now {
			s.busy, s.rem = now, 0
		}
		bits := int64(size)*8*1e9 + s.rem
		tx := time.Duration(bits / s.rate)
		if s.busy-now+tx > s.qtime {
			return 0, dropQueue
		}
		s.busy += tx
		s.rem = bits % s.rate
		sent = s.busy
	}
	release = sent + s.delay
	if s.jitter > 0 {
		release += time.Duration(s.rng.Int64N(int64(s.jitter)+1)) - s.jitter/2
	}
	release = max(release, s.last, sent)
	s.last = release
	return release, deliver
}
