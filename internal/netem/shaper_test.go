package netem

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func testShaper(s Spec) *shaper { return newShaper(s, rand.New(rand.NewPCG(1, 2))) }

func TestShaperDelay(t *testing.T) {
	sh := testShaper(Spec{RTT: 40 * time.Millisecond})
	for _, now := range []time.Duration{0, time.Millisecond, time.Second} {
		if rel, v := sh.admit(now, 100); v != deliver || rel != now+20*time.Millisecond {
			t.Errorf("admit(%v) = %v, %v; want %v, deliver", now, rel, v, now+20*time.Millisecond)
		}
	}
}

// A burst into an idle link is sent back to back at the rate, and the queue
// holds exactly QueueBytes.
func TestShaperQueue(t *testing.T) {
	const size = 1500
	// 12 mbit/s sends 1500 bytes in exactly 1ms.
	sh := testShaper(Spec{RTT: 10 * time.Millisecond, RateBitsPerSec: 12_000_000, QueueBytes: 10 * size})
	for i := 1; i <= 12; i++ {
		rel, v := sh.admit(0, size)
		if i > 10 {
			if v != dropQueue {
				t.Errorf("packet %d: %v, want a queue drop", i, v)
			}
			continue
		}
		if want := time.Duration(i)*time.Millisecond + 5*time.Millisecond; v != deliver || rel != want {
			t.Errorf("packet %d: %v at %v, want delivered at %v", i, v, rel, want)
		}
	}
	// One packet's time later there is room for exactly one more.
	if _, v := sh.admit(time.Millisecond, size); v != deliver {
		t.Errorf("after 1ms: %v, want deliver", v)
	}
	if _, v := sh.admit(time.Millisecond, size); v != dropQueue {
		t.Errorf("after 1ms, second packet: %v, want a queue drop", v)
	}
}

// An overloaded link delivers exactly its rate over a long run, whatever the
// packet sizes.
func TestShaperRate(t *testing.T) {
	const rate = 50_000_000
	sh := testShaper(Spec{RTT: 20 * time.Millisecond, RateBitsPerSec: rate})
	rng := rand.New(rand.NewPCG(3, 4))
	var bytes int64
	var last time.Duration
	now := time.Duration(0)
	for now < 10*time.Second {
		size := 40 + rng.IntN(1461)
		if rel, v := sh.admit(now, size); v == deliver {
			bytes += int64(size)
			last = rel
		}
		now += time.Duration(size) * 8 * time.Second / (2 * rate) // offered at twice the rate
	}
	got := float64(bytes) * 8 / (last - 10*time.Millisecond).Seconds()
	if math.Abs(got/rate-1) > 1e-3 {
		t.Errorf("delivered %.0f bit/s, want %d", got, rate)
	}
}

func TestShaperLoss(t *testing.T) {
	const n, loss = 100_000, 0.02
	sh := testShaper(Spec{Loss: loss})
	lost := 0
	for i := range n {
		if _, v := sh.admit(time.Duration(i), 100); v == dropLoss {
			lost++
		}
	}
	sd := math.Sqrt(n * loss * (1 - loss))
	if math.Abs(float64(lost)-n*loss) > 4*sd {
		t.Errorf("lost %d of %d, want %.0f ± %.0f", lost, n, n*loss, 4*sd)
	}
}

// Jitter spreads each direction's delay over RTT/2 ± Jitter/2 without ever
// reordering packets.
func TestShaperJitter(t *testing.T) {
	const delay, jitter = 25 * time.Millisecond, 10 * time.Millisecond
	sh := testShaper(Spec{RTT: 2 * delay, Jitter: jitter})
	var prev, sum time.Duration
	lo, hi := time.Hour, time.Duration(0)
	const n = 10_000
	for i := range n {
		now := time.Duration(i) * 20 * time.Millisecond // far apart: no clamping
		rel, v := sh.admit(now, 100)
		if v != deliver || rel < prev {
			t.Fatalf("packet %d: %v at %v after %v", i, v, rel, prev)
		}
		prev = rel
		d := rel - now
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	if lo < delay-jitter/2 || hi > delay+jitter/2 {
		t.Errorf("delays span [%v, %v], want within %v ± %v", lo, hi, delay, jitter/2)
	}
	if lo > delay-jitter/2+time.Millisecond || hi < delay+jitter/2-time.Millisecond {
		t.Errorf("delays span [%v, %v], want close to all of %v ± %v", lo, hi, delay, jitter/2)
	}
	if mean := sum / n; mean < delay-200*time.Microsecond || mean > delay+200*time.Microsecond {
		t.Errorf("mean delay %v, want %v", mean, delay)
	}
	// Packets close together are released in order.
	sh = testShaper(Spec{RTT: 2 * delay, Jitter: jitter})
	prev = 0
	for i := range n {
		rel, _ := sh.admit(time.Duration(i)*10*time.Microsecond, 100)
		if rel < prev {
			t.Fatalf("packet %d released at %v, before the previous one at %v", i, rel, prev)
		}
		prev = rel
	}
}

func TestDefaultQueue(t *testing.T) {
	tests := []struct {
		spec Spec
		want int
	}{
		{Spec{}, 64 * 1500},
		{Spec{RateBitsPerSec: 1e9, RTT: time.Millisecond}, 1_250_000},        // 1 gbit × 10ms
		{Spec{RateBitsPerSec: 50e6, RTT: 600 * time.Millisecond}, 3_750_000}, // 50 mbit × 600ms
		{Spec{RateBitsPerSec: 1e6, RTT: 600 * time.Millisecond}, 96000},      // 64 packets
		{Spec{QueueBytes: 5000}, 5000},
	}
	for _, tt := range tests {
		if got := tt.spec.queueBytes(); got != tt.want {
			t.Errorf("%v: queue %d, want %d", tt.spec, got, tt.want)
		}
	}
}
