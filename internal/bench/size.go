package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize parses a byte count: a bare number of bytes, or a number with a
// unit B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of
// 1000), case-insensitive: "64KiB", "1GiB", "1.5MB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	}[unit]
	if !ok {
		return 0, fmt.Errorf("bad size %q: unknown unit %q (use B, KiB, MiB, GiB, kB, MB or GB)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("bad size %q: expected a number and a unit, like 64KiB or 1GiB", s)
	}
	n := f * mult
	if n < 1 || n > 1<<50 {
		return 0, fmt.Errorf("bad size %q: must be from 1 byte to 1 PiB", s)
	}
	return int64(n), nil
}

// ParseCountSize parses "COUNTxSIZE", such as "1000x64KiB" or "4x64MiB".
func ParseCountSize(s string) (count int, size int64, err error) {
	c, sz, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, fmt.Errorf("bad file set %q: expected COUNTxSIZE, like 1000x64KiB", s)
	}
	count, err = strconv.Atoi(strings.TrimSpace(c))
	if err != nil || count < 1 || count > 1_000_000 {
		return 0, 0, fmt.Errorf("bad file set %q: the count must be a number from 1 to 1000000", s)
	}
	size, err = ParseSize(sz)
	if err != nil {
		return 0, 0, fmt.Errorf("bad file set %q: %v", s, err)
	}
	return count, size, nil
}

// FormatSize prints n in the unit ParseSize reads back exactly when it can:
// "1GiB", "64KiB", "1500B".
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		v    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}
