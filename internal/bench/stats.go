package bench

import (
	"math"
	"slices"
)

// Summary describes a set of measurements: their count, median and range.
// Spread is (Max-Min)/Median, the relative width of the range; it is 0 for
// fewer than two values.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Spread float64 `json:"spread"`
}

// Summarize returns the Summary of xs, ignoring NaNs. xs is not modified.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{}
	}
	slices.Sort(v)
	s := Summary{N: len(v), Median: median(v), Min: v[0], Max: v[len(v)-1]}
	if len(v) > 1 && s.Median != 0 {
		s.Spread = (s.Max - s.Min) / s.Median
	}
	return s
}

// median of sorted, non-empty v: the middle value, or the mean of the two
// middle values.
func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values do
// not exceed. It is a value that was measured, never an interpolation, and
// it returns NaN for an empty slice.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 || p <= 0 || p > 100 {
		return math.NaN()
	}
	// The epsilon keeps 99.9% of 1000 at rank 999 despite rounding.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	return sorted[max(rank, 1)-1]
}
