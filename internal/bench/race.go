//go:build race

package bench

// RaceBuild reports a binary built with -race. See Handshakes.
const RaceBuild = true
