package transfer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ferryproject/ferry/transport"
)

// readerStream is a data stream whose bytes come from r; receive only reads.
type readerStream struct {
	transport.Stream
	r io.Reader
}

func (s readerStream) Read(p []byte) (int, error) { return s.r.Read(p) }

func (readerStream) SetReadDeadline(time.Time) error { return nil }

// signalWriter reports the first bytes written to it on got.
type signalWriter struct {
	bytes.Buffer
	got chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if w.Len() == 0 && len(p) > 0 {
		close(w.got)
	}
	return w.Buffer.Write(p)
}

// countingWriter counts the calls to Write.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

// A file that fits in the buffer is written (and hashed) in one call,
// however many reads it arrives in.
func TestReceiveSmallFileOneWrite(t *testing.T) {
	data := bytes.Repeat([]byte("ferry"), 64<<10/5)
	var w countingWriter
	h := sha256.New()
	c := &Client{done: make(chan struct{}), stall: DefaultStallTimeout}
	st := readerStream{r: &chunkReader{r: bytes.NewReader(data), n: 1000}}
	if err := c.receive(testContext(t), st, &w, h, 0, int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	if w.calls != 1 || !bytes.Equal(w.Bytes(), data) {
		t.Errorf("%d writes of %d bytes in all; want one of the %d sent", w.calls, w.Len(), len(data))
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the digest does not cover exactly the bytes written")
	}
}

// chunkReader returns at most n bytes per Read, as a stream of records does.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// Bytes of a file larger than the buffer reach the writer as they arrive,
// not once the buffer is full (ferry get -o - on a slow link): the server
// here sends the rest only once the first part has been written.
func TestReceiveLargeFileDeliversAsItArrives(t *testing.T) {
	ctx := testContext(t)
	data := bytes.Repeat([]byte("ferry"), bufSize/5+1000)
	first := data[:1000]
	pr, pw := io.Pipe()
	w := &signalWriter{got: make(chan struct{})}
	go func() {
		pw.Write(first)
		select {
		case <-w.got:
			pw.Write(data[len(first):])
			pw.Close()
		case <-ctx.Done():
			pw.CloseWithError(errors.New("the first bytes were never written"))
		}
	}()
	h := sha256.New()
	c := &Client{done: make(chan struct{}), stall: DefaultStallTimeout}
	if err := c.receive(ctx, readerStream{r: pr}, w, h, 0, int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), data) {
		t.Errorf("wrote %d bytes, want the %d sent", w.Len(), len(data))
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the digest does not cover exactly the bytes written")
	}
}

// receive refuses a byte more than announced, even when it arrives in the
// same read as the last announced ones.
func TestReceiveRefusesExtraBytes(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 100)
	var w bytes.Buffer
	c := &Client{done: make(chan struct{}), stall: DefaultStallTimeout}
	err := c.receive(testContext(t), readerStream{r: bytes.NewReader(data)}, &w, sha256.New(), 0, 99, nil)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("receive: %v, want ErrIntegrity", err)
	}
}
