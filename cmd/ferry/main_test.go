package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/ferryproject/ferry/internal/bench"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary double as the ferry command: testscript puts
// it on $PATH as "ferry", and running it under that name calls main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ferry": main,
	})
}

// TestScripts runs the end-to-end scripts in testdata/script, one behaviour
// per file. Each script starts with a comment naming what it guards.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			// Keep the client's known hosts and the server's state inside
			// the script's work directory; HOME is unusable in testscript.
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "config"))
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "race" {
				// The script runs this test binary as ferry.
				return bench.RaceBuild, nil
			}
			if cond == "ipv6" {
				ln, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					return false, nil
				}
				ln.Close()
				return true, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitaddr": cmdWaitAddr,
			"mkfile":   cmdMkfile,
			"grepfile": cmdGrepFile,
			"envfile":  cmdEnvFile,
			"waitsize": cmdWaitSize,
			"cmpfile":  cmdCmpFile,
			"filesize": cmdFileSize,
			"jsonnum":  cmdJSONNum,
		},
	})
}

// cmdWaitAddr waits for a server started in the background to write its
// address file, then sets ADDR to the address, and HOST and PORT to its
// parts: waitaddr [-v VAR] FILE.
func cmdWaitAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitaddr")
	}
	name := "ADDR"
	if len(args) == 3 && args[0] == "-v" {
		name, args = args[1], args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: waitaddr [-v VAR] FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(data), "\n") {
			addr := strings.TrimSpace(string(data))
			host, port, err := net.SplitHostPort(addr)
			ts.Check(err)
			ts.Setenv(name, addr)
			ts.Setenv(name+"_HOST", host)
			ts.Setenv(name+"_PORT", port)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no address in %s after 30s; is the server running?", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdMkfile writes a file of SIZE pseudo-random bytes: mkfile FILE SIZE.
// The content is deterministic, so failures reproduce.
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkfile FILE SIZE")
	}
	var size int64
	if _, err := fmt.Sscan(args[1], &size); err != nil {
		ts.Fatalf("bad size %q", args[1])
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	// Eight bytes per xorshift step, a buffer at a time: the scripts make
	// files of hundreds of megabytes under the race detector.
	buf := make([]byte, 1<<16)
	x := uint64(0x9e3779b97f4a7c15)
	for size > 0 {
		for i := 0; i < len(buf); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(buf[i:], x)
		}
		n := min(size, int64(len(buf)))
		_, err := f.Write(buf[:n])
		ts.Check(err)
		size -= n
	}
	ts.Check(f.Close())
}

// cmdCmpFile compares two files of any size byte for byte without loading
// them, and reports the first difference: cmpfile FILE1 FILE2. (testscript's
// cmp reads both files whole and prints a diff, useless for big binaries.)
func cmdCmpFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpfile FILE1 FILE2")
	}
	a, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer a.Close()
	b, err := os.Open(ts.MkAbs(args[1]))
	ts.Check(err)
	defer b.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, erra := io.ReadFull(a, ba)
		nb, errb := io.ReadFull(b, bb)
		n := min(na, nb)
		if i := firstDiff(ba[:n], bb[:n]); i >= 0 {
			ts.Fatalf("%s and %s differ at byte %d", args[0], args[1], off+int64(i))
		}
		off += int64(n)
		if na != nb {
			ts.Fatalf("%s and %s are equal for %d bytes, then one ends", args[0], args[1], off)
		}
		if erra != nil || errb != nil {
			for _, err := range []error{erra, errb} {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					ts.Check(err)
				}
			}
			return
		}
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// cmdFileSize sets VAR to the size of FILE in bytes: filesize VAR FILE.
func cmdFileSize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: filesize VAR FILE")
	}
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	ts.Setenv(args[0], strconv.FormatInt(fi.Size(), 10))
}

// cmdJSONNum checks a number in the JSON events of get --json (a file of
// one object per line): jsonnum FILE EVENT FIELD OP N, with OP one of =, <
// and >. FIELD may be a sum, "received+resumed"; a field left out counts as
// 0. Every event of that kind must pass, and there must be one.
func cmdJSONNum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: jsonnum FILE EVENT FIELD =|<|> N")
	}
	event, field, op := args[1], args[2], args[3]
	want, err := strconv.ParseInt(args[4], 10, 64)
	if err != nil {
		ts.Fatalf("bad number %q", args[4])
	}
	seen := 0
	for line := range strings.Lines(ts.ReadFile(args[0])) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			ts.Fatalf("not a JSON object: %q", line)
		}
		if m["event"] != event {
			continue
		}
		seen++
		var got int64
		for _, f := range strings.Split(field, "+") {
			switch v := m[f].(type) {
			case nil:
			case float64:
				got += int64(v)
			default:
				ts.Fatalf("%s: field %q is not a number: %v", event, f, v)
			}
		}
		ok := op == "=" && got == want || op == "<" && got < want || op == ">" && got > want
		if op != "=" && op != "<" && op != ">" {
			ts.Fatalf("unknown operator %q", op)
		}
		if !ok {
			ts.Fatalf("%s event: %s is %d, want %s %d", event, field, got, op, want)
		}
	}
	if seen == 0 {
		ts.Fatalf("no %s event in %s", event, args[0])
	}
}

// cmdGrepFile is "grep" for a file that another command (a background
// server) is still writing: it waits up to 10 s for PATTERN to appear.
// grepfile PATTERN FILE; with !, it checks at once that PATTERN is absent.
func cmdGrepFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: grepfile PATTERN FILE")
	}
	path := ts.MkAbs(args[1])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		data, _ := os.ReadFile(path)
		found := strings.Contains(string(data), args[0])
		if neg {
			if found {
				ts.Fatalf("%s contains %q", args[1], args[0])
			}
			return
		}
		if found {
			return
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("%q did not appear in %s within 10s:\n%s", args[0], args[1], data)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cmdEnvFile sets VAR to the content of FILE without surrounding space:
// envfile VAR FILE. With "cp stdout FILE" it captures a command's output.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdWaitSize waits up to 30 s until FILE exists and holds at least SIZE
// bytes: waitsize FILE SIZE. It lets a script act in the middle of a
// transfer, for example kill the server.
func cmdWaitSize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitsize FILE SIZE")
	}
	var size int64
	if _, err := fmt.Sscan(args[1], &size); err != nil {
		ts.Fatalf("bad size %q", args[1])
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not reach %d bytes within 30 s", args[0], size)
		}
		time.Sleep(time.Millisecond)
	}
}
