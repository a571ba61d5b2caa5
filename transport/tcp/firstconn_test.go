package tcp

import (
	"context"
	"testing"
	"time"

	"github.com/ferryproject/ferry/internal/testpki"
)

// TestFirstConnWithGreetingIsUsed checks that the first stream connection,
// dialed in parallel with the session, is used for the first stream even
// when the server's greeting (and, on TLS 1.3, its session tickets) has
// already arrived on it. Unread bytes mean a dead connection only on a
// connection that was used before and is idle; taking them for that on a
// fresh one threw it away and dialed another, two round trips more
// (seen on resumed TLS sessions in ferry bench).
func TestFirstConnWithGreetingIsUsed(t *testing.T) {
	pki := testpki.New(t)
	client, err := NewTLS(pki.ClientTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := NewTLS(pki.ServerTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		if s, err := ln.Accept(ctx); err == nil {
			<-s.Context().Done()
		}
	}()
	sess, err := client.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sess.CloseWithError(0, "")
	s := sess.(*session)

	// Wait until the first connection is adopted and the server's bytes
	// are waiting on it.
	var first *streamConn
	for first == nil {
		s.mu.Lock()
		if len(s.idle) == 1 && s.idle[0].br.Buffered() == 0 && s.idle[0].stale() {
			first = s.idle[0]
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			t.Fatal("the first stream connection never showed the server's greeting")
		}
		time.Sleep(2 * time.Millisecond)
	}
	st, err := sess.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.(*stream).sc; got != first {
		t.Error("OpenStream discarded the fresh first connection as stale and dialed another")
	}
}

func TestLingerPoll(t *testing.T) {
	for _, c := range []struct {
		rttMicros uint32
		want      time.Duration
	}{
		{0, time.Millisecond},                   // unknown RTT: the floor
		{100, time.Millisecond},                 // loopback
		{40_000, 10 * time.Millisecond},         // 40 ms: a quarter
		{600_000, 100 * time.Millisecond},       // satellite: the ceiling
		{4_000_000_000, 100 * time.Millisecond}, // absurd: the ceiling
	} {
		if got := lingerPoll(c.rttMicros); got != c.want {
			t.Errorf("lingerPoll(%d µs) = %v, want %v", c.rttMicros, got, c.want)
		}
	}
}
