package transfer

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
)

// GetOptions says where and how Get stores a file.
type GetOptions struct {
	// DestDir is the local folder, opened with os.OpenRoot. Default ".".
	DestDir string
	// Name is the local file name, one path element checked by
	// safefs.ValidateName. Default: the last element of the remote path.
	Name string
	// Stdout, if set, receives the bytes as they arrive instead of a file
	// (no partial file). They are verified only at the end: Get's error
	// says whether what was written is the file.
	Stdout io.Writer
	// Replace replaces an existing file atomically. Default: ErrExists.
	Replace bool
	// Resume continues an existing partial file after proving its prefix
	// matches the server's file; a prefix that does not match is discarded
	// and the file fetched from the start.
	Resume bool
	// Progress, if set, is called with the bytes received so far (resumed
	// bytes included) and the file size, from the receiving goroutine, at
	// most every 100 ms and once at the end.
	Progress func(done, total int64)
}

// Result describes a verified, published file.
type Result struct {
	Path      string // the local path (DestDir joined with Name); "" for Stdout
	Size      int64  // the whole file
	Resumed   int64  // bytes taken from an existing partial file
	Algorithm string // "blake3" or "sha256"
	Digest    []byte // of the whole file
	Duration  time.Duration
}

// errPrefixMismatch: the server's prefix digest differs from the partial
// file's.
var errPrefixMismatch = errors.New("the partial file does not match the server's file")

// Get fetches the regular file remotePath. With a destination folder, the
// bytes go to NAME.ferry-part, which is published under NAME only after
// the size and the digest of the whole file are verified. When Get fails,
// no file appears under NAME; the partial file is kept for a later Resume
// when the bytes in it arrived in order from the file the server announced
// (an interrupted transfer), and removed otherwise (a digest or size
// mismatch, a file that changed, an error before any byte).
func (c *Client) Get(ctx context.Context, remotePath string, opts GetOptions) (*Result, error) {
	start := time.Now()
	if err := safefs.ValidatePath(remotePath); err != nil {
		return nil, fmt.Errorf("remote path: %w", err)
	}
	if opts.Stdout != nil {
		if err := c.acquire(ctx); err != nil {
			return nil, err
		}
		defer c.release()
		res, err := c.fetch(ctx, remotePath, 0, nil, opts.Stdout, opts.Progress)
		if err != nil {
			return nil, err
		}
		res.Duration = time.Since(start)
		return res, nil
	}

	name := opts.Name
	if name == "" {
		name = path.Base(remotePath)
	}
	if err := safefs.ValidateName(name); err != nil {
		return nil, fmt.Errorf("local name: %w", err)
	}
	dir := opts.DestDir
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("destination folder: %w", err)
	}
	defer root.Close()
	local := filepath.Join(dir, name)
	if !opts.Replace {
		if _, err := root.Lstat(name); err == nil {
			return nil, fmt.Errorf("%s: %w (replace it or choose another name)", safefs.Printable(local), ErrExists)
		}
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()

	resume := opts.Resume
	for attempt := 0; ; attempt++ {
		p, err := safefs.CreatePartial(root, name, resume)
		if err != nil {
			return nil, fmt.Errorf("partial file for %s: %w", safefs.Printable(local), err)
		}
		var prefix hash.Hash
		offset := p.Size()
		if offset > 0 {
			if prefix, err = c.hashPrefix(p.File(), offset); err != nil {
				p.Keep()
				return nil, fmt.Errorf("reading the partial file: %w", err)
			}
		}
		res, file, err := c.fetchFile(ctx, remotePath, offset, prefix, p, opts.Progress)
		if errors.Is(err, errPrefixMismatch) && attempt == 0 {
			p.Discard()
			resume = false
			continue
		}
		if err != nil {
			if keepPartial(err, p.Size()) {
				p.Keep()
			} else {
				p.Discard()
			}
			return nil, err
		}
		err = p.Publish(safefs.PublishOptions{
			Replace: opts.Replace,
			Mode:    fs.FileMode(file.Mode)&0o755 | 0o600,
			ModTime: time.Unix(0, file.ModTime),
		})
		if err != nil && !p.Published() {
			// Verified bytes: keep them for a resume under another name
			// or after the existing file is moved away.
			p.Keep()
		}
		if errors.Is(err, safefs.ErrExists) {
			return nil, fmt.Errorf("%s: %w (replace it or choose another name)", safefs.Printable(local), ErrExists)
		}
		if err != nil {
			return nil, fmt.Errorf("publishing %s: %w", safefs.Printable(local), err)
		}
		res.Path = local
		res.Duration = time.Since(start)
		return res, nil
	}
}

// keepPartial decides whether a failed transfer leaves a partial file
// worth resuming.
func keepPartial(err error, size int64) bool {
	if size == 0 || errors.Is(err, ErrIntegrity) || errors.Is(err, ErrFileChanged) ||
		errors.Is(err, errPrefixMismatch) || errors.Is(err, ErrProtocol) {
		return false
	}
	return true
}

func (c *Client) hashPrefix(f *os.File, n int64) (hash.Hash, error) {
	h, err := newHash(c.alg)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, bufSize)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, n), buf); err != nil {
		return nil, err
	}
	return h, nil
}

func (c *Client) fetch(ctx context.Context, remotePath string, offset int64, prefix hash.Hash, w io.Writer, progress func(int64, int64)) (*Result, error) {
	res, _, err := c.fetchFile(ctx, remotePath, offset, prefix, w, progress)
	return res, err
}

// fetchFile runs one GET: it sends the request, opens the data stream at
// once (no round trip), checks FILE, copies exactly the announced bytes to
// w while hashing them, and checks DONE. prefix holds the digest state of
// the local bytes [0, offset).
func (c *Client) fetchFile(ctx context.Context, remotePath string, offset int64, prefix hash.Hash, w io.Writer, progress func(int64, int64)) (*Result, *wire.File, error) {
	h := prefix
	if h == nil {
		var err error
		if h, err = newHash(c.alg); err != nil {
			return nil, nil, err
		}
	}
	id, cl, err := c.start(4)
	if err != nil {
		return nil, nil, err
	}
	defer c.finish(id)
	if err := c.send(&wire.Get{ID: id, Path: remotePath, Offset: offset, Algorithm: c.alg}); err != nil {
		return nil, nil, err
	}
	st, err := c.sess.OpenStream(ctx)
	if err != nil {
		return nil, nil, c.streamError(ctx, err)
	}
	complete := false
	defer func() {
		if !complete {
			st.Abort(wire.StreamCancelled)
		}
	}()
	stop := context.AfterFunc(ctx, func() { st.Abort(wire.StreamCancelled) })
	defer stop()
	// The header announces the stream (streams are lazy); the client sends
	// nothing else on it.
	if _, err := st.Write(wire.AppendDataHeader(nil, id)); err != nil {
		return nil, nil, c.streamError(ctx, err)
	}
	// The FIN tells the server nothing else comes. It may fail when the
	// server has already sent a small file and closed the stream; what
	// matters is what the reads below see.
	st.CloseWrite()

	m, err := c.recv(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	var file *wire.File
	switch m := m.(type) {
	case *wire.File:
		file = m
	case *wire.ErrorReply:
		return nil, nil, remoteError(m)
	default:
		return nil, nil, c.violation(m)
	}
	if file.Algorithm != c.alg || file.Offset != offset {
		return nil, nil, fmt.Errorf("%w: FILE names algorithm %v and offset %d, asked for %v and %d",
			ErrProtocol, file.Algorithm, file.Offset, c.alg, offset)
	}
	if offset > 0 {
		if subtle.ConstantTimeCompare(file.PrefixDigest, h.Sum(nil)) != 1 {
			return nil, nil, errPrefixMismatch
		}
	}

	if err := c.receive(ctx, st, w, h, offset, file.Size, progress); err != nil {
		return nil, nil, err
	}
	complete = true
	st.Close()

	m, err = c.recv(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	switch m := m.(type) {
	case *wire.Done:
		sum := h.Sum(nil)
		if subtle.ConstantTimeCompare(m.Digest, sum) != 1 {
			return nil, nil, fmt.Errorf("%w: the %v digest of the received file does not match the server's", ErrIntegrity, c.alg)
		}
		return &Result{Size: file.Size, Resumed: offset, Algorithm: c.alg.String(), Digest: sum}, file, nil
	case *wire.ErrorReply:
		return nil, nil, remoteError(m)
	}
	return nil, nil, c.violation(m)
}

// receive copies [offset, size) from the data stream to w and h, and
// insists on exactly that many bytes followed by a clean end of stream.
func (c *Client) receive(ctx context.Context, st transport.Stream, w io.Writer, h hash.Hash, offset, size int64, progress func(int64, int64)) error {
	buf := make([]byte, bufSize)
	done := offset
	var last time.Time
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if int64(n) > size-done {
				return fmt.Errorf("%w: the server sent more than the announced %d bytes", ErrIntegrity, size)
			}
			h.Write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("writing the file: %w", werr)
			}
			done += int64(n)
			if progress != nil && time.Since(last) >= 100*time.Millisecond {
				progress(done, size)
				last = time.Now()
			}
		}
		if err == io.EOF {
			if done < size {
				return fmt.Errorf("%w: the server ended the data after %d of the announced %d bytes", ErrIntegrity, done, size)
			}
			if progress != nil {
				progress(done, size)
			}
			return nil
		}
		if err != nil {
			return c.streamError(ctx, err)
		}
	}
}

// streamError explains why a data stream failed.
func (c *Client) streamError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var se *transport.StreamError
	if errors.As(err, &se) && se.Remote {
		switch se.Code {
		case wire.StreamFileChanged:
			return &RemoteError{Code: wire.CodeFileChanged, Message: "file changed on the server while it was being sent"}
		case wire.StreamFailed:
			return &RemoteError{Code: wire.CodeInternal, Message: "the server could not read the file"}
		case wire.StreamRefused:
			return fmt.Errorf("%w: the server refused the data stream", ErrProtocol)
		}
	}
	select {
	case <-c.done:
		return c.err
	default:
	}
	return fmt.Errorf("data stream failed: %w", sessionError(err))
}
