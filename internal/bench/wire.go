package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NetDevBytes returns the bytes received plus the bytes sent by every
// network interface of this process's network namespace except loopback,
// from /proc/self/net/dev. Inside the client namespace of an emulated link
// the only other interface is the link's TUN device, so the difference
// around a trial is what that trial put on the wire in both directions:
// whole IP packets, headers, handshakes, acknowledgements and
// retransmissions included.
func NetDevBytes() (int64, error) {
	f, err := os.Open("/proc/self/net/dev")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseNetDev(bufio.NewScanner(f))
}

// parseNetDev sums the receive and transmit byte counters of every
// interface but lo in the /proc/net/dev format.
func parseNetDev(sc *bufio.Scanner) (int64, error) {
	var total int64
	line := 0
	for sc.Scan() {
		line++
		if line <= 2 {
			continue // the two header lines
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return 0, fmt.Errorf("/proc/net/dev line %d: no interface name", line)
		}
		if strings.TrimSpace(name) == "lo" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 9 {
			return 0, fmt.Errorf("/proc/net/dev line %d: %d fields", line, len(fields))
		}
		for _, i := range []int{0, 8} { // receive bytes, transmit bytes
			n, err := strconv.ParseInt(fields[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/net/dev line %d: %w", line, err)
			}
			total += n
		}
	}
	return total, sc.Err()
}
