package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ferryproject/ferry/certs"
)

const fingerprintHelp = `Print the fingerprint of this machine's ferry server identity on stdout,
creating the identity first if there is none yet. Clients pass it to --pin.

Usage:
  ferry fingerprint [flags]

Flags:
  --state-dir DIR         where the identity is kept (default
                          $XDG_STATE_HOME/ferry, or ~/.local/state/ferry)
  --cert FILE             print the fingerprint of this certificate instead
  --hex                   print the hex form (aa:bb:…) instead of SHA256:…

Examples:
  ferry fingerprint
  ferry get --pin "$(ssh server ferry fingerprint)" server:7420 notes.txt
`

func fingerprintMain(c *cli, args []string) int {
	var (
		stateDir, certFile string
		hex                bool
	)
	fs := newFlagSet("fingerprint")
	fs.StringVar(&stateDir, "state-dir", "", "")
	fs.StringVar(&certFile, "cert", "", "")
	fs.BoolVar(&hex, "hex", false, "")
	pos, status, done := c.parse(fs, "fingerprint", fingerprintHelp, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.misuse("fingerprint", usagef("fingerprint takes no arguments"))
	}
	if stateDir != "" && certFile != "" {
		return c.misuse("fingerprint", usagef("--state-dir and --cert name two different identities: give one"))
	}
	var fp certs.Fingerprint
	if certFile != "" {
		cert, err := loadCertificate(certFile)
		if err != nil {
			return c.report(err)
		}
		fp = certs.FingerprintOf(cert)
	} else {
		id, err := c.loadIdentity(&serveFlags{stateDir: stateDir})
		if err != nil {
			return c.report(err)
		}
		fp = id.Fingerprint()
	}
	if hex {
		fmt.Fprintln(c.stdout, fp.Hex())
	} else {
		fmt.Fprintln(c.stdout, fp)
	}
	return exitOK
}

// loadCertificate reads the first certificate of a PEM file.
func loadCertificate(path string) (*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New(path + ": no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return cert, nil
		}
	}
}
