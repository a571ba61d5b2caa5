package safefs

import (
	"errors"
	"fmt"
	"os"
	"path"
)

// errNoRenameat2: renameat2(RENAME_NOREPLACE) is not available here.
var errNoRenameat2 = errors.New("renameat2 with RENAME_NOREPLACE is not supported")

// DestDir is a destination folder opened once for many Partials: creating,
// publishing and syncing in it then cost no lookup of the folder per file,
// and concurrent publishers share directory syncs (see Sync).
//
// A DestDir is safe for concurrent use. Close it once every Partial created in
// it has ended.
type DestDir struct {
	root *os.Root // the folder
	f    *os.File // the folder itself: fsync and renameat2 work on it

	dirSync *groupSync // fsyncs of f
	fsSync  *groupSync // syncfs of the folder's file system, shared by a Dest's folders; nil without a Dest or syncfs
}

// OpenDestDir opens the folder parent ("" or "." for dest itself) beneath dest,
// creating it and its parents with mode 0755 if needed. parent must pass
// [ValidatePath]. Errors: a *NameError; [ErrNotDir] when a component on
// the way is not a directory; [ErrAccessDenied] when the way escapes dest.
func OpenDestDir(dest *os.Root, parent string) (*DestDir, error) {
	if parent == "" {
		parent = "."
	}
	if parent != "." {
		if err := ValidatePath(parent); err != nil {
			return nil, err
		}
		if err := dest.MkdirAll(parent, 0o755); err != nil {
			return nil, mapDirErr(dest, err)
		}
	}
	root, err := dest.OpenRoot(parent)
	if err != nil {
		return nil, mapDirErr(dest, err)
	}
	// The folder's own descriptor, taken through the handle just opened:
	// the same directory, whatever happens to its name.
	f, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	d := &DestDir{root: root, f: f}
	d.dirSync = newGroupSync(f.Sync, 0)
	return d, nil
}

// Root returns the folder's handle. The caller must not close it.
func (d *DestDir) Root() *os.Root { return d.root }

// Close closes the folder.
func (d *DestDir) Close() error {
	return errors.Join(d.f.Close(), d.root.Close())
}

// CreatePartial is the package's CreatePartial for base, a single name,
// in this folder; name is its path from the destination, for the length
// check and for messages.
func (d *DestDir) CreatePartial(base, name string, resume bool) (*Partial, error) {
	if err := ValidateName(base); err != nil {
		return nil, err
	}
	if IsPartName(base) {
		return nil, &NameError{name, partNameReason}
	}
	if ValidateName(base+PartSuffix) != nil || ValidatePath(name+PartSuffix) != nil {
		return nil, &NameError{name, "too long once " + PartSuffix + " is appended"}
	}
	p := &Partial{d: d, dir: d.root, base: base, partBase: base + PartSuffix, name: name}
	if err := p.open(resume); err != nil {
		return nil, err
	}
	return p, nil
}

// Sync makes the folder's entries durable: it returns once an fsync of the
// folder that began after Sync was called has completed, with its error.
// Concurrent callers share syncs (group commit): while one runs, every
// caller that arrives waits for the next, which then covers all of them.
// So many files published at once into one folder cost about two
// directory syncs, not one each, and none is reported durable early.
func (d *DestDir) Sync() error {
	if err := d.dirSync.sync(); err != nil {
		return fmt.Errorf("sync %s: %w", Printable(path.Base(d.root.Name())), err)
	}
	return nil
}
