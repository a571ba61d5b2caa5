package transfer

import (
	"errors"
	"io/fs"
	"os"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// listDir lists the directory p ("" is the root) beneath root as wire
// entries, and counts the entries left out because their names break the
// name rule.
//
// TODO(safefs): switch to safefs.ReadDir once it lands; this stand-in
// follows the same rules (validated path, os.Root, names checked).
func listDir(root *os.Root, p string) ([]wire.Entry, int, error) {
	name := "."
	if p != "" {
		if err := safefs.ValidatePath(p); err != nil {
			return nil, 0, err
		}
		name = p
	}
	d, err := root.Open(name)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, 0, safefs.ErrNotFound
		case errors.Is(err, fs.ErrPermission):
			return nil, 0, safefs.ErrAccessDenied
		}
		return nil, 0, safefs.ErrAccessDenied
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.IsDir() {
		return nil, 0, safefs.ErrNotDir
	}
	des, err := d.ReadDir(-1)
	if err != nil {
		return nil, 0, err
	}
	out := make([]wire.Entry, 0, len(des))
	skipped := 0
	for _, de := range des {
		if safefs.ValidateName(de.Name()) != nil {
			skipped++
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // vanished since ReadDir
		}
		out = append(out, entryOf(de.Name(), info))
	}
	return out, skipped, nil
}

func entryOf(name string, fi fs.FileInfo) wire.Entry {
	e := wire.Entry{Name: name, ModTime: fi.ModTime().UnixNano(), Mode: fileMode(fi.Mode())}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type, e.Size = wire.EntryFile, fi.Size()
	case m.IsDir():
		e.Type = wire.EntryDir
	case m&fs.ModeSymlink != 0:
		e.Type = wire.EntrySymlink
	default:
		e.Type = wire.EntryOther
	}
	return e
}
