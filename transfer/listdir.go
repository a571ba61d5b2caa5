package transfer

import (
	"io/fs"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// listDir lists the directory p ("" is the root) of src as wire entries,
// with the number of entries left out because their names break the name
// rule.
func listDir(src source, p string) ([]wire.Entry, int, error) {
	entries, skipped, err := src.readDir(p)
	if err != nil {
		return nil, 0, err
	}
	out := make([]wire.Entry, len(entries))
	for i, e := range entries {
		out[i] = wire.Entry{Name: e.Name, Size: e.Size, ModTime: e.ModTime.UnixNano(), Mode: fileMode(e.Mode)}
		switch e.Type {
		case safefs.File:
			out[i].Type = wire.EntryFile
		case safefs.Dir:
			out[i].Type = wire.EntryDir
		case safefs.Symlink:
			out[i].Type = wire.EntrySymlink
		default:
			out[i].Type, out[i].Size = wire.EntryOther, 0
		}
	}
	return out, skipped, nil
}

func fileMode(m fs.FileMode) uint32 { return uint32(m.Perm()) }
