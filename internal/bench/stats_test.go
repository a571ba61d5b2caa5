package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{math.NaN()}, Summary{}},
		{[]float64{5}, Summary{N: 1, Median: 5, Min: 5, Max: 5}},
		{[]float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3, Spread: 1}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4, Spread: 1.2}},
		{[]float64{10, math.NaN(), 30}, Summary{N: 2, Median: 20, Min: 10, Max: 30, Spread: 1}},
	} {
		in := append([]float64(nil), tc.in...)
		got := Summarize(tc.in)
		if got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] && !math.IsNaN(in[i]) {
				t.Errorf("Summarize modified its input: %v became %v", in, tc.in)
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	v := make([]float64, 1000)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		p, want float64
	}{{50, 500}, {90, 900}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}} {
		if got := Percentile(v, tc.p); got != tc.want {
			t.Errorf("Percentile(1..1000, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	// Nearest rank: with 10 values, p99 is the largest, a measured value.
	if got := Percentile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99); got != 10 {
		t.Errorf("p99 of 10 values = %v, want 10", got)
	}
	if got := Percentile([]float64{7}, 50); got != 7 {
		t.Errorf("p50 of one value = %v, want 7", got)
	}
	for _, p := range []float64{0, -1, 101} {
		if got := Percentile(v, p); !math.IsNaN(got) {
			t.Errorf("Percentile(v, %v) = %v, want NaN", p, got)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil, 50) = %v, want NaN", got)
	}
}
