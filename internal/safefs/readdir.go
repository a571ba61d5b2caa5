package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// EntryType is the kind of a directory entry, as a listing shows it.
type EntryType uint8

// Entry types. Other covers FIFOs, devices, sockets and anything unknown:
// none of them can be fetched.
const (
	File EntryType = iota + 1
	Dir
	Symlink
	Other
)

func (t EntryType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Other:
		return "other"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry describes one directory entry. It describes the entry itself, as
// lstat does: a symlink is listed as Symlink, not as what it points to.
type Entry struct {
	Name    string    // a single component that passed ValidateName
	Type    EntryType // File, Dir, Symlink or Other
	Size    int64     // the file size for File, 0 for every other type
	ModTime time.Time
	Mode    fs.FileMode
}

// ReadDir lists the directory p beneath root ("" or "." is the root
// itself), sorted by name in byte order.
//
// Entries whose names fail [ValidateName] are left out and counted in the
// second result, so a peer is never shown a hostile name and the caller can
// still report that something was hidden. Entries that vanish while being
// listed are left out silently. Hidden (dot) entries are included: policy is
// the caller's (see [IsHidden]).
//
// Errors: a *NameError for an invalid p; [ErrNotFound]; [ErrNotDir] when p
// is not a directory; [ErrAccessDenied] for escapes and denied access.
// Safe for concurrent use.
//
// The whole listing is held in memory; callers serving huge directories
// should cap what they send.
func ReadDir(root *os.Root, p string) ([]Entry, int, error) {
	dir := root
	if p != "" && p != "." {
		if err := ValidatePath(p); err != nil {
			return nil, 0, err
		}
		// Stat first so that a file (or FIFO) is reported as ErrNotDir;
		// OpenRoot opens with O_DIRECTORY, so even a name swapped for a
		// FIFO after this check cannot block it.
		fi, err := root.Stat(p)
		if err != nil {
			return nil, 0, mapOpenErr(root, err)
		}
		if !fi.IsDir() {
			return nil, 0, fmt.Errorf("%w: %s is %s", ErrNotDir, p, describeType(fi.Mode()))
		}
		sub, err := root.OpenRoot(p)
		if err != nil {
			if errors.Is(err, syscall.ENOTDIR) {
				return nil, 0, fmt.Errorf("%w: %w", ErrNotDir, err)
			}
			return nil, 0, mapOpenErr(root, err)
		}
		defer sub.Close()
		dir = sub
	}

	d, err := dir.Open(".")
	if err != nil {
		return nil, 0, mapOpenErr(dir, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", Printable(p), mapOpenErr(dir, err))
	}

	entries := make([]Entry, 0, len(names))
	skipped := 0
	for _, name := range names {
		if ValidateName(name) != nil {
			skipped++
			continue
		}
		// Lstat through the directory's own root: the lstat behind
		// os.DirEntry.Info uses a path, which a concurrent rename
		// could point elsewhere.
		fi, err := dir.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, mapOpenErr(dir, err)
		}
		entries = append(entries, entryOf(name, fi))
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return entries, skipped, nil
}

func entryOf(name string, fi fs.FileInfo) Entry {
	e := Entry{Name: name, ModTime: fi.ModTime(), Mode: fi.Mode()}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type = File
		e.Size = fi.Size()
	case m.IsDir():
		e.Type = Dir
	case m&fs.ModeSymlink != 0:
		e.Type = Symlink
	default:
		e.Type = Other
	}
	return e
}

// Lstat describes the entry p beneath root itself, as lstat does: a
// symlink as the last component is described, not followed (symlinks on
// the way must stay inside root). Entry.Name is the last component of p.
//
// Errors: a *NameError for an invalid p; [ErrNotFound]; [ErrAccessDenied]
// for escapes and denied access. Safe for concurrent use.
func Lstat(root *os.Root, p string) (Entry, error) {
	if err := ValidatePath(p); err != nil {
		return Entry{}, err
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return Entry{}, mapOpenErr(root, err)
	}
	return entryOf(path.Base(p), fi), nil
}
