package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ferryproject/ferry/certs"
)

const certsHelp = `Make a small certificate authority and issue certificates with it, for
servers that clients verify with --ca, and for clients that a server admits
with --client-ca (mutual TLS). Keys are written with mode 0600 and never
overwritten. The fingerprint of what was made is printed on stdout.

Usage:
  ferry certs ca     [--ca-dir DIR]
  ferry certs server [--ca-dir DIR] [--out DIR] [--name NAME] HOST...
  ferry certs client [--ca-dir DIR] [--out DIR] NAME

Commands:
  ca      create a CA: DIR/ca.crt (give it to clients and servers) and
          DIR/ca.key (keep it secret)
  server  issue a server certificate for the names and IP addresses HOST...,
          written to OUT/NAME.crt and OUT/NAME.key (NAME defaults to "server")
  client  issue a client certificate for NAME, written to OUT/NAME.crt and
          OUT/NAME.key

Flags:
  --ca-dir DIR            the CA's folder (default $XDG_STATE_HOME/ferry/ca, or
                          ~/.local/state/ferry/ca)
  --out DIR               where issued certificates go (default: current folder)
  --name NAME             file name for a server certificate (default "server")

Example:
  ferry certs ca --ca-dir ./ca
  ferry certs server --ca-dir ./ca files.example.org 192.0.2.7
  ferry certs client --ca-dir ./ca alice
  ferry serve --cert server.crt --key server.key --client-ca ca/ca.crt /srv/files
  ferry get --ca ca/ca.crt --cert alice.crt --key alice.key files.example.org:7420 a.txt
`

// plainName matches the file names certs accepts for issued certificates.
var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func certsMain(c *cli, args []string) int {
	var caDir, out, name string
	fs := newFlagSet("certs")
	fs.StringVar(&caDir, "ca-dir", "", "")
	fs.StringVar(&out, "out", ".", "")
	fs.StringVar(&name, "name", "", "")
	pos, status, done := c.parse(fs, "certs", certsHelp, args)
	if done {
		return status
	}
	if len(pos) == 0 {
		return c.misuse("certs", usagef("certs needs a command: ca, server or client"))
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "ca":
		if len(rest) > 0 {
			return c.misuse("certs", usagef("certs ca takes no arguments"))
		}
		if name != "" || out != "." {
			return c.misuse("certs", usagef("certs ca writes ca.crt and ca.key to --ca-dir; --out and --name are for server and client"))
		}
	case "server":
		if len(rest) == 0 {
			return c.misuse("certs", usagef("certs server needs the host names or IP addresses clients will dial"))
		}
		if name == "" {
			name = "server"
		}
	case "client":
		if len(rest) != 1 {
			return c.misuse("certs", usagef("certs client needs exactly one NAME"))
		}
		if name != "" {
			return c.misuse("certs", usagef("certs client takes its NAME as an argument, not --name"))
		}
		name = rest[0]
	default:
		return c.misuse("certs", usagef("unknown certs command %q: choose ca, server or client", sub))
	}
	if name != "" && !plainName.MatchString(name) {
		return c.misuse("certs", usagef("name %q must be a plain file name: letters, digits, '.', '_' and '-'", name))
	}

	if caDir == "" {
		state, err := defaultStateDir()
		if err != nil {
			return c.report(err)
		}
		caDir = filepath.Join(state, "ca")
	}
	if sub == "ca" {
		ca, err := certs.CreateCA(caDir)
		if err != nil {
			return c.report(err)
		}
		c.infof("created CA certificate %s and key %s", ca.CertFile, filepath.Join(caDir, certs.CAKeyFile))
		fmt.Fprintln(c.stdout, ca.Fingerprint())
		return exitOK
	}

	ca, err := certs.LoadCA(caDir)
	if err != nil {
		c.report(err)
		if os.IsNotExist(err) {
			c.hint(`create a CA first with "ferry certs ca --ca-dir %s"`, caDir)
		}
		return exitFailure
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return c.report(err)
	}
	var issued *certs.Issued
	if sub == "server" {
		issued, err = ca.IssueServer(out, name, rest)
	} else {
		issued, err = ca.IssueClient(out, name)
	}
	if err != nil {
		return c.report(err)
	}
	c.infof("issued %s certificate %s and key %s", sub, issued.CertFile, issued.KeyFile)
	fmt.Fprintln(c.stdout, issued.Fingerprint)
	return exitOK
}
