package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// PartSuffix is appended to the final name to form the part file's name.
// Names that end in it are ferry's own: nothing else is written under one
// (see IsPartName).
const PartSuffix = ".ferry-part"

// partNameReason is why a name ending in PartSuffix is refused.
const partNameReason = "ends in " + PartSuffix + ", which ferry keeps for its partial files"

// IsPartName reports whether the last element of the slash-separated path
// p ends in PartSuffix. Such a name is never written as a file of its own:
// it could be the part file of another file in the same folder, which
// would then resume from it, or publish over it.
func IsPartName(p string) bool {
	return strings.HasSuffix(path.Base(p), PartSuffix)
}

// DefaultFileMode is the mode of a published file when PublishOptions.Mode
// is zero.
const DefaultFileMode fs.FileMode = 0o644

// Partial is a file being received. It is written as NAME.ferry-part beside
// the final NAME and becomes NAME only through Publish, after the caller
// has checked its size and digest; until then nothing appears under NAME.
//
// All operations work through a handle on the destination directory, taken
// when the Partial is created, so a directory renamed or swapped for a
// symlink meanwhile cannot redirect them.
//
// Exactly one of Publish, Discard and Keep ends the Partial; once it has
// ended, Discard and Keep do nothing and return nil, so
//
//	defer p.Discard()
//
// right after CreatePartial removes the part file on every early return.
// A Partial is not safe for concurrent use.
type Partial struct {
	d         *DestDir // the directory holding the part and final names
	ownsDir   bool     // d was opened for this Partial alone: close it at the end
	dir       *os.Root // d.root
	base      string   // final name within dir
	partBase  string   // part name within dir
	name      string   // final path as given, for messages
	f         *os.File // nil once closed
	size      int64
	written   int64 // bytes written through Write since the open
	ended     bool
	published bool
}

var _ io.Writer = (*Partial)(nil)

// PublishOptions controls [Partial.Publish].
type PublishOptions struct {
	// Replace allows replacing an existing NAME by renaming over it. The
	// rename replaces a symlink at NAME itself and never writes through
	// it. A directory at NAME is never replaced. Default: refuse
	// (ErrExists) and leave NAME untouched.
	Replace bool
	// Mode is the permission of the published file; only the permission
	// bits are used. Default (zero): DefaultFileMode. The umask is not
	// applied: reading it is process-wide and racy.
	Mode fs.FileMode
	// ModTime, when not zero, becomes the file's access and modification
	// time. Default: left as written.
	ModTime time.Time
	// SharedSync makes the file and then its name durable with syncs of
	// the whole file system (syncfs) shared by every Partial of the same
	// [Dest] published meanwhile, instead of an fsync of the file and one
	// of its folder each. A burst of small files then costs a few syncs,
	// not two per file (on ext4 with a journal every fsync is a journal
	// commit: 1000 files of 64 KiB came 1.3 to 1.8 times faster). The
	// guarantees are the same: the bytes are durable before the file gets
	// its name, and the name before Publish returns. The cost: a sync also
	// writes what other programs left unwritten on that file system. It
	// applies to Partials created in a folder from [Dest.Dir], on Linux;
	// otherwise Publish syncs the file and its folder as without it.
	SharedSync bool
	// NoSync skips every sync, shared or not: Publish returns once the
	// name exists, and the file and its name reach the disk whenever the
	// kernel writes them back, as with cp or rsync. NAME still never holds
	// a partial file while the system runs, but a crash of the system (not
	// of the process) soon after may leave NAME empty or short.
	NoSync bool
}

// CreatePartial starts receiving name into dest.
//
// name is a single component or a relative slash-separated path, which must
// pass [ValidatePath] even with [PartSuffix] appended; its parent
// directories are created with mode 0755 through dest. The part file is
// NAME.ferry-part in the same directory, opened for reading and writing,
// and created O_EXCL (which never follows a symlink) with mode 0600.
//
// With resume false, an existing part file (or a symlink, or an empty
// directory, at its name) is removed and a fresh one created; Size is 0.
//
// With resume true, an existing part file is reopened for appending and Size
// reports its length; when there is none, a fresh one is created. The
// existing part must be a regular file with a single link, the same file
// before and after the open (Lstat, then fstat after an O_NONBLOCK open); otherwise CreatePartial fails with [ErrNotRegular] or
// [ErrAccessDenied] and changes nothing. The caller must still verify the
// resumed prefix (hash File() up to Size()) before trusting it.
//
// The part file is locked (flock) while the Partial has it open: a second
// Partial for the same name, in this process or another, fails with
// [ErrLocked] instead of appending to it or removing it.
//
// Errors: a *NameError; [ErrAccessDenied] when a directory on the way
// escapes dest or access is denied; [ErrNotDir] when a component on the
// way is not a directory; [ErrLocked].
func CreatePartial(dest *os.Root, name string, resume bool) (*Partial, error) {
	if err := ValidatePath(name); err != nil {
		return nil, err
	}
	if err := ValidatePath(name + PartSuffix); err != nil {
		return nil, &NameError{name, "too long once " + PartSuffix + " is appended"}
	}
	d, err := OpenDestDir(dest, path.Dir(name))
	if err != nil {
		return nil, err
	}
	p, err := d.CreatePartial(path.Base(name), name, resume)
	if err != nil {
		d.Close()
		return nil, err
	}
	p.ownsDir = true
	return p, nil
}

// closeDir closes the Partial's directory if it is its own.
func (p *Partial) closeDir() {
	if p.ownsDir {
		p.d.Close()
	}
}

func (p *Partial) open(resume bool) error {
	// Most part files are new: try to create one first, and look at what
	// is in the way only when something is. O_EXCL never opens an
	// existing file and, with O_CREATE, os.Root never follows a symlink
	// there, even a dangling one.
	f, err := p.create()
	if err == nil {
		return p.take(f)
	}
	if !errors.Is(err, fs.ErrExist) {
		return mapOpenErr(p.dir, err)
	}
	fi, err := p.dir.Lstat(p.partBase)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Gone since: create below.
	case err != nil:
		return mapOpenErr(p.dir, err)
	case resume:
		return p.reopen(fi)
	default:
		// Another ferry's part file is not ours to remove: it would go on
		// writing to a file without a name, and publish ours.
		if fi.Mode().IsRegular() && p.lockedByOther(fi) {
			return fmt.Errorf("%s: %w", p.partBase, ErrLocked)
		}
		// Remove unlinks a symlink itself and only empty directories.
		if err := p.dir.Remove(p.partBase); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return mapOpenErr(p.dir, err)
		}
	}
	f, err = p.create()
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared while being created: %w", ErrExists, p.partBase, err)
		}
		return mapOpenErr(p.dir, err)
	}
	return p.take(f)
}

// take locks the part file just opened and makes it the Partial's, or
// closes it if another process holds its lock (it opened the file between
// our create and our lock: the file is its).
func (p *Partial) take(f *os.File) error {
	if err := lockPart(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.partBase, err)
	}
	p.f = f
	return nil
}

// lockedByOther reports whether another process holds the lock of the
// regular file at the part name, described by fi (its Lstat).
func (p *Partial) lockedByOther(fi fs.FileInfo) bool {
	f, err := p.dir.OpenFile(p.partBase, openReadFlags, 0)
	if err != nil {
		return false
	}
	defer f.Close() // releases the lock if we got it
	now, err := f.Stat()
	return err == nil && os.SameFile(fi, now) && errors.Is(lockPart(f), ErrLocked)
}

// create creates the part file, failing if anything is at its name.
func (p *Partial) create() (*os.File, error) {
	return p.dir.OpenFile(p.partBase, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// testHookFileSync, when set by a test, runs before each fsync of a part
// file.
var testHookFileSync func()

// testNoRenameat2, when set by a test, makes Publish take the link and
// remove way, as on a file system without renameat2.
var testNoRenameat2 bool

// testHookBeforeReopen, when set by a test, runs between the Lstat and the
// open of a part file being resumed.
var testHookBeforeReopen func(partBase string)

// reopen opens the existing part file described by before (its Lstat).
func (p *Partial) reopen(before fs.FileInfo) error {
	if before.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: part file %s is a symlink", ErrAccessDenied, p.partBase)
	}
	if !before.Mode().IsRegular() {
		return fmt.Errorf("%w: part file %s is %s", ErrNotRegular, p.partBase, describeType(before.Mode()))
	}
	if testHookBeforeReopen != nil {
		testHookBeforeReopen(p.partBase)
	}
	// O_NONBLOCK: a FIFO swapped in after the Lstat must not block.
	// O_NOFOLLOW would not help: os.Root follows an in-root symlink
	// even when asked not to. The identity check below is what refuses
	// a file swapped in after the Lstat, symlinked or not.
	f, err := p.dir.OpenFile(p.partBase, os.O_RDWR|os.O_APPEND|openWriteFlags, 0)
	if err != nil {
		return mapOpenErr(p.dir, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkResumable(p.partBase, before, fi)
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := p.take(f); err != nil {
		return err
	}
	p.size = fi.Size()
	return nil
}

func checkResumable(name string, before, after fs.FileInfo) error {
	if !after.Mode().IsRegular() {
		return fmt.Errorf("%w: part file %s is %s", ErrNotRegular, name, describeType(after.Mode()))
	}
	if !os.SameFile(before, after) {
		return fmt.Errorf("%w: part file %s changed while being opened", ErrAccessDenied, name)
	}
	// A hard link planted at the part name would make us append to (and
	// later publish) some other file of the user's.
	if _, nlink, ok := fileID(after); ok && nlink > 1 {
		return fmt.Errorf("%w: part file %s has %d hard links", ErrAccessDenied, name, nlink)
	}
	return nil
}

// Write appends b to the part file.
func (p *Partial) Write(b []byte) (int, error) {
	if p.f == nil {
		return 0, fmt.Errorf("write %s: %w", p.partBase, os.ErrClosed)
	}
	n, err := p.f.Write(b)
	p.written += int64(n)
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		// The folder's root is named DEST/. for DEST itself.
		pe.Path = filepath.Clean(pe.Path)
	}
	return n, err
}

// File returns the open part file, for ReadFrom and for hashing a resumed
// prefix (read it with ReadAt or an io.SectionReader: writes always append,
// whatever the read offset). It is nil once the Partial has ended. The
// caller must not close it.
func (p *Partial) File() *os.File { return p.f }

// Size returns the number of bytes the part file held when it was opened:
// 0 for a fresh one, the resumed length otherwise.
func (p *Partial) Size() int64 { return p.size }

// Len returns the current length of the part file, from fstat: Size plus
// whatever was written since, through Write or File. It fails once the
// Partial has ended or Publish was called.
func (p *Partial) Len() (int64, error) {
	if p.f == nil {
		return 0, fmt.Errorf("stat %s: %w", p.partBase, os.ErrClosed)
	}
	fi, err := p.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Name returns the final path as given to CreatePartial.
func (p *Partial) Name() string { return p.name }

// Published reports whether Publish made NAME the received file. It can be
// true after Publish returned an error from a step after the link or
// rename (removing the part name, syncing the directory).
func (p *Partial) Published() bool { return p.published }

// Publish makes the part file NAME: it sets the file's mode (and mtime if
// asked) on the descriptor and flushes it to disk; it checks that the part
// file holds exactly the resumed bytes and those written through the
// Partial, and is still the file at the part name ([ErrPartChanged]
// otherwise: what was verified would not be what gets published); then,
// the file still open and locked, it renames it to
// NAME with renameat2(RENAME_NOREPLACE), which fails with [ErrExists] if
// NAME exists (where the file system cannot, it links NAME and removes the
// part name instead), or with Replace renames it over NAME. Last it syncs
// the directory (see [DestDir.Sync]: concurrent Publishes in one DestDir share
// syncs), so that when Publish returns nil, NAME and its bytes survive a
// crash. At no moment does NAME hold anything but the whole, synced file.
// With [PublishOptions.SharedSync], file-system syncs shared with other
// Publishes take the place of both fsyncs, in the same order.
//
// Publish may be called once. When it fails before NAME was made
// (including ErrExists), the part file stays and the Partial has not
// ended: call Discard or Keep. When it fails after (see Published), the
// Partial has ended.
//
// Without Replace, on a system without renameat2 (not Linux, or a file
// system that refuses RENAME_NOREPLACE), publishing needs hard links; on a
// file system without them the link fails and the error is returned
// unmapped.
func (p *Partial) Publish(opts PublishOptions) error {
	if p.ended || p.f == nil {
		return fmt.Errorf("publish %s: %w", p.name, os.ErrClosed)
	}
	fsSync := p.d.fsSync
	if !opts.SharedSync || opts.NoSync {
		fsSync = nil
	}
	err := p.finishFile(opts, fsSync == nil && !opts.NoSync)
	if err == nil && fsSync != nil {
		// The bytes must be durable before the name exists.
		err = fsSync.sync()
	}
	if err == nil {
		err = p.checkPart()
	}
	if err != nil {
		p.f.Close()
		p.f = nil
		return fmt.Errorf("publish %s: %w", Printable(p.name), err)
	}
	// The file stays open, and so locked, until it has its name: no other
	// ferry can take the part name over meanwhile.
	defer func() {
		if p.f != nil {
			p.f.Close()
			p.f = nil
		}
	}()

	linked := false
	if opts.Replace {
		err = p.replace()
	} else {
		err = errNoRenameat2
		if !testNoRenameat2 {
			err = renameNoReplace(p.d.f, p.partBase, p.base)
		}
		if errors.Is(err, errNoRenameat2) {
			err, linked = p.dir.Link(p.partBase, p.base), true
		}
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %w", ErrExists, err)
		} else if err != nil {
			err = mapOpenErr(p.dir, err)
		}
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", Printable(p.name), err)
	}
	p.published = true
	p.ended = true
	defer p.closeDir()

	if linked {
		// A rename consumes the part name; the link left it.
		if err := p.dir.Remove(p.partBase); err != nil {
			return fmt.Errorf("published %s but could not remove the part file: %w", Printable(p.name), err)
		}
	}
	switch {
	case opts.NoSync:
		err = nil
	case fsSync != nil:
		err = fsSync.sync()
	default:
		err = p.d.Sync()
	}
	if err != nil {
		return fmt.Errorf("published %s but could not make its name durable (sync): %w", Printable(p.name), err)
	}
	return nil
}

// checkPart makes sure that what is about to be published is what was
// written through this Partial: the part file holds exactly the resumed and
// the written bytes, and the part name still leads to it. Another process
// writing to it, or a file put in its place, would otherwise be published
// after this Partial's own bytes were verified.
func (p *Partial) checkPart() error {
	fi, err := p.f.Stat()
	if err != nil {
		return err
	}
	if want := p.size + p.written; fi.Size() != want {
		return fmt.Errorf("%w: %s holds %d bytes where %d were written", ErrPartChanged, p.partBase, fi.Size(), want)
	}
	named, err := p.dir.Lstat(p.partBase)
	if err != nil {
		return mapOpenErr(p.dir, err)
	}
	if !os.SameFile(fi, named) {
		return fmt.Errorf("%w: %s is another file now", ErrPartChanged, p.partBase)
	}
	return nil
}

// finishFile sets the mode and time of the part file and, when sync is
// set, flushes it to disk.
func (p *Partial) finishFile(opts PublishOptions, sync bool) error {
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = DefaultFileMode
	}
	if err := p.f.Chmod(mode); err != nil {
		return err
	}
	if !opts.ModTime.IsZero() {
		if err := setModTime(p.f, p.dir, p.partBase, opts.ModTime); err != nil {
			return err
		}
	}
	if !sync {
		return nil
	}
	// Sync last, so the mode and times are durable too.
	if testHookFileSync != nil {
		testHookFileSync()
	}
	return p.f.Sync()
}

// replace renames the part over NAME. rename(2) replaces the directory
// entry: a symlink at NAME is replaced, never followed.
func (p *Partial) replace() error {
	// rename(2) itself refuses to put a file over a directory (EISDIR),
	// and never follows a symlink at either name.
	err := renameReplace(p.d, p.partBase, p.base)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %s is a directory", ErrExists, p.base)
	}
	return mapOpenErr(p.dir, err)
}

// Discard closes and removes the part file and ends the Partial. It does
// nothing after the Partial has ended, except that after a failed Publish
// it still removes the part file.
func (p *Partial) Discard() error {
	if p.ended {
		return nil
	}
	p.ended = true
	defer p.closeDir()
	// Remove the name first, while the file is still open and locked:
	// another ferry cannot take it over between the close and the remove.
	err := p.dir.Remove(p.partBase)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if p.f != nil {
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
		p.f = nil
	}
	return err
}

// Keep closes the part file and leaves it for a later resume, ending the
// Partial. It does nothing after the Partial has ended.
func (p *Partial) Keep() error {
	if p.ended {
		return nil
	}
	p.ended = true
	defer p.closeDir()
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// mapDirErr maps errors from creating or opening the destination directory.
func mapDirErr(root *os.Root, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
		// MkdirAll reports a file in the way as EEXIST or ENOTDIR.
		return fmt.Errorf("%w: %w", ErrNotDir, err)
	}
	return mapOpenErr(root, err)
}
