package netem

import (
	"os"
	"testing"
	"time"
)

// BenchmarkForwarderTCP measures the most the forwarder carries: one bulk
// TCP transfer from the client to the server namespace with no rate cap.
// On a 2-core machine the forwarder, the two TCP stacks and the copying
// test share the cores. Run with:
//
//	go test -run '^$' -bench Forwarder -benchtime 5x ./internal/netem/
func BenchmarkForwarderTCP(b *testing.B) {
	lan, _ := Profile("lan")
	for _, spec := range []Spec{{}, {RTT: 2 * time.Millisecond}, lan} {
		b.Run(spec.String(), func(b *testing.B) {
			if os.Geteuid() != 0 {
				b.Skip("netem: needs root")
			}
			l, err := Start(b.Context(), spec)
			if err != nil {
				b.Skip(err)
			}
			defer l.Close()
			const size = 256 << 20
			b.SetBytes(size)
			var total time.Duration
			for b.Loop() {
				total += transfer(b, l, size)
			}
			b.ReportMetric(float64(size)*8*float64(b.N)/total.Seconds()/1e6, "mbit/s")
			st := l.Stats().ClientToServer
			b.ReportMetric(float64(st.QueueDrops)/float64(st.Packets)*100, "%dropped")
		})
	}
}
