package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

const echoHelp = `Send a message to a ferry server and print its echo on stdout, or measure
round-trip times.

Usage:
  ferry echo [flags] HOST:PORT [MESSAGE]

Without MESSAGE, each line read from stdin is sent and its echo printed.

Flags:
  -n, --count N           send MESSAGE N times and print each round-trip time,
                          then min/median/max, instead of the echo

` + clientFlagsHelp + `
Examples:
  ferry echo example.org:7420 hello
  ferry echo -n 10 -t tls example.org:7420 ping
  printf 'one\ntwo\n' | ferry echo example.org:7420
`

// maxEchoLine caps a line read from stdin: the protocol caps messages too.
const maxEchoLine = 64 << 10

func echoMain(c *cli, args []string) int {
	var (
		cf    clientFlags
		count int
	)
	fs := newFlagSet("echo")
	cf.register(fs)
	fs.IntVar(&count, "n", 0, "")
	fs.IntVar(&count, "count", 0, "")
	pos, status, done := c.parse(fs, "echo", echoHelp, args)
	if done {
		return status
	}
	if len(pos) < 1 || len(pos) > 2 {
		return c.misuse("echo", usagef("echo needs a server and at most one message: ferry echo HOST:PORT [MESSAGE]"))
	}
	if err := cf.check(pos[0]); err != nil {
		return c.misuse("echo", err)
	}
	if count < 0 {
		return c.misuse("echo", usagef("-n must be positive"))
	}
	if count > 0 && len(pos) < 2 {
		return c.misuse("echo", usagef("-n needs a MESSAGE to send"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, closeClient, err := c.connect(ctx, &cf, "")
	if err != nil {
		return c.report(err)
	}
	defer closeClient()

	if len(pos) == 2 && count == 0 {
		reply, err := cl.Echo(ctx, []byte(pos[1]))
		if err != nil {
			return c.report(err)
		}
		c.stdout.Write(append(reply, '\n'))
		return exitOK
	}
	if count > 0 {
		return c.echoTimes(ctx, cl.Echo, []byte(pos[1]), count)
	}
	sc := bufio.NewScanner(c.stdin)
	sc.Buffer(make([]byte, 4096), maxEchoLine)
	for sc.Scan() {
		reply, err := cl.Echo(ctx, sc.Bytes())
		if err != nil {
			return c.report(err)
		}
		c.stdout.Write(append(reply, '\n'))
	}
	if err := sc.Err(); err != nil {
		return c.report(fmt.Errorf("read stdin: %w", err))
	}
	return exitOK
}

// echoTimes sends msg count times and prints each round-trip time, then the
// minimum, median and maximum.
func (c *cli) echoTimes(ctx context.Context, echo func(context.Context, []byte) ([]byte, error), msg []byte, count int) int {
	rtts := make([]time.Duration, 0, count)
	for i := 1; i <= count; i++ {
		start := time.Now()
		reply, err := echo(ctx, msg)
		d := time.Since(start)
		if err != nil {
			return c.report(err)
		}
		if !bytes.Equal(reply, msg) {
			return c.report(fmt.Errorf("echo %d came back different from what was sent", i))
		}
		rtts = append(rtts, d)
		fmt.Fprintf(c.stdout, "echo %d: %d bytes, %s\n", i, len(msg), formatRTT(d))
	}
	slices.Sort(rtts)
	fmt.Fprintf(c.stdout, "%d echoes: min %s, median %s, max %s\n",
		count, formatRTT(rtts[0]), formatRTT(median(rtts)), formatRTT(rtts[len(rtts)-1]))
	return exitOK
}

// median of sorted durations.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}
