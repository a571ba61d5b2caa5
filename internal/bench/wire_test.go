package bench

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 91562737169 8395472    0    0    0     0          0         0 91562737169 8395472    0    0    0     0       0          0
ferry0:    1000      10    0    0    0     0          0         0     2500      20    0    0    0     0       0          0
  eth0:      30       1    0    0    0     0          0         0        7       1    0    0    0     0       0          0
`
	got, err := parseNetDev(bufio.NewScanner(strings.NewReader(dev)))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1000 + 2500 + 30 + 7); got != want {
		t.Errorf("parseNetDev = %d, want %d (every interface but lo, both directions)", got, want)
	}
	if _, err := parseNetDev(bufio.NewScanner(strings.NewReader("a\nb\nbroken line\n"))); err == nil {
		t.Error("a line without an interface name was accepted")
	}
}

func TestNetDevBytes(t *testing.T) {
	if _, err := NetDevBytes(); err != nil {
		t.Skipf("no /proc/self/net/dev here: %v", err)
	}
}
