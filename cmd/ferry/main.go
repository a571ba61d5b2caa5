// Command ferry fetches files securely over plain TCP, TLS 1.3 or QUIC, and
// serves a folder to ferry clients.
//
// Usage:
//
//	ferry serve [flags] ROOT              serve the files beneath ROOT
//	ferry get [flags] HOST:PORT PATH...   fetch files, verified end to end
//	ferry ls [flags] HOST:PORT [PATH]     list a folder on the server
//	ferry echo [flags] HOST:PORT [MSG]    echo a message, or time round trips
//	ferry fingerprint                     print the server identity's fingerprint
//	ferry certs ca|server|client          make a CA and issue certificates
//	ferry version                         print the version
//
// Run "ferry COMMAND --help" for the flags of a command, and see docs/cli.md
// for the full reference: output rules, exit codes and file locations.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// A command is one ferry subcommand. Its main function gets the arguments
// after the command's name and returns the process exit status.
type command struct {
	name    string
	summary string
	main    func(c *cli, args []string) int
}

// commands lists the subcommands in the order "ferry --help" shows them.
// It is a function rather than a package variable so that the help command
// can refer to the list without an initialization cycle.
func commands() []command {
	return []command{
		{"serve", "serve the files beneath a folder", serveMain},
		{"get", "fetch files from a server, verified end to end", getMain},
		{"ls", "list a folder on a server", lsMain},
		{"echo", "send a message and print the server's echo, or time round trips", echoMain},
		{"fingerprint", "print the fingerprint of this machine's server identity", fingerprintMain},
		{"certs", "make a certificate authority and issue server and client certificates", certsMain},
		{"bench", "compare TCP, TLS and QUIC: setup, echo, bulk, small and parallel fetches", benchMain},
		{"version", "print ferry's version", versionMain},
		{"help", "show help for a command", helpMain},
	}
}

// run is the whole program with its environment passed in, so that tests can
// call it. It returns the exit status: 0 success, 1 failure, 2 misuse.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		c.mainUsage(stderr)
		return exitMisuse
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		c.mainUsage(stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.main(c, args[1:])
		}
	}
	c.errorf("unknown command %q", name)
	c.hint(`run "ferry --help" for the list of commands`)
	return exitMisuse
}
