//go:build !race

package bench

import "testing"

// TestRunSetupHandshakesEarly measures QUIC's full, resumed and 0-RTT
// setups. 0-RTT opens streams while the handshake runs, which trips
// quic-go's own data race (#4303) under -race, so this runs without it
// (make test runs it in a second pass).
func TestRunSetupHandshakesEarly(t *testing.T) {
	runSetupTrials(t, "quic", "tls")
}
