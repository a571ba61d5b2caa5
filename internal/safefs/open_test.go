//go:build linux

package safefs

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const (
	okContent     = "hello, ferry"
	secretContent = "outside secret"
)

// hostileTree builds a served root next to a secret outside file and fills
// it with the traps a local user could plant. It returns the opened root,
// the root directory and the outside file's path.
func hostileTree(t testing.TB) (*os.Root, string, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside.txt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(dir, 0o755))
	must(os.WriteFile(outside, []byte(secretContent), 0o644))
	must(os.WriteFile(filepath.Join(dir, "ok.txt"), []byte(okContent), 0o644))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "inner.txt"), []byte(okContent), 0o644))
	must(os.WriteFile(filepath.Join(dir, ".hidden"), []byte(okContent), 0o644))
	for name, target := range map[string]string{
		"link_ok":     "ok.txt",
		"sub/link_up": "../ok.txt",
		"link_sub":    "sub",
		"link_out":    "../outside.txt",
		"link_abs":    outside,
		"link_abs_in": filepath.Join(dir, "ok.txt"), // absolute, even pointing inside: refused
		"loop1":       "loop2",
		"loop2":       "loop1",
		"dir_out":     base,
		"dangling":    "nowhere",
	} {
		must(os.Symlink(target, filepath.Join(dir, name)))
	}
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(os.Link(outside, filepath.Join(dir, "hard")))
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	must(err)
	t.Cleanup(func() { l.Close() })
	if os.Geteuid() == 0 {
		// A /dev/zero lookalike: os.Root would serve it happily.
		must(syscall.Mknod(filepath.Join(dir, "zero"), syscall.S_IFCHR|0o666, 1<<8|5))
	}
	root, err := os.OpenRoot(dir)
	must(err)
	t.Cleanup(func() { root.Close() })
	return root, dir, outside
}

type openCase struct {
	attack string
	path   string
	opts   OpenOptions
	want   error // nil: opens and reads okContent
}

func openCases() []openCase {
	return []openCase{
		{"plain file", "ok.txt", OpenOptions{}, nil},
		{"nested file", "sub/inner.txt", OpenOptions{}, nil},
		{"symlink inside the root", "link_ok", OpenOptions{}, nil},
		{"symlink up but still inside", "sub/link_up", OpenOptions{}, nil},
		{"through a symlinked dir inside", "link_sub/inner.txt", OpenOptions{}, nil},
		{"hidden file by default", ".hidden", OpenOptions{}, nil},
		{"hidden file refused by policy", ".hidden", OpenOptions{RefuseHidden: true}, ErrAccessDenied},
		{"symlink leaf refused by policy", "link_ok", OpenOptions{RefuseSymlinkLeaf: true}, ErrAccessDenied},
		{"symlinked dir still followed without leaf", "link_sub/inner.txt", OpenOptions{RefuseSymlinkLeaf: true}, nil},
		{"symlink to ../outside", "link_out", OpenOptions{}, ErrAccessDenied},
		{"absolute symlink", "link_abs", OpenOptions{}, ErrAccessDenied},
		{"absolute symlink into the root", "link_abs_in", OpenOptions{}, ErrAccessDenied},
		{"symlinked dir outside", "dir_out/outside.txt", OpenOptions{}, ErrAccessDenied},
		{"symlink loop", "loop1", OpenOptions{}, ErrAccessDenied},
		{"dangling symlink", "dangling", OpenOptions{}, ErrNotFound},
		{"fifo", "fifo", OpenOptions{}, ErrNotRegular},
		{"directory", "sub", OpenOptions{}, ErrNotRegular},
		{"socket", "sock", OpenOptions{}, ErrNotRegular},
		{"hard link to outside refused", "hard", OpenOptions{RefuseHardLinks: true}, ErrAccessDenied},
		{"missing", "missing.txt", OpenOptions{}, ErrNotFound},
		{"missing dir", "nodir/x", OpenOptions{}, ErrNotFound},
		{"file used as a dir", "ok.txt/x", OpenOptions{}, ErrNotFound},
		{"parent", "../outside.txt", OpenOptions{}, ErrInvalidName},
		{"absolute", "/etc/passwd", OpenOptions{}, ErrInvalidName},
		{"dot is the root", ".", OpenOptions{}, ErrInvalidName},
		{"nul", "ok.txt\x00", OpenOptions{}, ErrInvalidName},
		{"device name", "NUL", OpenOptions{}, ErrInvalidName},
	}
}

func TestOpenRegularHostileTree(t *testing.T) {
	root, _, outside := hostileTree(t)
	cases := openCases()
	if os.Geteuid() == 0 {
		cases = append(cases, openCase{"char device like /dev/zero", "zero", OpenOptions{}, ErrNotRegular})
	}
	for _, tc := range cases {
		t.Run(tc.attack, func(t *testing.T) {
			f, fi, err := openWithDeadline(t, tc.opts, root, tc.path)
			checkOpen(t, tc, f, fi, err, outside)
		})
	}
}

// The zero options do serve an outside file through a hard link: os.Root
// cannot see it. This documents why servers should set RefuseHardLinks.
func TestOpenRegularHardLinkServedWithoutOption(t *testing.T) {
	root, _, _ := hostileTree(t)
	f, _, err := OpenRegular(root, "hard")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != secretContent {
		t.Fatalf("read %q", b)
	}
}

func TestOpenRegularOtherDevice(t *testing.T) {
	// /dev is a devtmpfs on Linux and /proc a procfs: both differ from the
	// device of a temporary directory.
	for _, dir := range []string{"/proc/self", "/dev"} {
		if _, err := os.Stat(dir); err != nil {
			t.Skip(dir, "missing")
		}
	}
	// A file on its root's own device is allowed, even on procfs.
	proot, err := os.OpenRoot("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	defer proot.Close()
	if f, _, err := (OpenOptions{RefuseOtherDevices: true}).OpenRegular(proot, "status"); err != nil {
		t.Fatalf("file on the root's own device refused: %v", err)
	} else {
		f.Close()
	}
	mountBind(t, t.TempDir())
}

// mountBind bind-mounts /proc/self into dir/mnt and checks that a file
// reached through the mount is refused. It skips when mounting is not
// allowed (not root, or in a container without CAP_SYS_ADMIN).
func mountBind(t *testing.T, dir string) {
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("/proc/self", mnt, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount (%v): device check not exercised through a mount", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, _, err = (OpenOptions{RefuseOtherDevices: true}).OpenRegular(root, "mnt/status")
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("file on a mount inside the root: err = %v, want ErrAccessDenied", err)
	}
	f, _, err := OpenRegular(root, "mnt/status")
	if err != nil {
		t.Fatalf("without the option: %v", err)
	}
	f.Close()
}

// A file swapped between the name check and the open is caught by the
// fstat of the opened descriptor, and a FIFO swapped in does not block.
func TestOpenRegularSwapAfterCheck(t *testing.T) {
	for _, tc := range []struct {
		attack string
		swap   func(t *testing.T, dir, outside, name string)
		opts   OpenOptions
		want   error
	}{
		{"fifo swapped in", func(t *testing.T, dir, _, name string) {
			os.Remove(filepath.Join(dir, name))
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
				t.Fatal(err)
			}
		}, OpenOptions{}, ErrNotRegular},
		{"directory swapped in", func(t *testing.T, dir, _, name string) {
			os.Remove(filepath.Join(dir, name))
			os.Mkdir(filepath.Join(dir, name), 0o755)
		}, OpenOptions{}, ErrNotRegular},
		{"hard link to outside swapped in", func(t *testing.T, dir, outside, name string) {
			os.Remove(filepath.Join(dir, name))
			if err := os.Link(outside, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}, OpenOptions{RefuseHardLinks: true}, ErrAccessDenied},
		{"escaping symlink swapped in", func(t *testing.T, dir, outside, name string) {
			os.Remove(filepath.Join(dir, name))
			os.Symlink(outside, filepath.Join(dir, name))
		}, OpenOptions{}, ErrAccessDenied},
		{"in-root symlink swapped in under no-follow", func(t *testing.T, dir, _, name string) {
			os.Remove(filepath.Join(dir, name))
			os.Symlink("ok.txt", filepath.Join(dir, name))
		}, OpenOptions{RefuseSymlinkLeaf: true}, ErrAccessDenied},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			root, dir, outside := hostileTree(t)
			const name = "victim"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(okContent), 0o644); err != nil {
				t.Fatal(err)
			}
			swapped := false
			testHookBeforeOpen = func(string) { tc.swap(t, dir, outside, name); swapped = true }
			defer func() { testHookBeforeOpen = nil }()
			f, fi, err := openWithDeadline(t, tc.opts, root, name)
			if !swapped {
				t.Fatal("hook did not run")
			}
			checkOpen(t, openCase{tc.attack, name, tc.opts, tc.want}, f, fi, err, outside)
		})
	}
}

// The server keeps working: thousands of hostile opens leak no descriptor
// and leave good files servable.
func TestOpenRegularManyCalls(t *testing.T) {
	root, _, outside := hostileTree(t)
	before := openFDs(t)
	for i := 0; i < 200; i++ {
		for _, tc := range openCases() {
			f, fi, err := openWithDeadline(t, tc.opts, root, tc.path)
			checkOpen(t, tc, f, fi, err, outside)
		}
	}
	if after := openFDs(t); after > before {
		t.Errorf("open descriptors grew from %d to %d", before, after)
	}
}

func TestEscapeErrorDetected(t *testing.T) {
	root, _, _ := hostileTree(t)
	// A closed root must not poison the cache.
	escapeErr.Store(nil)
	closed, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if isEscape(closed, &fs.PathError{Op: "x", Path: "y", Err: errors.New("path escapes from parent")}) {
		t.Error("a look-alike error from another source matched")
	}
	if escapeErr.Load() != nil {
		t.Fatal("escape error cached from a closed root")
	}
	_, err = root.Open("link_out")
	if err == nil || !isEscape(root, err) {
		t.Fatalf("os.Root escape %v not recognised", err)
	}
	if isEscape(root, fs.ErrNotExist) || isEscape(root, &fs.PathError{Err: syscall.ENOENT}) {
		t.Error("ordinary errors taken for escapes")
	}
}

func openWithDeadline(t *testing.T, o OpenOptions, root *os.Root, p string) (*os.File, fs.FileInfo, error) {
	t.Helper()
	type result struct {
		f   *os.File
		fi  fs.FileInfo
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, fi, err := o.OpenRegular(root, p)
		done <- result{f, fi, err}
	}()
	select {
	case r := <-done:
		return r.f, r.fi, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("OpenRegular(%q) blocked", p)
		return nil, nil, nil
	}
}

func checkOpen(t *testing.T, tc openCase, f *os.File, fi fs.FileInfo, err error, outside string) {
	t.Helper()
	if tc.want != nil {
		if f != nil {
			f.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: OpenRegular(%q) err = %v, want %v", tc.attack, tc.path, err, tc.want)
		}
		if f != nil || fi != nil {
			t.Fatalf("%s: non-nil file or info with an error", tc.attack)
		}
		assertPrintable(t, err.Error())
		return
	}
	if err != nil {
		t.Fatalf("%s: OpenRegular(%q) = %v", tc.attack, tc.path, err)
	}
	defer f.Close()
	if !fi.Mode().IsRegular() || fi.Size() != int64(len(okContent)) {
		t.Fatalf("%s: info %v size %d", tc.attack, fi.Mode(), fi.Size())
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != okContent {
		t.Fatalf("%s: read %q, %v", tc.attack, b, err)
	}
	if ofi, err := os.Stat(outside); err == nil && os.SameFile(ofi, fi) {
		t.Fatalf("%s: served the outside file", tc.attack)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// FuzzOpenRegular: whatever the name, a hostile tree never yields a file
// outside the root, a non-regular file, or an error outside the contract.
func FuzzOpenRegular(f *testing.F) {
	root, dir, outside := hostileTree(f)
	ofi, err := os.Stat(outside)
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range openCases() {
		f.Add(tc.path, false)
	}
	f.Add("zero", true)
	f.Add("link_sub/../ok.txt", false)
	f.Fuzz(func(t *testing.T, p string, noFollow bool) {
		o := OpenOptions{RefuseHardLinks: true, RefuseSymlinkLeaf: noFollow}
		file, fi, err := o.OpenRegular(root, p)
		if err != nil {
			for _, s := range []error{ErrInvalidName, ErrNotFound, ErrNotRegular, ErrAccessDenied} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("OpenRegular(%q): error %v matches no sentinel", p, err)
		}
		defer file.Close()
		if !fi.Mode().IsRegular() || os.SameFile(fi, ofi) {
			t.Fatalf("OpenRegular(%q) returned %v (outside file: %v)", p, fi.Mode(), os.SameFile(fi, ofi))
		}
		// The file is one of the root's own files.
		inside := false
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if lfi, err := os.Lstat(path); err == nil && os.SameFile(lfi, fi) {
					inside = true
				}
			}
			return nil
		})
		if !inside {
			t.Fatalf("OpenRegular(%q) returned a file not in the root", p)
		}
	})
}
