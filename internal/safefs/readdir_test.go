//go:build linux

package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestReadDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.txt", "abc")
	write(".hid", "")
	if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("a/inner", "x")
	if err := os.Symlink("b.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Names a hostile local user (or a server's tree) may hold; none may
	// reach a peer.
	hostile := []string{"a\x1b[31m", "CON", "x\u202etxt", `bad\name`, "e\u0301", "trail.", "nl\nname"}
	for _, n := range hostile {
		write(n, "hostile")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	for _, p := range []string{"", "."} {
		entries, skipped, err := ReadDir(root, p)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", p, err)
		}
		if skipped != len(hostile) {
			t.Errorf("ReadDir(%q) skipped %d, want %d", p, skipped, len(hostile))
		}
		want := []struct {
			name string
			typ  EntryType
			size int64
		}{
			{".hid", File, 0}, {"a", Dir, 0}, {"b.txt", File, 3}, {"fifo", Other, 0},
			{"link", Symlink, 0}, {"up", Symlink, 0},
		}
		if len(entries) != len(want) {
			t.Fatalf("ReadDir(%q) = %+v, want %d entries", p, entries, len(want))
		}
		for i, w := range want {
			e := entries[i]
			if e.Name != w.name || e.Type != w.typ || e.Size != w.size || e.ModTime.IsZero() {
				t.Errorf("entry %d = %+v, want %s %v size %d", i, e, w.name, w.typ, w.size)
			}
		}
	}

	entries, skipped, err := ReadDir(root, "a")
	if err != nil || skipped != 0 || len(entries) != 1 || entries[0].Name != "inner" {
		t.Errorf("ReadDir(a) = %+v, %d, %v", entries, skipped, err)
	}

	for _, tc := range []struct {
		attack, p string
		want      error
	}{
		{"a file", "b.txt", ErrNotDir},
		{"a fifo must not block", "fifo", ErrNotDir},
		{"missing", "nope", ErrNotFound},
		{"symlink to the parent", "up", ErrAccessDenied},
		{"parent", "..", ErrInvalidName},
		{"absolute", "/", ErrInvalidName},
		{"hostile name", "a\x1b[31m", ErrInvalidName},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			_, _, err := ReadDir(root, tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadDir(%q) err = %v, want %v", tc.p, err, tc.want)
			}
			assertPrintable(t, err.Error())
		})
	}
}

func TestEntryTypeString(t *testing.T) {
	for typ, want := range map[EntryType]string{File: "file", Dir: "dir", Symlink: "symlink", Other: "other", 0: "EntryType(0)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
}
