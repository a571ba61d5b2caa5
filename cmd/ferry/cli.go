package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Exit statuses, as documented in docs/cli.md.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitMisuse  = 2 // the command line is wrong; nothing was done
)

// cli carries the program's standard streams. Every diagnostic goes to
// stderr in the form "ferry: error: …", "ferry: warning: …" or
// "ferry: hint: …"; stdout carries only data.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "ferry: error: "+format+"\n", args...)
}

func (c *cli) warnf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "ferry: warning: "+format+"\n", args...)
}

func (c *cli) hint(format string, args ...any) {
	fmt.Fprintf(c.stderr, "ferry: hint: "+format+"\n", args...)
}

func (c *cli) infof(format string, args ...any) {
	fmt.Fprintf(c.stderr, "ferry: "+format+"\n", args...)
}

// stderrIsTerminal reports whether stderr is an interactive terminal with a
// known width, which is when progress bars are drawn. A terminal that
// reports no width (a pseudo-terminal nobody sized, as under script(1)
// without a terminal of its own) gets plain lines: bars cannot be laid out
// there.
func (c *cli) stderrIsTerminal() bool {
	f, ok := c.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err == nil && width > 0
}

// usageError reports a wrong command line: exit status 2, and nothing done.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// misuse prints a usage error for command name and returns exitMisuse.
func (c *cli) misuse(name string, err error) int {
	c.errorf("%v", err)
	c.hint(`run "ferry %s --help" for usage`, name)
	return exitMisuse
}

// newFlagSet returns a flag set that reports errors to the caller instead of
// printing them: parse prints them in ferry's own format.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args with fs and returns the positional arguments. Unlike
// flag.Parse it accepts flags after positional arguments too
// ("ferry get HOST:PORT file -o out"), until a "--" that ends the flags.
//
// On --help it prints help to stdout and returns done with exitOK; on a bad
// flag it prints the error and returns done with exitMisuse.
func (c *cli) parse(fs *flag.FlagSet, name, help string, args []string) (pos []string, status int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, help)
			return nil, exitOK, true
		}
		if err != nil {
			return nil, c.misuse(name, err), true
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, false
		}
		if len(rest) == 0 {
			return pos, 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stringList is a flag.Value for a comma-separated list, such as
// --transports tls,quic.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

func (c *cli) mainUsage(w io.Writer) {
	fmt.Fprint(w, `ferry fetches files securely over QUIC, TLS 1.3 or plain TCP.

Usage:
  ferry COMMAND [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Examples:
  ferry serve ~/shared                          serve a folder on port 7420 (TLS and QUIC)
  ferry get example.org:7420 photos/cat.jpg     fetch a file over QUIC
  ferry get -t tls example.org:7420 a.txt b.txt fetch two files over TLS

Run "ferry COMMAND --help" for a command's flags. Full reference: docs/cli.md.
`)
}

func helpMain(c *cli, args []string) int {
	if len(args) == 0 {
		c.mainUsage(c.stdout)
		return exitOK
	}
	if len(args) > 1 {
		return c.misuse("help", usagef("help takes one command name, got %d", len(args)))
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] && cmd.name != "help" {
			return cmd.main(c, []string{"--help"})
		}
	}
	c.errorf("unknown command %q", args[0])
	c.hint(`run "ferry --help" for the list of commands`)
	return exitMisuse
}
