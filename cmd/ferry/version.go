package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionHelp = `Print ferry's version, the Go version it was built with, and the platform.

Usage:
  ferry version

Example:
  $ ferry version
  ferry v0.1.0 (go1.26.8 linux/amd64)
`

func versionMain(c *cli, args []string) int {
	fs := newFlagSet("version")
	pos, status, done := c.parse(fs, "version", versionHelp, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.misuse("version", usagef("version takes no arguments"))
	}
	fmt.Fprintf(c.stdout, "ferry %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// version is the module version ferry was built from: a release tag when
// installed with "go install …@version", "devel" when built from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
