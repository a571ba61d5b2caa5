package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
)

// OpenOptions selects the optional refusals of [OpenOptions.OpenRegular].
// The zero value refuses only what is always refused (escapes, absolute
// symlinks, symlink loops, anything but a regular file). A server serving a
// tree that other local users can write should set RefuseHardLinks and
// RefuseOtherDevices: os.Root cannot see a hard link to a file outside the
// root, nor a file system mounted inside it.
type OpenOptions struct {
	// RefuseHardLinks refuses regular files with more than one link
	// (ErrAccessDenied): one of the names may lie outside the root.
	RefuseHardLinks bool
	// RefuseOtherDevices refuses files whose device differs from the
	// root directory's (ErrAccessDenied): bind mounts, procfs, ...
	RefuseOtherDevices bool
	// RefuseSymlinkLeaf refuses a symlink as the last component
	// (ErrAccessDenied). Symlinks in intermediate directories are still
	// followed when they stay inside the root. It costs an extra Lstat
	// after the open, because os.Root follows in-root symlinks even when
	// asked for O_NOFOLLOW.
	RefuseSymlinkLeaf bool
	// RefuseHidden refuses paths with a component starting with '.'
	// (ErrAccessDenied) before touching the file system.
	RefuseHidden bool
}

// OpenRegular opens the regular file p beneath root for reading, with the
// zero [OpenOptions]. See [OpenOptions.OpenRegular].
func OpenRegular(root *os.Root, p string) (*os.File, fs.FileInfo, error) {
	return OpenOptions{}.OpenRegular(root, p)
}

// OpenRegular opens the regular file p beneath root for reading and returns
// it with the FileInfo of the opened descriptor (not of the name, so it
// cannot have changed between check and use).
//
// p must pass [ValidatePath]; otherwise the error is a *NameError. The
// file is opened through root with O_NONBLOCK (and O_NOCTTY), so a FIFO
// planted in the tree cannot block the caller, then checked with fstat.
// Errors match, with errors.Is:
//   - [ErrNotFound]: p or a directory on its way does not exist, or a
//     component on the way is not a directory;
//   - [ErrNotRegular]: p is a directory, FIFO, device, socket or other
//     non-regular file;
//   - [ErrAccessDenied]: p escapes root through a symlink, is or goes
//     through an absolute symlink or a symlink loop, fails an option, or
//     the operating system denied access.
//
// Other errors (I/O errors, a closed root) are returned wrapped as they are.
// The caller owns the returned file. Safe for concurrent use.
func (o OpenOptions) OpenRegular(root *os.Root, p string) (*os.File, fs.FileInfo, error) {
	if err := ValidatePath(p); err != nil {
		return nil, nil, err
	}
	if o.RefuseHidden && IsHidden(p) {
		return nil, nil, fmt.Errorf("%w: %s is hidden", ErrAccessDenied, Printable(p))
	}
	// Look before opening, so that in the usual, non-racing case a device
	// node is never opened at all (opening some devices has side effects,
	// such as rewinding a tape). The fstat below stays the real check.
	stat := root.Stat
	if o.RefuseSymlinkLeaf {
		stat = root.Lstat
	}
	fi, err := stat(p)
	if err != nil {
		return nil, nil, mapOpenErr(root, err)
	}
	if err := o.check(root, p, fi); err != nil {
		return nil, nil, err
	}

	if testHookBeforeOpen != nil {
		testHookBeforeOpen(p)
	}
	f, err := root.OpenFile(p, openReadFlags, 0)
	if err != nil {
		return nil, nil, mapOpenErr(root, err)
	}
	fi, err = f.Stat()
	if err == nil {
		err = o.check(root, p, fi)
	}
	if err == nil && o.RefuseSymlinkLeaf {
		err = sameAsName(root, p, fi)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// testHookBeforeOpen, when set by a test, runs between the name check and
// the open, so tests can swap the file and prove the fstat check holds.
var testHookBeforeOpen func(p string)

// sameAsName makes RefuseSymlinkLeaf hold against a race. os.Root ignores
// a caller's O_NOFOLLOW: it always opens with O_NOFOLLOW itself and, on
// ELOOP, follows the symlink if it stays in the root (Go 1.26
// rootOpenFileNolog). So after the open, p must still name, without
// following a final symlink, the very file that was opened.
func sameAsName(root *os.Root, p string, opened fs.FileInfo) error {
	now, err := root.Lstat(p)
	if err != nil {
		return mapOpenErr(root, err)
	}
	if !os.SameFile(now, opened) {
		return fmt.Errorf("%w: %s changed while being opened", ErrAccessDenied, p)
	}
	return nil
}

// check applies the type and option checks to fi, the FileInfo of p.
func (o OpenOptions) check(root *os.Root, p string, fi fs.FileInfo) error {
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 { // only seen through Lstat
		return fmt.Errorf("%w: %s is a symlink", ErrAccessDenied, p)
	}
	if !mode.IsRegular() {
		return fmt.Errorf("%w: %s is %s", ErrNotRegular, p, describeType(mode))
	}
	if !o.RefuseHardLinks && !o.RefuseOtherDevices {
		return nil
	}
	dev, nlink, ok := fileID(fi)
	if !ok {
		// Fail closed: an option the platform cannot check is refused,
		// not silently ignored.
		return fmt.Errorf("%w: cannot check links or device of %s on this system", ErrAccessDenied, p)
	}
	if o.RefuseHardLinks && nlink > 1 {
		return fmt.Errorf("%w: %s has %d hard links", ErrAccessDenied, p, nlink)
	}
	if o.RefuseOtherDevices {
		rfi, err := root.Stat(".")
		if err != nil {
			return fmt.Errorf("stat root: %w", err)
		}
		rdev, _, ok := fileID(rfi)
		if !ok || rdev != dev {
			return fmt.Errorf("%w: %s is on another device than the root", ErrAccessDenied, p)
		}
	}
	return nil
}

func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a fifo"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "not a regular file"
}

// mapOpenErr maps an error from an os.Root call on a validated path to the
// package sentinels, keeping the original error in the chain.
func mapOpenErr(root *os.Root, err error) error {
	var sentinel error
	switch {
	case isEscape(root, err):
		// After validation, a name can only escape through a symlink
		// (relative, leading out, or absolute).
		sentinel = ErrAccessDenied
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		sentinel = ErrNotFound
	case errors.Is(err, syscall.ELOOP):
		// A symlink loop (or too many symlinks on the way).
		sentinel = ErrAccessDenied
	case errors.Is(err, fs.ErrPermission):
		sentinel = ErrAccessDenied
	case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.EISDIR):
		// ENXIO: open(2) of a socket, or of a device with no driver.
		sentinel = ErrNotRegular
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// escapeErr caches the error value os.Root uses for "path escapes from
// parent". The standard library does not export it, and the defences notes
// forbid matching error strings, so we ask os.Root for it: a path with a
// leading separator is refused as an escape before any system call. It is
// cached only once obtained from an open root (a closed root answers
// ErrClosed instead). TestEscapeErrorDetected guards this.
var escapeErr atomic.Pointer[error]

func isEscape(root *os.Root, err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	want := escapeErr.Load()
	if want == nil {
		_, probe := root.Lstat("/")
		var ppe *fs.PathError
		if !errors.As(probe, &ppe) || errors.Is(probe, fs.ErrClosed) {
			return false
		}
		e := ppe.Err
		escapeErr.Store(&e)
		want = &e
	}
	return errors.Is(err, *want)
}
