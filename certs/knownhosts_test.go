package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCanonicalHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"example.com:4433":          "example.com:4433",
		"Example.COM.:4433":         "example.com:4433",
		"example.com:04433":         "example.com:4433",
		"127.0.0.1:1":               "127.0.0.1:1",
		"[::1]:4433":                "[::1]:4433",
		"[0:0:0:0:0:0:0:1]:4433":    "[::1]:4433",
		"[2001:DB8::1]:4433":        "[2001:db8::1]:4433",
		"[::ffff:192.0.2.1]:4433":   "192.0.2.1:4433",
		"[fe80::1%eth0]:4433":       "[fe80::1%eth0]:4433",
		"under_score.example:65535": "under_score.example:65535",
	} {
		got, err := CanonicalHostPort(in)
		if err != nil || got != want {
			t.Errorf("CanonicalHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"example.com", "example.com:", "example.com:0", "example.com:65536", "example.com:https",
		"::1:4433", ":4433", "bad host:1", "#x:1", "a/b:1", "[fe80::1%a b]:1", "exa\x00mple:1",
	} {
		if got, err := CanonicalHostPort(in); err == nil {
			t.Errorf("CanonicalHostPort(%q) = %q, want an error", in, got)
		}
	}
}

func TestKnownHostsAddLookup(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "a", "b", "known_hosts")
	kh, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := kh.Lookup("example.com:4433"); ok || err != nil {
		t.Fatalf("Lookup in a missing file: ok %v, err %v", ok, err)
	}
	fp1, fp2 := randomFingerprint(t), randomFingerprint(t)

	added, err := kh.Add("Example.com:4433", fp1)
	if err != nil || !added {
		t.Fatalf("Add: %v, %v", added, err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("file mode %04o, want 0600", m)
	}
	if m := mode(t, filepath.Dir(path)); m != 0o700 {
		t.Errorf("dir mode %04o, want 0700", m)
	}
	if added, err := kh.Add("example.com.:4433", fp1); err != nil || added {
		t.Errorf("Add of the same entry: %v, %v; want false, nil", added, err)
	}
	if added, err := kh.Add("[::1]:4433", fp2); err != nil || !added {
		t.Errorf("Add of a second host: %v, %v", added, err)
	}

	_, err = kh.Add("example.com:4433", fp2)
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Add of another fingerprint: err = %v, want *MismatchError", err)
	}
	if mm.Host != "example.com:4433" || mm.Known != fp1 || mm.Got != fp2 || mm.File != path || mm.Line != 3 {
		t.Errorf("MismatchError = %+v", mm)
	}

	// The same entry serves another spelling, and a reopened file.
	e, ok, err := kh.Lookup("EXAMPLE.COM:4433")
	if err != nil || !ok || e.Fingerprint != fp1 || e.Line != 3 {
		t.Errorf("Lookup = %+v, %v, %v", e, ok, err)
	}
	kh2, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := kh2.Lookup("[0::1]:4433"); !ok || e.Fingerprint != fp2 {
		t.Errorf("reopened Lookup = %+v, %v", e, ok)
	}

	data, _ := os.ReadFile(path)
	want := knownHostsHeader + "example.com:4433 " + fp1.String() + "\n[::1]:4433 " + fp2.String() + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
}

func TestKnownHostsParse(t *testing.T) {
	fp1, fp2 := randomFingerprint(t), randomFingerprint(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	content := fmt.Sprintf("# comment\n\n   \t\nHOST.example:1 %s\r\n  # indented comment\nhost.example:1 %s\n[::1]:2 %s\n",
		fp1.Hex(), fp2, fp2)
	if err := os.WriteFile(good, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := OpenKnownHosts(good)
	if err != nil {
		t.Fatal(err)
	}
	// The first line for a host counts.
	if e, ok, _ := kh.Lookup("host.example:1"); !ok || e.Fingerprint != fp1 || e.Line != 4 {
		t.Errorf("Lookup = %+v, %v", e, ok)
	}

	for i, bad := range []string{
		"host.example:1\n",
		"host.example:1 " + fp1.String() + " extra\n",
		"host.example " + fp1.String() + "\n",
		"host.example:1 SHA256:nope\n",
	} {
		p := filepath.Join(dir, fmt.Sprint("bad", i))
		os.WriteFile(p, []byte("# ok\n\n"+bad), 0o600)
		_, err := OpenKnownHosts(p)
		if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: err = %v, want one naming %s line 3", bad, err, p)
		}
	}
}

// A file edited by hand may lack a final newline; the next entry must not be
// glued to the last line.
func TestKnownHostsAppendAfterMissingNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	fp1, fp2 := randomFingerprint(t), randomFingerprint(t)
	os.WriteFile(path, []byte("a.example:1 "+fp1.String()), 0o600)
	kh, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kh.Add("b.example:1", fp2); err != nil {
		t.Fatal(err)
	}
	kh2, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	for host, fp := range map[string]Fingerprint{"a.example:1": fp1, "b.example:1": fp2} {
		if e, ok, _ := kh2.Lookup(host); !ok || e.Fingerprint != fp {
			t.Errorf("%s: %+v, %v", host, e, ok)
		}
	}
}

// Two processes (here two KnownHosts on one file) see each other's entries,
// and a line the user removed is forgotten without a restart.
func TestKnownHostsSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	a, _ := OpenKnownHosts(path)
	b, _ := OpenKnownHosts(path)
	fp1, fp2 := randomFingerprint(t), randomFingerprint(t)
	if _, err := a.Add("h.example:1", fp1); err != nil {
		t.Fatal(err)
	}
	var mm *MismatchError
	if _, err := b.Add("h.example:1", fp2); !errors.As(err, &mm) || mm.Known != fp1 {
		t.Fatalf("second process recorded its own entry: err = %v", err)
	}
	// The user removes the line, as the mismatch message says.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "h.example:1 "+fp1.String()+"\n", "", 1)), 0o600)
	if added, err := b.Add("h.example:1", fp2); err != nil || !added {
		t.Fatalf("after removing the line: %v, %v", added, err)
	}
	if e, ok, _ := a.Lookup("h.example:1"); !ok || e.Fingerprint != fp2 {
		t.Errorf("first process still sees %+v, %v", e, ok)
	}
}

func TestKnownHostsConcurrentAddRecordsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh, _ := OpenKnownHosts(path)
	fp := randomFingerprint(t)
	var added atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			ok, err := kh.Add("h.example:1", fp)
			if err != nil {
				t.Error(err)
			}
			if ok {
				added.Add(1)
			}
		})
	}
	wg.Wait()
	if n := added.Load(); n != 1 {
		t.Errorf("%d calls reported adding, want 1", n)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), fp.String()); n != 1 {
		t.Errorf("entry written %d times:\n%s", n, data)
	}
}
