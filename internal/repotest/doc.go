// Package repotest holds tests that guard the whole repository rather than
// one package: every package has a doc comment, the transfer layer depends
// only on the transport interface (never on quic-go or a concrete transport),
// the toolchain is recent enough for the os.Root fixes that ferry's server
// relies on, and every link in README.md and docs/ leads to a file and a
// heading that exist. It has no code of its own; run it with go test like any
// other package.
package repotest
