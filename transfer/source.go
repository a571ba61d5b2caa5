package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/ferryproject/ferry/internal/benchdata"
	"github.com/ferryproject/ferry/internal/safefs"
)

// source is what a Server serves: a folder (rootSource) or the synthetic
// bench tree (benchSource). Paths are slash-separated and relative, "" for
// the root; every method validates its path with the name rule first.
// Errors are those of safefs, so that both map to the same replies:
// *safefs.NameError, safefs.ErrNotFound, ErrNotRegular, ErrNotDir,
// ErrAccessDenied. Safe for concurrent use.
type source interface {
	// openRegular opens the regular file p for reading, with the FileInfo
	// of what was opened.
	openRegular(p string) (servedFile, fs.FileInfo, error)
	// readDir lists the folder p as safefs.ReadDir does.
	readDir(p string) ([]safefs.Entry, int, error)
	// lstat describes the entry p as safefs.Lstat does.
	lstat(p string) (safefs.Entry, error)
	close() error
}

// servedFile is an open file being served. ReadAt reads as io.ReaderAt
// does, io.EOF past the end; Stat describes the file now, so that a change
// while it was sent shows.
type servedFile interface {
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

var (
	_ servedFile = (*os.File)(nil)
	_ source     = rootSource{}
	_ source     = benchSource{}
)

// rootSource serves the files beneath a folder, through os.Root and the
// checks of package safefs.
type rootSource struct {
	root *os.Root
	open safefs.OpenOptions
}

func (r rootSource) openRegular(p string) (servedFile, fs.FileInfo, error) {
	f, fi, err := r.open.OpenRegular(r.root, p)
	if err != nil {
		return nil, nil, err // not a typed nil *os.File in the interface
	}
	return f, fi, nil
}

func (r rootSource) readDir(p string) ([]safefs.Entry, int, error) { return safefs.ReadDir(r.root, p) }
func (r rootSource) lstat(p string) (safefs.Entry, error)          { return safefs.Lstat(r.root, p) }
func (r rootSource) close() error                                  { return r.root.Close() }

// benchSource serves the synthetic, read-only tree of package benchdata:
// generated on the fly, nothing read from or written to a disk.
type benchSource struct{}

func (benchSource) openRegular(p string) (servedFile, fs.FileInfo, error) {
	if err := safefs.ValidatePath(p); err != nil {
		return nil, nil, err
	}
	f, err := benchdata.Open(p)
	if err != nil {
		return nil, nil, benchError(p, err)
	}
	sf := benchFile{f}
	fi, _ := sf.Stat()
	return sf, fi, nil
}

func (benchSource) readDir(p string) ([]safefs.Entry, int, error) {
	if p != "" && p != "." {
		if err := safefs.ValidatePath(p); err != nil {
			return nil, 0, err
		}
	}
	es, err := benchdata.ReadDir(p)
	if err != nil {
		return nil, 0, benchError(p, err)
	}
	out := make([]safefs.Entry, len(es))
	for i, e := range es {
		out[i] = benchEntry(e)
	}
	return out, 0, nil
}

func (benchSource) lstat(p string) (safefs.Entry, error) {
	if err := safefs.ValidatePath(p); err != nil {
		return safefs.Entry{}, err
	}
	e, err := benchdata.Stat(p)
	if err != nil {
		return safefs.Entry{}, benchError(p, err)
	}
	return benchEntry(e), nil
}

func (benchSource) close() error { return nil }

func benchError(p string, err error) error {
	switch {
	case errors.Is(err, benchdata.ErrNotFound):
		return fmt.Errorf("%w: %s", safefs.ErrNotFound, safefs.Printable(p))
	case errors.Is(err, benchdata.ErrNotDir):
		return fmt.Errorf("%w: %s is a file", safefs.ErrNotDir, safefs.Printable(p))
	case errors.Is(err, benchdata.ErrIsDir):
		return fmt.Errorf("%w: %s is a folder", safefs.ErrNotRegular, safefs.Printable(p))
	}
	return err
}

// The synthetic tree is read-only: files 0444, folders 0555.
const (
	benchFileMode = 0o444
	benchDirMode  = fs.ModeDir | 0o555
)

func benchEntry(e benchdata.Entry) safefs.Entry {
	if e.Dir {
		return safefs.Entry{Name: e.Name, Type: safefs.Dir, ModTime: benchdata.ModTime, Mode: benchDirMode}
	}
	return safefs.Entry{Name: e.Name, Type: safefs.File, Size: e.Size, ModTime: benchdata.ModTime, Mode: benchFileMode}
}

// benchFile is an open synthetic file.
type benchFile struct{ *benchdata.File }

func (f benchFile) Close() error { return nil }

func (f benchFile) Stat() (fs.FileInfo, error) { return benchInfo{f.File}, nil }

// benchInfo is the fs.FileInfo of a synthetic file.
type benchInfo struct{ f *benchdata.File }

func (i benchInfo) Name() string       { return path.Base(i.f.Name()) }
func (i benchInfo) Size() int64        { return i.f.Size() }
func (i benchInfo) Mode() fs.FileMode  { return benchFileMode }
func (i benchInfo) ModTime() time.Time { return benchdata.ModTime }
func (i benchInfo) IsDir() bool        { return false }
func (i benchInfo) Sys() any           { return nil }
