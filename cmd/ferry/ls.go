package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/ferryproject/ferry/internal/safefs"
)

const lsHelp = `List a folder on a ferry server: one name per line on stdout, folders with a
trailing "/".

Usage:
  ferry ls [flags] HOST:PORT [PATH]

PATH is relative to the folder the server shares; without it, ls lists that
folder itself.

Flags:
  -l, --long              also print each entry's size and modification time

` + clientFlagsHelp + `
Examples:
  ferry ls example.org:7420
  ferry ls -l -t tls example.org:7420 photos
`

func lsMain(c *cli, args []string) int {
	var (
		cf   clientFlags
		long bool
	)
	fs := newFlagSet("ls")
	cf.register(fs)
	fs.BoolVar(&long, "l", false, "")
	fs.BoolVar(&long, "long", false, "")
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
		path = pos[1]
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
		return c.report(fmt.Errorf("%s: %w", path, err))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
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
		if !e.IsDir {
			size = fmt.Sprint(e.Size)
		}
		fmt.Fprintf(tw, "%s\t  %s\t  %s\n", size, e.ModTime.Format("2006-01-02 15:04"), name)
	}
	if err := tw.Flush(); err != nil {
		return c.report(err)
	}
	return exitOK
}
