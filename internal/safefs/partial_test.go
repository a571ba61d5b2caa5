//go:build linux

package safefs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// destTree returns an opened destination root, its directory and a file
// outside it that must never change.
func destTree(t *testing.T) (*os.Root, string, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "dest")
	outside := filepath.Join(base, "victim")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, []byte(secretContent), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, dir, outside
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertUntouched(t *testing.T, outside string) {
	t.Helper()
	if got := readString(t, outside); got != secretContent {
		t.Fatalf("outside file changed to %q", got)
	}
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (err %v)", path, err)
	}
}

func mustWrite(t *testing.T, p *Partial, s string) {
	t.Helper()
	if n, err := io.WriteString(p, s); err != nil || n != len(s) {
		t.Fatalf("write: %d, %v", n, err)
	}
}

func TestPartialPublish(t *testing.T) {
	root, dir, _ := destTree(t)
	p, err := CreatePartial(root, "out.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Discard()
	part := filepath.Join(dir, "out.txt"+PartSuffix)
	fi, err := os.Lstat(part)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("part mode %v, want -rw-------", fi.Mode())
	}
	if p.Size() != 0 {
		t.Errorf("fresh Size() = %d", p.Size())
	}
	mustWrite(t, p, "hello ")
	mustWrite(t, p, "world")
	assertMissing(t, filepath.Join(dir, "out.txt"))

	if err := p.Publish(PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if !p.Published() {
		t.Error("Published() false after success")
	}
	final := filepath.Join(dir, "out.txt")
	if got := readString(t, final); got != "hello world" {
		t.Errorf("published %q", got)
	}
	fi, _ = os.Lstat(final)
	if fi.Mode() != DefaultFileMode || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Errorf("published mode %v nlink %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Nlink)
	}
	assertMissing(t, part)

	if _, err := p.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Publish: %v", err)
	}
	if err := p.Publish(PublishOptions{}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Publish: %v", err)
	}
	if err := p.Discard(); err != nil || readString(t, final) != "hello world" {
		t.Errorf("Discard after Publish: %v; it must leave the final file", err)
	}
}

func TestPartialPublishModeAndTime(t *testing.T) {
	root, dir, _ := destTree(t)
	p, err := CreatePartial(root, "x", false)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	// Setuid and sticky bits from a peer must never survive.
	if err := p.Publish(PublishOptions{Mode: 0o4755 | fs.ModeSetuid | fs.ModeSticky, ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755 {
		t.Errorf("mode %v, want -rwxr-xr-x", fi.Mode())
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), mtime)
	}
}

// A modification time keeps its nanoseconds where the system can store
// them: the wire carries nanoseconds, and a copy whose mtime differs by a
// fraction of a microsecond looks changed to make, rsync and ferry itself.
func TestPartialPublishNanosecondTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nanosecond times are set through utimensat on Linux only")
	}
	root, dir, _ := destTree(t)
	probe := filepath.Join(dir, "probe")
	want := time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(probe, want, want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(probe); err != nil || !fi.ModTime().Equal(want) {
		t.Skip("this file system does not keep nanoseconds")
	}
	p, err := CreatePartial(root, "x", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(PublishOptions{ModTime: want}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(want) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), want)
	}
}

func TestPartialNoClobber(t *testing.T) {
	for _, tc := range []struct {
		attack string
		plant  func(t *testing.T, dir, outside string)
	}{
		{"existing file", func(t *testing.T, dir, _ string) {
			os.WriteFile(filepath.Join(dir, "out"), []byte("old"), 0o644)
		}},
		{"symlink to an outside file", func(t *testing.T, dir, outside string) {
			os.Symlink(outside, filepath.Join(dir, "out"))
		}},
		{"dangling symlink to an outside path", func(t *testing.T, dir, outside string) {
			os.Symlink(outside+".new", filepath.Join(dir, "out"))
		}},
		{"directory", func(t *testing.T, dir, _ string) {
			os.Mkdir(filepath.Join(dir, "out"), 0o755)
		}},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			root, dir, outside := destTree(t)
			tc.plant(t, dir, outside)
			before, err := os.Lstat(filepath.Join(dir, "out"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := CreatePartial(root, "out", false)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, p, "new")
			err = p.Publish(PublishOptions{})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Publish over %s: %v, want ErrExists", tc.attack, err)
			}
			if p.Published() {
				t.Error("Published() true after ErrExists")
			}
			after, err := os.Lstat(filepath.Join(dir, "out"))
			if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("final name changed: %v", err)
			}
			assertUntouched(t, outside)
			assertMissing(t, outside+".new")
			// The part stays until the caller decides.
			part := filepath.Join(dir, "out"+PartSuffix)
			if readString(t, part) != "new" {
				t.Fatal("part file lost after ErrExists")
			}
			if err := p.Discard(); err != nil {
				t.Fatal(err)
			}
			assertMissing(t, part)
		})
	}
}

func TestPartialReplace(t *testing.T) {
	for _, tc := range []struct {
		attack string
		plant  func(t *testing.T, dir, outside string)
		want   error
	}{
		{"nothing there", func(*testing.T, string, string) {}, nil},
		{"existing file", func(t *testing.T, dir, _ string) {
			os.WriteFile(filepath.Join(dir, "out"), []byte("old"), 0o644)
		}, nil},
		{"symlink to an outside file is replaced, not written through", func(t *testing.T, dir, outside string) {
			os.Symlink(outside, filepath.Join(dir, "out"))
		}, nil},
		{"hard link to an outside file is replaced, not written through", func(t *testing.T, dir, outside string) {
			os.Link(outside, filepath.Join(dir, "out"))
		}, nil},
		{"directory is never replaced", func(t *testing.T, dir, _ string) {
			os.Mkdir(filepath.Join(dir, "out"), 0o755)
		}, ErrExists},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			root, dir, outside := destTree(t)
			tc.plant(t, dir, outside)
			p, err := CreatePartial(root, "out", false)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Discard()
			mustWrite(t, p, "new")
			err = p.Publish(PublishOptions{Replace: true})
			assertUntouched(t, outside)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Publish: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(filepath.Join(dir, "out"))
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("final is %v, %v; want a regular file", fi, err)
			}
			if got := readString(t, filepath.Join(dir, "out")); got != "new" {
				t.Errorf("final holds %q", got)
			}
			assertMissing(t, filepath.Join(dir, "out"+PartSuffix))
		})
	}
}

func TestPartialDiscardAndKeepResume(t *testing.T) {
	root, dir, _ := destTree(t)
	part := filepath.Join(dir, "big.bin"+PartSuffix)

	p, err := CreatePartial(root, "big.bin", false)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, "discarded")
	if err := p.Discard(); err != nil {
		t.Fatal(err)
	}
	assertMissing(t, part)
	assertMissing(t, filepath.Join(dir, "big.bin"))
	if err := p.Discard(); err != nil {
		t.Errorf("second Discard: %v", err)
	}

	p, err = CreatePartial(root, "big.bin", true) // nothing to resume
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 0 {
		t.Fatalf("Size() = %d with nothing to resume", p.Size())
	}
	mustWrite(t, p, "first half,")
	if err := p.Keep(); err != nil {
		t.Fatal(err)
	}
	if readString(t, part) != "first half," {
		t.Fatal("Keep lost the part file")
	}
	assertMissing(t, filepath.Join(dir, "big.bin"))

	p, err = CreatePartial(root, "big.bin", true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != int64(len("first half,")) {
		t.Fatalf("resumed Size() = %d", p.Size())
	}
	// The caller hashes the resumed prefix through File().
	prefix, err := io.ReadAll(io.NewSectionReader(p.File(), 0, p.Size()))
	if err != nil || string(prefix) != "first half," {
		t.Fatalf("prefix %q, %v", prefix, err)
	}
	mustWrite(t, p, " second half")
	if n, err := p.Len(); err != nil || n != int64(len("first half, second half")) {
		t.Errorf("Len() = %d, %v", n, err)
	}
	if p.Size() != int64(len("first half,")) {
		t.Errorf("Size() changed to %d by writing", p.Size())
	}
	if err := p.Publish(PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "big.bin")); got != "first half, second half" {
		t.Errorf("resumed file holds %q", got)
	}

	// Without resume, a stale part is replaced, not appended to.
	if err := os.WriteFile(part, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = CreatePartial(root, "big.bin", false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Discard()
	if p.Size() != 0 || readString(t, part) != "" {
		t.Errorf("stale part not replaced: Size %d, content %q", p.Size(), readString(t, part))
	}
}

func TestPartialHostilePartName(t *testing.T) {
	for _, tc := range []struct {
		attack     string
		plant      func(t *testing.T, part, outside string)
		resume     bool
		want       error // nil: a fresh part file replaces the planted one
		keepsPlant bool
	}{
		{"symlink to outside, fresh", func(t *testing.T, part, outside string) {
			os.Symlink(outside, part)
		}, false, nil, false},
		{"symlink to outside, resume", func(t *testing.T, part, outside string) {
			os.Symlink(outside, part)
		}, true, ErrAccessDenied, true},
		{"dangling symlink, fresh", func(t *testing.T, part, outside string) {
			os.Symlink(outside+".new", part)
		}, false, nil, false},
		{"hard link to outside, resume", func(t *testing.T, part, outside string) {
			os.Link(outside, part)
		}, true, ErrAccessDenied, true},
		{"hard link to outside, fresh", func(t *testing.T, part, outside string) {
			os.Link(outside, part)
		}, false, nil, false},
		{"fifo, resume", func(t *testing.T, part, _ string) {
			syscall.Mkfifo(part, 0o600)
		}, true, ErrNotRegular, true},
		{"fifo, fresh", func(t *testing.T, part, _ string) {
			syscall.Mkfifo(part, 0o600)
		}, false, nil, false},
		{"directory, resume", func(t *testing.T, part, _ string) {
			os.Mkdir(part, 0o755)
		}, true, ErrNotRegular, true},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			root, dir, outside := destTree(t)
			part := filepath.Join(dir, "f"+PartSuffix)
			tc.plant(t, part, outside)
			before, err := os.Lstat(part)
			if err != nil {
				t.Fatal(err)
			}
			p, err := CreatePartial(root, "f", tc.resume)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("CreatePartial: %v, want %v", err, tc.want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, p, "new")
				if err := p.Publish(PublishOptions{}); err != nil {
					t.Fatal(err)
				}
				if readString(t, filepath.Join(dir, "f")) != "new" {
					t.Error("wrong content published")
				}
			}
			assertUntouched(t, outside)
			assertMissing(t, outside+".new")
			after, err := os.Lstat(part)
			if tc.keepsPlant && (err != nil || !os.SameFile(before, after)) {
				t.Errorf("planted part name was changed: %v", err)
			}
		})
	}
}

// A part file swapped between the Lstat and the open of a resume is
// refused by the identity check, whatever was swapped in.
func TestPartialResumeSwap(t *testing.T) {
	for _, tc := range []struct {
		attack string
		swap   func(part, outside string)
		want   error
	}{
		{"symlink to outside", func(part, outside string) {
			os.Remove(part)
			os.Symlink(outside, part)
		}, ErrAccessDenied},
		{"symlink inside dest", func(part, _ string) {
			os.WriteFile(part+".other", []byte("other"), 0o600)
			os.Remove(part)
			os.Symlink(filepath.Base(part)+".other", part)
		}, ErrAccessDenied},
		{"fifo", func(part, _ string) {
			os.Remove(part)
			syscall.Mkfifo(part, 0o600)
		}, ErrNotRegular},
		{"other regular file", func(part, _ string) {
			// Rename, not remove: a freed inode number could be reused.
			os.Rename(part, part+".old")
			os.WriteFile(part, []byte("other"), 0o600)
		}, ErrAccessDenied},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			root, dir, outside := destTree(t)
			part := filepath.Join(dir, "f"+PartSuffix)
			if err := os.WriteFile(part, []byte("prefix"), 0o600); err != nil {
				t.Fatal(err)
			}
			testHookBeforeReopen = func(string) { tc.swap(part, outside) }
			defer func() { testHookBeforeReopen = nil }()
			done := make(chan error, 1)
			go func() {
				p, err := CreatePartial(root, "f", true)
				if err == nil {
					p.Keep()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("CreatePartial: %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("CreatePartial blocked")
			}
			assertUntouched(t, outside)
		})
	}
}

func TestPartialNames(t *testing.T) {
	root, dir, outside := destTree(t)
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/tmp", filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attack, name string
		want         error
	}{
		{"parent", "../victim", ErrInvalidName},
		{"absolute", outside, ErrInvalidName},
		{"backslash", `..\victim`, ErrInvalidName},
		{"device name", "CON", ErrInvalidName},
		{"too long once suffixed", strings.Repeat("x", MaxComponentBytes-len(PartSuffix)+1), ErrInvalidName},
		{"another file's part name", "f" + PartSuffix, ErrInvalidName},
		{"a part name in a folder", "sub/f" + PartSuffix, ErrInvalidName},
		{"through a symlink leading out", "escape/victim", ErrAccessDenied},
		{"through a symlink leading out, new dirs", "escape/new/x", ErrAccessDenied},
		{"through an absolute symlink", "abs/x", ErrAccessDenied},
		{"through a file", "file/x", ErrNotDir},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			p, err := CreatePartial(root, tc.name, false)
			if err == nil {
				p.Discard()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreatePartial(%q): %v, want %v", tc.name, err, tc.want)
			}
			assertPrintable(t, err.Error())
			assertUntouched(t, outside)
			assertMissing(t, outside+PartSuffix)
			assertMissing(t, filepath.Join(filepath.Dir(outside), "new"))
		})
	}

	p, err := CreatePartial(root, "a/b/c.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, "nested")
	if err := p.Publish(PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if readString(t, filepath.Join(dir, "a", "b", "c.txt")) != "nested" {
		t.Error("nested file not published")
	}
	if fi, err := os.Stat(filepath.Join(dir, "a", "b")); err != nil || fi.Mode().Perm()&^0o755 != 0 {
		t.Errorf("created dir: %v, %v", fi, err)
	}
	if got := len(strings.Repeat("x", MaxComponentBytes-len(PartSuffix))); got+len(PartSuffix) != MaxComponentBytes {
		t.Fatal("bad arithmetic")
	}
	if p, err := CreatePartial(root, strings.Repeat("x", MaxComponentBytes-len(PartSuffix)), false); err != nil {
		t.Errorf("longest allowed name refused: %v", err)
	} else {
		p.Discard()
	}
}

// A part file being written is locked: a second Partial for the same name,
// resumed or fresh, fails with ErrLocked and leaves the first one's file
// alone; once the first has ended, the part file can be resumed.
func TestPartialLocked(t *testing.T) {
	root, dir, _ := destTree(t)
	first, err := CreatePartial(root, "f", false)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, first, "first")
	for _, resume := range []bool{true, false} {
		if p, err := CreatePartial(root, "f", resume); !errors.Is(err, ErrLocked) {
			if p != nil {
				p.Discard()
			}
			t.Fatalf("CreatePartial(resume=%v) while another writes: %v, want ErrLocked", resume, err)
		}
	}
	if got := readString(t, filepath.Join(dir, "f"+PartSuffix)); got != "first" {
		t.Fatalf("the first writer's part file holds %q", got)
	}
	if err := first.Keep(); err != nil {
		t.Fatal(err)
	}
	again, err := CreatePartial(root, "f", true)
	if err != nil {
		t.Fatalf("resume after the first writer ended: %v", err)
	}
	defer again.Discard()
	if again.Size() != int64(len("first")) {
		t.Errorf("resumed size %d", again.Size())
	}
}

// Publish refuses a part file that holds other bytes than those written
// through the Partial, or that is not the Partial's file any more: what it
// verified would not be what it publishes.
func TestPublishRefusesChangedPart(t *testing.T) {
	for _, tc := range []struct {
		change string
		do     func(t *testing.T, part string)
	}{
		{"appended by another writer", func(t *testing.T, part string) {
			f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		}},
		{"another file at the part name", func(t *testing.T, part string) {
			if err := os.Rename(part, part+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(part, []byte("data"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.change, func(t *testing.T) {
			root, dir, _ := destTree(t)
			p, err := CreatePartial(root, "out", false)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Discard()
			mustWrite(t, p, "data")
			tc.do(t, filepath.Join(dir, "out"+PartSuffix))
			if err := p.Publish(PublishOptions{Replace: true}); !errors.Is(err, ErrPartChanged) {
				t.Fatalf("Publish: %v, want ErrPartChanged", err)
			}
			assertMissing(t, filepath.Join(dir, "out"))
		})
	}
}
