package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// defaultStateDir is where "ferry serve" keeps its identity:
// $XDG_STATE_HOME/ferry, or ~/.local/state/ferry.
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ferry"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find the state folder: set --state-dir, XDG_STATE_HOME or HOME")
	}
	return filepath.Join(home, ".local", "state", "ferry"), nil
}

// defaultKnownHosts is the client's file of remembered server fingerprints:
// $XDG_CONFIG_HOME/ferry/known_hosts, or ~/.config/ferry/known_hosts.
func defaultKnownHosts() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ferry", "known_hosts"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find the config folder: set --known-hosts, XDG_CONFIG_HOME or HOME")
	}
	return filepath.Join(home, ".config", "ferry", "known_hosts"), nil
}

// remotePath tidies a PATH as people type it: "photos/" (as shells complete
// folder names) and "./photos" both mean "photos". Anything else, ".."
// included, is left for the name rule to judge.
func remotePath(p string) string {
	for strings.HasPrefix(p, "./") {
		p = strings.TrimLeft(p[2:], "/")
	}
	if trimmed := strings.TrimRight(p, "/"); trimmed != "" {
		p = trimmed
	}
	if p == "" {
		return "."
	}
	return p
}
