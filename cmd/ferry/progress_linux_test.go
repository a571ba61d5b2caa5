package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferryproject/ferry/transfer"
)

// openPTY opens a pseudo-terminal of cols columns (0: a terminal nobody
// sized) and returns its two ends.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// On a terminal every "fetched" line and the summary reach the screen, the
// last file's too (it is written after the last frame of the bars), and a
// terminal without a size gets the lines without bars.
func TestProgressLinesOnATerminal(t *testing.T) {
	for _, cols := range []uint16{100, 0} {
		t.Run(fmt.Sprintf("cols=%d", cols), func(t *testing.T) {
			master, slave := openPTY(t, cols)
			var out bytes.Buffer
			read := make(chan struct{})
			go func() {
				io.Copy(&out, master) // ends with EIO once the slave is closed
				close(read)
			}()
			c := &cli{stdout: io.Discard, stderr: slave}
			r := newTextReporter(c, false, false, "out")
			if bars := r.prog != nil; bars != (cols > 0) {
				t.Errorf("bars drawn: %v, want %v", bars, cols > 0)
			}
			const size = 3 << 20
			r.plan(2*size, 2)
			for _, name := range []string{"a.bin", "b.bin"} {
				it := transfer.Item{Remote: name, Local: name}
				r.event(transfer.Event{Kind: transfer.EventStart, Item: it})
				for done := int64(0); done <= size; done += size / 4 {
					r.event(transfer.Event{Kind: transfer.EventProgress, Item: it, Done: done, Total: size})
					time.Sleep(barDelay / 3) // frames are drawn, and the file gets a bar
				}
				res := &transfer.Result{Path: "out/" + name, Size: size, Received: size, Algorithm: "blake3", Duration: time.Second}
				r.event(transfer.Event{Kind: transfer.EventDone, Item: it, Result: res})
			}
			if status := r.summary(transfer.Summary{Files: 2, Bytes: 2 * size, Received: 2 * size, Duration: 2 * time.Second}, nil); status != exitOK {
				t.Errorf("exit status %d", status)
			}
			slave.Close()
			<-read
			// The bars themselves: the total, and a file's once it has been
			// in flight barDelay.
			drewBars := strings.Contains(out.String(), "total (2 files)") && regexp.MustCompile(`b\.bin +\[`).MatchString(out.String())
			if drewBars != (cols > 0) {
				t.Errorf("bars on the terminal: %v, want %v", drewBars, cols > 0)
			}
			for _, want := range []string{
				"fetched a.bin → out/a.bin (3 MiB, 3.1 MB/s, blake3 verified)",
				"fetched b.bin → out/b.bin (3 MiB, 3.1 MB/s, blake3 verified)",
				"ferry: 2 of 2 files fetched and verified; 6 MiB received in 2.0 s (3.1 MB/s)",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the terminal never showed %q; it got:\n%q", want, out.String())
				}
			}
		})
	}
}
