package bench

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"1500", 1500}, {"1500B", 1500}, {"64KiB", 64 << 10}, {"64kib", 64 << 10},
		{"1GiB", 1 << 30}, {"256MiB", 256 << 20}, {"1.5MiB", 3 << 19}, {"1MB", 1e6}, {"2kB", 2000},
		{"1G", 1 << 30}, {" 4 MiB ", 4 << 20},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "0", "-1", "1XB", "1..5MiB", "0.1", "2PiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseCountSize(t *testing.T) {
	n, size, err := ParseCountSize("1000x64KiB")
	if err != nil || n != 1000 || size != 64<<10 {
		t.Errorf("ParseCountSize(1000x64KiB) = %d, %d, %v", n, size, err)
	}
	n, size, err = ParseCountSize("4X64MiB")
	if err != nil || n != 4 || size != 64<<20 {
		t.Errorf("ParseCountSize(4X64MiB) = %d, %d, %v", n, size, err)
	}
	for _, in := range []string{"", "64KiB", "x64KiB", "0x64KiB", "10x", "10x0", "ax1"} {
		if _, _, err := ParseCountSize(in); err == nil {
			t.Errorf("ParseCountSize(%q) succeeded, want an error", in)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for _, n := range []int64{1, 1000, 1024, 1500, 64 << 10, 1 << 20, 3 << 19, 1 << 30, 5 << 40} {
		s := FormatSize(n)
		got, err := ParseSize(s)
		if err != nil || got != n {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
	if s := FormatSize(64 << 10); s != "64KiB" {
		t.Errorf("FormatSize(64 KiB) = %q, want 64KiB", s)
	}
}
