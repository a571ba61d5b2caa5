package main

import (
	"fmt"
	"time"
)

// formatSize prints a byte count the way people read it: "512 B", "1.5 KiB",
// "100 MiB".
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := "KMGTPE"[exp : exp+1]
	if v >= 100 || v == float64(int64(v)) {
		return fmt.Sprintf("%.0f %siB", v, suffix)
	}
	return fmt.Sprintf("%.1f %siB", v, suffix)
}

// formatRate prints a transfer rate in decimal megabytes per second, the unit
// the benchmarks use (kilobytes or bytes per second when it is that slow),
// or "-" when the duration is too short to mean anything.
func formatRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	mbs := float64(n) / d.Seconds() / 1e6
	switch {
	case mbs >= 100:
		return fmt.Sprintf("%.0f MB/s", mbs)
	case mbs >= 1:
		return fmt.Sprintf("%.1f MB/s", mbs)
	case mbs >= 0.001:
		return fmt.Sprintf("%.0f kB/s", mbs*1000)
	default:
		return fmt.Sprintf("%.0f B/s", mbs*1e6)
	}
}

// formatRTT prints a round-trip time in milliseconds with microsecond
// resolution: "0.213 ms".
func formatRTT(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d.Nanoseconds())/1e6)
}
