package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transfer"
)

const lsHelp = `List a folder on a ferry server: one name per line on stdout, folders with a
trailing "/".

Usage:
  ferry ls [flags] HOST:PORT [PATH]

PATH is relative to the folder the server shares; without it, ls lists that
folder itself. A PATH that names a file lists that file.

Flags:
  -l, --long              also print each entry's mode, size (in KiB, MiB...)
                          and modification time (local time)
  --json                  print one JSON object per entry on stdout:
                          {"name","type","size","mode","mtime"} (see docs/cli.md)

` + clientFlagsHelp + `
Examples:
  ferry ls example.org:7420
  ferry ls -l -t tls example.org:7420 photos
`

func lsMain(c *cli, args []string) int {
	var (
		cf       clientFlags
		long     bool
		jsonList bool
	)
	fs := newFlagSet("ls")
	cf.register(fs)
	fs.BoolVar(&long, "l", false, "")
	fs.BoolVar(&long, "long", false, "")
	fs.BoolVar(&jsonList, "json", false, "")
	pos, status, done := c.parse(fs, "ls", lsHelp, args)
	if done {
		return status
	}
	if len(pos) < 1 || len(pos) > 2 {
		return c.misuse("ls", usagef("ls needs a server and at most one path: ferry ls HOST:PORT [PATH]"))
	}
	if err := cf.check(pos[0]); err != nil {
		return c.misuse("ls", err)
	}
	path := "."
	if len(pos) == 2 {
		path = remotePath(pos[1])
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, closeClient, err := c.connect(ctx, &cf, "")
	if err != nil {
		return c.report(err)
	}
	defer closeClient()

	entries, err := cl.List(ctx, path)
	if err != nil {
		// Like ls(1), a file lists itself: the server's FIND names a path
		// without wildcards as it is.
		if e, ok := lsFile(ctx, cl, path, err); ok {
			entries = []transfer.Entry{e}
		} else {
			return c.report(fmt.Errorf("%s: %w", path, err))
		}
	}
	if jsonList {
		enc := json.NewEncoder(c.stdout)
		enc.SetEscapeHTML(false)
		for _, e := range entries {
			enc.Encode(lsEntry{
				Name: e.Name, Type: e.Type.String(), Size: e.Size,
				Mode: fmt.Sprintf("%04o", uint32(e.Mode.Perm())), Mtime: e.ModTime.UTC().Format(time.RFC3339Nano),
			})
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	now := time.Now()
	for _, e := range entries {
		name := safefs.Printable(e.Name)
		if e.IsDir {
			name += "/"
		}
		if !long {
			fmt.Fprintln(c.stdout, name)
			continue
		}
		size := "-"
		if e.Type == wire.EntryFile {
			size = formatSize(e.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", typeMode(e.Type, e.Mode), size, formatTime(e.ModTime, now), name)
	}
	if err := tw.Flush(); err != nil {
		return c.report(err)
	}
	return exitOK
}

// lsEntry is one line of "ferry ls --json"; the field names are stable.
type lsEntry struct {
	Name  string `json:"name"`
	Type  string `json:"type"` // file, dir, symlink, other
	Size  int64  `json:"size"` // bytes, for files
	Mode  string `json:"mode"` // octal permission bits, "0644"
	Mtime string `json:"mtime"`
}

// typeMode prints an entry's type and permissions as ls -l does:
// "-rw-r--r--", "drwxr-xr-x", "lrwxrwxrwx".
func typeMode(t wire.EntryType, mode fs.FileMode) string {
	s := []byte(mode.Perm().String()) // "-rwxr-xr-x"
	switch t {
	case wire.EntryDir:
		s[0] = 'd'
	case wire.EntrySymlink:
		s[0] = 'l'
	case wire.EntryOther:
		s[0] = '?'
	}
	return string(s)
}

// formatTime prints a modification time as ls does: month, day and time
// within the last six months, month, day and year otherwise.
func formatTime(t, now time.Time) string {
	t = t.Local()
	if d := now.Sub(t); d < 182*24*time.Hour && d > -24*time.Hour {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

// lsFile looks up path as a single entry when listing it failed because it
// is not a folder. The entry's name is the path as given, as ls(1) prints
// it.
func lsFile(ctx context.Context, cl *transfer.Client, path string, listErr error) (transfer.Entry, bool) {
	if !errors.Is(listErr, transfer.ErrBadRequest) || strings.ContainsAny(path, "*?[\\") {
		return transfer.Entry{}, false
	}
	found, err := cl.Glob(ctx, path)
	if err != nil || len(found) != 1 || found[0].Type == wire.EntryDir {
		return transfer.Entry{}, false
	}
	e := found[0]
	return transfer.Entry{Name: path, Type: e.Type, Size: e.Size, ModTime: e.ModTime, Mode: e.Mode}, true
}
