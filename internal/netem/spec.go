package netem

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec describes an emulated link. The same impairments apply to each
// direction independently. The zero Spec is a valid link with no delay, no
// loss, no rate cap and an MTU of 1500.
type Spec struct {
	// RTT is the round-trip delay the link adds: each direction delays every
	// packet by RTT/2. Default 0.
	RTT time.Duration

	// Jitter varies the delay: each direction adds a uniform random offset in
	// [-Jitter/2, +Jitter/2] to RTT/2, so a round trip lies within
	// RTT ± Jitter. Packets are never reordered: a packet is never released
	// before the one in front of it. At most RTT. Default 0.
	Jitter time.Duration

	// Loss is the probability, from 0 to 1, that a packet is dropped, drawn
	// independently for every packet in each direction (so a round trip is
	// lost with probability about 2*Loss). Default 0.
	Loss float64

	// RateBitsPerSec caps each direction at this many bits per second of IP
	// packets (IP header included, no link-layer framing). 0 means no cap.
	RateBitsPerSec int64

	// QueueBytes bounds the drop-tail queue in front of the rate cap, in bytes
	// of IP packets waiting to be sent; a packet that does not fit is
	// dropped. It only matters when RateBitsPerSec is set. 0 means the
	// default: one bandwidth-delay product (rate × max(RTT, 10ms)), and at
	// least 64 packets of MTU bytes.
	QueueBytes int

	// MTU is the MTU of the TUN devices at both ends. 0 means 1500.
	MTU int

	// Seed seeds the random source for loss and jitter, so a run can be
	// repeated exactly. 0 means a fresh random seed for every link.
	Seed uint64
}

// Limits enforced by Validate and ParseSpec.
const (
	MaxDelay   = time.Minute
	MaxRate    = 1_000_000_000_000 // 1 tbit
	MaxQueue   = 1 << 30
	MinMTU     = 576
	MaxMTU     = 65535
	DefaultMTU = 1500
)

// ErrBadSpec is wrapped by every error ParseSpec and Validate return.
var ErrBadSpec = errors.New("bad link spec")

// SpecError is a link spec that ParseSpec or Validate rejected.
type SpecError struct {
	Input string // the whole spec as given, or "" from Validate
	Field string // the key at fault ("rtt", "loss", ...), or "" for the syntax
	Msg   string
}

func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString("netem: bad link spec")
	if e.Input != "" {
		fmt.Fprintf(&b, " %q", e.Input)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *SpecError) Unwrap() error { return ErrBadSpec }

var profiles = map[string]Spec{
	"lan":       {RTT: 1 * time.Millisecond, Loss: 0, RateBitsPerSec: 1_000_000_000},
	"continent": {RTT: 40 * time.Millisecond, Loss: 0.001, RateBitsPerSec: 100_000_000},
	"mobile":    {RTT: 80 * time.Millisecond, Loss: 0.02, RateBitsPerSec: 20_000_000},
	"satellite": {RTT: 600 * time.Millisecond, Loss: 0.005, RateBitsPerSec: 50_000_000},
}

// Profile returns the named link profile: "lan" (1 ms, 0%, 1 gbit),
// "continent" (40 ms, 0.1%, 100 mbit), "mobile" (80 ms, 2%, 20 mbit) or
// "satellite" (600 ms, 0.5%, 50 mbit).
func Profile(name string) (Spec, bool) {
	s, ok := profiles[name]
	return s, ok
}

// Profiles returns the names of the built-in profiles, sorted.
func Profiles() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseSpec parses a link spec: a comma-separated list of key=value pairs,
// optionally starting with a profile name whose values the pairs override.
//
//	continent
//	rtt=50ms,loss=1%,rate=100mbit,jitter=5ms,queue=256kb
//	mobile,loss=5%
//
// Keys: rtt and jitter (Go durations: 50ms, 1.5s), loss (a percentage:
// 1%, 0.1%), rate (bit, kbit, mbit, gbit, tbit, powers of 1000; 0 for no
// cap), queue (bytes: b, kb, mb, gb in powers of 1000, kib, mib, gib in
// powers of 1024), mtu (bytes) and seed (an unsigned integer). Keys and units
// are case-insensitive; each key may appear once. The result is validated.
func ParseSpec(s string) (Spec, error) {
	fail := func(field, format string, args ...any) (Spec, error) {
		return Spec{}, &SpecError{Input: s, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(s) > 1024 {
		return fail("", "longer than 1024 bytes")
	}
	var spec Spec
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			p, found := Profile(strings.ToLower(part))
			if i != 0 || !found {
				if part == "" {
					return fail("", "empty element")
				}
				return fail("", "%q is neither key=value nor a profile (%s)", part, strings.Join(Profiles(), ", "))
			}
			spec = p
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if seen[key] {
			return fail(key, "given twice")
		}
		seen[key] = true
		var err error
		switch key {
		case "rtt":
			spec.RTT, err = parseDuration(val)
		case "jitter":
			spec.Jitter, err = parseDuration(val)
		case "loss":
			spec.Loss, err = parseLoss(val)
		case "rate":
			spec.RateBitsPerSec, err = parseRate(val)
		case "queue":
			var q int64
			q, err = parseSize(val)
			spec.QueueBytes = int(q)
		case "mtu":
			var m uint64
			m, err = strconv.ParseUint(val, 10, 32)
			if err != nil || m > MaxMTU {
				err = fmt.Errorf("%q is not a number of bytes from %d to %d", val, MinMTU, MaxMTU)
			}
			spec.MTU = int(m)
		case "seed":
			spec.Seed, err = strconv.ParseUint(val, 10, 64)
			if err != nil {
				err = fmt.Errorf("%q is not an unsigned integer", val)
			}
		default:
			return fail("", "unknown key %q (want rtt, jitter, loss, rate, queue, mtu or seed)", key)
		}
		if err != nil {
			return fail(key, "%v", err)
		}
	}
	if err := spec.Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			se.Input = s
		}
		return Spec{}, err
	}
	return spec, nil
}

// Validate reports whether every field is within its range. It returns a
// *SpecError.
func (s Spec) Validate() error {
	fail := func(field, format string, args ...any) error {
		return &SpecError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case s.RTT < 0 || s.RTT > MaxDelay:
		return fail("rtt", "%v is not between 0 and %v", s.RTT, MaxDelay)
	case s.Jitter < 0 || s.Jitter > s.RTT:
		return fail("jitter", "%v is not between 0 and the rtt (%v)", s.Jitter, s.RTT)
	case !(s.Loss >= 0 && s.Loss <= 1): // also catches NaN
		return fail("loss", "%v is not between 0%% and 100%%", s.Loss*100)
	case s.RateBitsPerSec < 0 || s.RateBitsPerSec > MaxRate:
		return fail("rate", "%d bit/s is not between 0 and 1 tbit", s.RateBitsPerSec)
	case s.QueueBytes < 0 || s.QueueBytes > MaxQueue:
		return fail("queue", "%d bytes is not between 0 and 1 GiB", s.QueueBytes)
	case s.MTU != 0 && (s.MTU < MinMTU || s.MTU > MaxMTU):
		return fail("mtu", "%d is not between %d and %d", s.MTU, MinMTU, MaxMTU)
	case s.QueueBytes != 0 && s.QueueBytes < s.mtu():
		return fail("queue", "%d bytes is smaller than one packet of MTU %d", s.QueueBytes, s.mtu())
	}
	return nil
}

// String formats s in the syntax ParseSpec reads, with every key that
// differs from its default. The zero Spec formats as "rtt=0s".
func (s Spec) String() string {
	var parts []string
	if s.RTT != 0 || (s.Loss == 0 && s.RateBitsPerSec == 0) {
		parts = append(parts, "rtt="+s.RTT.String())
	}
	if s.Jitter != 0 {
		parts = append(parts, "jitter="+s.Jitter.String())
	}
	if s.Loss != 0 {
		parts = append(parts, "loss="+formatLoss(s.Loss))
	}
	if s.RateBitsPerSec != 0 {
		parts = append(parts, "rate="+formatRate(s.RateBitsPerSec))
	}
	if s.QueueBytes != 0 {
		parts = append(parts, "queue="+formatSize(int64(s.QueueBytes)))
	}
	if s.MTU != 0 {
		parts = append(parts, "mtu="+strconv.Itoa(s.MTU))
	}
	if s.Seed != 0 {
		parts = append(parts, "seed="+strconv.FormatUint(s.Seed, 10))
	}
	return strings.Join(parts, ",")
}

func (s Spec) mtu() int {
	if s.MTU == 0 {
		return DefaultMTU
	}
	return s.MTU
}

// queueBytes is the effective drop-tail queue size: QueueBytes or its
// default.
func (s Spec) queueBytes() int {
	if s.QueueBytes != 0 {
		return s.QueueBytes
	}
	rtt := max(s.RTT, 10*time.Millisecond)
	bdp := float64(s.RateBitsPerSec) / 8 * rtt.Seconds()
	return int(min(max(bdp, float64(64*s.mtu())), MaxQueue))
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 50ms", v)
	}
	return d, nil
}

func parseLoss(v string) (float64, error) {
	num, ok := strings.CutSuffix(v, "%")
	if !ok {
		return 0, fmt.Errorf("%q is not a percentage like 1%%", v)
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
		return 0, fmt.Errorf("%q is not a percentage like 1%%", v)
	}
	return p / 100, nil
}

func formatLoss(l float64) string {
	return strconv.FormatFloat(l*100, 'g', -1, 64) + "%"
}

type unit struct {
	suffix string
	mult   int64
}

// Longest suffixes first, so that "kbit" is not read as "k" + "bit".
var rateUnits = []unit{
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
}

// Decimal units first, so that String writes 256000 as 256kb, not 250kib.
// Parsing tries every suffix in turn, which works in this order too: "b" is
// last and no other suffix ends another.
var sizeUnits = []unit{
	{"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3},
	{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"b", 1},
}

// parseUnits parses a non-negative decimal number followed by one of units
// (or by nothing when bare is true) into an integer.
func parseUnits(v string, units []unit, bare bool, what string) (int64, error) {
	lv := strings.ToLower(v)
	mult := int64(0)
	for _, u := range units {
		if num, ok := strings.CutSuffix(lv, u.suffix); ok {
			lv, mult = num, u.mult
			break
		}
	}
	if mult == 0 {
		if !bare && lv != "0" {
			return 0, fmt.Errorf("%q is not %s", v, what)
		}
		mult = 1
	}
	lv = strings.TrimSpace(lv)
	if n, err := strconv.ParseInt(lv, 10, 64); err == nil && n >= 0 {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q is too large", v)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(lv, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) || strings.ContainsAny(lv, "xXpP_") {
		return 0, fmt.Errorf("%q is not %s", v, what)
	}
	r := math.Round(f * float64(mult))
	if r >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return int64(r), nil
}

func parseRate(v string) (int64, error) {
	return parseUnits(v, rateUnits, false, "a rate like 100mbit")
}

func parseSize(v string) (int64, error) {
	n, err := parseUnits(v, sizeUnits, true, "a size like 256kb")
	if err == nil && n > MaxQueue {
		err = fmt.Errorf("%q is larger than 1 GiB", v)
	}
	return n, err
}

func formatUnits(n int64, units []unit) string {
	for _, u := range units {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func formatRate(n int64) string { return formatUnits(n, rateUnits) }
func formatSize(n int64) string { return formatUnits(n, sizeUnits) }
