package netem

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   string
		want Spec
	}{
		{"rtt=50ms,loss=1%,rate=100mbit", Spec{RTT: 50 * ms, Loss: 0.01, RateBitsPerSec: 100e6}},
		{"rtt=50ms,loss=1%,rate=100mbit,jitter=5ms,queue=256kb",
			Spec{RTT: 50 * ms, Jitter: 5 * ms, Loss: 0.01, RateBitsPerSec: 100e6, QueueBytes: 256000}},
		{"continent", Spec{RTT: 40 * ms, Loss: 0.001, RateBitsPerSec: 100e6}},
		{"Mobile, loss=5%", Spec{RTT: 80 * ms, Loss: 0.05, RateBitsPerSec: 20e6}},
		{"satellite,rate=0", Spec{RTT: 600 * ms, Loss: 0.005}},
		{"lan,mtu=9000,seed=42", Spec{RTT: ms, RateBitsPerSec: 1e9, MTU: 9000, Seed: 42}},
		{"RTT=1.5s,RATE=1.5Mbit", Spec{RTT: 1500 * ms, RateBitsPerSec: 1_500_000}},
		{"rate=64kbit,queue=64KiB", Spec{RateBitsPerSec: 64000, QueueBytes: 65536}},
		{"queue=3000", Spec{QueueBytes: 3000}},
		{"loss=0.1%", Spec{Loss: 0.001}},
		{"loss=100%", Spec{Loss: 1}},
		{"rtt=0s", Spec{}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		if !sameSpec(got, tt.want) {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ in, field, msg string }{
		{"", "", "empty element"},
		{"rtt=50ms,", "", "empty element"},
		{"fast", "", "neither key=value nor a profile"},
		{"rtt=50ms,lan", "", "neither key=value nor a profile"},
		{"delay=5ms", "", "unknown key"},
		{"rtt=5ms,rtt=6ms", "rtt", "given twice"},
		{"rtt=fast", "rtt", "not a duration"},
		{"rtt=-5ms", "rtt", "not between"},
		{"rtt=2h", "rtt", "not between"},
		{"rtt=10ms,jitter=20ms", "jitter", "not between 0 and the rtt"},
		{"loss=1", "loss", "not a percentage"},
		{"loss=101%", "loss", "not between"},
		{"loss=-1%", "loss", "not between"},
		{"loss=NaN%", "loss", "not a percentage"},
		{"rate=100", "rate", "not a rate"},
		{"rate=100mbps", "rate", "not a rate"},
		{"rate=-1mbit", "rate", "not a rate"},
		{"rate=2tbit", "rate", "not between"},
		{"rate=infmbit", "rate", "not a rate"},
		{"queue=2gb", "queue", "larger than 1 GiB"},
		{"queue=100", "queue", "smaller than one packet"},
		{"mtu=100", "mtu", "not between"},
		{"mtu=99999", "mtu", "not a number"},
		{"seed=-1", "seed", "not an unsigned integer"},
		{strings.Repeat("rtt=1ms,", 200), "", "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		_, err := ParseSpec(tt.in)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseSpec(%q) = %v, want a *SpecError", tt.in, err)
			continue
		}
		if se.Field != tt.field || !strings.Contains(se.Msg, tt.msg) || se.Input != tt.in {
			t.Errorf("ParseSpec(%q) = %v (field %q), want field %q and %q", tt.in, err, se.Field, tt.field, tt.msg)
		}
	}
}

func TestProfiles(t *testing.T) {
	want := map[string]Spec{
		"lan":       {RTT: time.Millisecond, RateBitsPerSec: 1e9},
		"continent": {RTT: 40 * time.Millisecond, Loss: 0.001, RateBitsPerSec: 100e6},
		"mobile":    {RTT: 80 * time.Millisecond, Loss: 0.02, RateBitsPerSec: 20e6},
		"satellite": {RTT: 600 * time.Millisecond, Loss: 0.005, RateBitsPerSec: 50e6},
	}
	if got := Profiles(); len(got) != len(want) {
		t.Errorf("Profiles() = %v, want %d profiles", got, len(want))
	}
	for name, w := range want {
		p, ok := Profile(name)
		if !ok || p != w {
			t.Errorf("Profile(%q) = %+v, %v; want %+v", name, p, ok, w)
		}
		parsed, err := ParseSpec(name)
		if err != nil || parsed != w {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", name, parsed, err, w)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	if _, ok := Profile("moon"); ok {
		t.Error(`Profile("moon") exists`)
	}
}

func TestSpecString(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{}, "rtt=0s"},
		{Spec{RTT: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.01, RateBitsPerSec: 100e6, QueueBytes: 256000},
			"rtt=50ms,jitter=5ms,loss=1%,rate=100mbit,queue=256kb"},
		{Spec{Loss: 0.001, RateBitsPerSec: 1_500_000, QueueBytes: 65536, MTU: 9000, Seed: 7},
			"loss=0.1%,rate=1500kbit,queue=64kib,mtu=9000,seed=7"},
	}
	for _, tt := range tests {
		if got := tt.spec.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

// sameSpec compares specs, allowing the loss the rounding a percentage
// takes through decimal text.
func sameSpec(a, b Spec) bool {
	la, lb := a.Loss, b.Loss
	a.Loss, b.Loss = 0, 0
	return a == b && math.Abs(la-lb) <= 1e-15
}

// FuzzParseSpec checks that ParseSpec never panics, that what it accepts is
// valid, and that String round-trips through it.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"continent", "lan", "mobile,loss=5%", "satellite,rate=0",
		"rtt=50ms,loss=1%,rate=100mbit,jitter=5ms,queue=256kb",
		"rtt=1.5s,rate=1.5mbit,queue=64KiB,mtu=9000,seed=1", "loss=0.001%", "rate=1e3kbit",
		"queue=1.5kb", "rtt=5ms,rtt=6ms", "loss=%", "rate=mbit", "=", ",",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := ParseSpec(in)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("ParseSpec(%q) = %v, not an ErrBadSpec", in, err)
			}
			return
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("ParseSpec(%q) accepted an invalid spec: %v", in, err)
		}
		out := spec.String()
		again, err := ParseSpec(out)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, whose String %q does not parse: %v", in, spec, out, err)
		}
		if !sameSpec(spec, again) {
			t.Fatalf("%q -> %+v -> %q -> %+v", in, spec, out, again)
		}
	})
}
