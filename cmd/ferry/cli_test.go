package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		out     string
		quiet   bool
		wantErr bool
	}{
		{args: []string{"h:1", "a"}, pos: []string{"h:1", "a"}},
		{args: []string{"-o", "x", "h:1", "a"}, pos: []string{"h:1", "a"}, out: "x"},
		{args: []string{"h:1", "a", "-o", "x", "b", "-q"}, pos: []string{"h:1", "a", "b"}, out: "x", quiet: true},
		{args: []string{"h:1", "--", "-o", "-q"}, pos: []string{"h:1", "-o", "-q"}},
		{args: []string{"-o", "-", "h:1", "-"}, pos: []string{"h:1", "-"}, out: "-"},
		{args: []string{"h:1", "--nope"}, wantErr: true},
	} {
		var stdout, stderr bytes.Buffer
		c := &cli{stdout: &stdout, stderr: &stderr}
		fs := newFlagSet("test")
		out := fs.String("o", "", "")
		quiet := fs.Bool("q", false, "")
		pos, status, done := c.parse(fs, "test", "help\n", tc.args)
		if tc.wantErr {
			if !done || status != exitMisuse || !strings.HasPrefix(stderr.String(), "ferry: error: ") {
				t.Errorf("%q: done=%v status=%d stderr=%q, want a usage error", tc.args, done, status, stderr.String())
			}
			continue
		}
		if done || !slices.Equal(pos, tc.pos) || *out != tc.out || *quiet != tc.quiet {
			t.Errorf("%q: pos=%q -o=%q -q=%v done=%v, want %q %q %v", tc.args, pos, *out, *quiet, done, tc.pos, tc.out, tc.quiet)
		}
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"example.org:7420": "example.org:7420",
		"example.org":      "example.org:7420",
		"[::1]:9":          "[::1]:9",
		"::1":              "[::1]:7420",
		"[::1]":            "[::1]:7420",
		"192.0.2.7":        "192.0.2.7:7420",
		":7420":            "localhost:7420",
	} {
		if got, err := serverAddr(in); err != nil || got != want {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "h:0", "h:70000", "h:http", "a:b:c:"} {
		if got, err := serverAddr(in); err == nil {
			t.Errorf("serverAddr(%q) = %q, want an error", in, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		100 << 20: "100 MiB", 3 << 30: "3 GiB", 2_999_999: "2.9 MiB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
	for _, tc := range []struct {
		n    int64
		d    time.Duration
		want string
	}{
		{250e6, time.Second, "250 MB/s"},
		{5_900_000, time.Second, "5.9 MB/s"},
		{450_000, time.Second, "450 kB/s"},
		{6, 49 * time.Millisecond, "122 B/s"},
		{1, 0, "-"},
	} {
		if got := formatRate(tc.n, tc.d); got != tc.want {
			t.Errorf("formatRate(%d, %v) = %q, want %q", tc.n, tc.d, got, tc.want)
		}
	}
	d := []time.Duration{1, 2, 3, 10}
	if got := median(d); got != 2 {
		t.Errorf("median(%v) = %v, want 2", d, got)
	}
	if got := median(d[:3]); got != 2 {
		t.Errorf("median(%v) = %v, want 2", d[:3], got)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		`plain "quoted" message: a\b`: `plain "quoted" message: a\b`,
		"evil\x1b[2Jname":             `evil\x1b[2Jname`,
		"rtl\u202eexe.txt":            `rtl\u202eexe.txt`,
		"bad \xff byte":               `bad \ufffd byte`,
		"line\nbreak":                 `line\nbreak`,
		"héllo wörld":                 "héllo wörld",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRemotePath(t *testing.T) {
	for in, want := range map[string]string{
		"photos": "photos", "photos/": "photos", "photos//": "photos", "./photos": "photos",
		"././a/b/": "a/b", "./": ".", ".": ".", "/": "/", "/etc": "/etc", "../x": "../x", "a/../b": "a/../b",
	} {
		if got := remotePath(in); got != want {
			t.Errorf("remotePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The QUIC handshake gives up when --connect-timeout says, not after
// quic-go's own 5 s.
func TestQUICHandshakeFollowsConnectTimeout(t *testing.T) {
	f := clientFlags{dialTimeout: 12 * time.Second}
	if got := f.quicConfig().HandshakeTimeout; got != 12*time.Second {
		t.Errorf("QUIC handshake timeout %v, want --connect-timeout's 12s", got)
	}
}
