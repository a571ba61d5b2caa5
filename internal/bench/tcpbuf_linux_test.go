package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/netem"
)

// TestRaiseTCPBufferMax raises tcp_wmem inside an emulated link's client
// namespace and checks that the namespace has the new maximum, the other
// two values are kept, and this process's own namespace is untouched.
func TestRaiseTCPBufferMax(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	spec, err := netem.ParseSpec("rtt=1ms")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	link, err := netem.Start(ctx, spec)
	if err != nil {
		t.Skipf("no emulated link here: %v", err)
	}
	defer link.Close()
	host := Sysctl("net/ipv4/tcp_wmem")
	var before, after string
	var want int64
	err = link.RunIn(netem.Client, func() error {
		before = Sysctl("net/ipv4/tcp_wmem")
		f := strings.Fields(before)
		cur, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return err
		}
		want = cur + 1<<20
		if _, err := RaiseTCPBufferMax("net/ipv4/tcp_wmem", want); err != nil {
			return err
		}
		after = Sysctl("net/ipv4/tcp_wmem")
		// A smaller value changes nothing.
		if got, err := RaiseTCPBufferMax("net/ipv4/tcp_wmem", 4096); err != nil || got != after {
			t.Errorf("RaiseTCPBufferMax below the maximum = %q, %v; want %q unchanged", got, err, after)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bf, af := strings.Fields(before), strings.Fields(after)
	if len(af) != 3 || af[0] != bf[0] || af[1] != bf[1] || af[2] != strconv.FormatInt(want, 10) {
		t.Errorf("tcp_wmem in the namespace: %q -> %q, want the maximum raised to %d and the rest kept", before, after, want)
	}
	if got := Sysctl("net/ipv4/tcp_wmem"); got != host {
		t.Errorf("this namespace's tcp_wmem changed: %q -> %q", host, got)
	}
}
