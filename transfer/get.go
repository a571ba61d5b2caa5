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
	// Name is the local path beneath DestDir: one path element, or a
	// slash-separated relative path whose folders are created as needed,
	// checked by safefs.ValidatePath. Default: the last element of the
	// remote path.
	Name string
	// Stdout, if set, receives the bytes as they arrive instead of a file
	// (no partial file). They are verified only at the end: Get's error
	// says whether what was written is the file.
	Stdout io.Writer
	// Replace replaces an existing, different file atomically, once the
	// new one is verified. Default: ErrExists.
	Replace bool
	// SkipIdentical checks an existing regular file at Name against the
	// server's by digest (the server hashes its file; only the digest
	// travels) and, when they are identical, transfers nothing and
	// returns a Result with Identical set, whatever Replace says.
	SkipIdentical bool
	// Expected, when known (from Glob or Tree), lets SkipIdentical skip
	// the digest check of a local file whose size differs.
	Expected *TreeEntry
	// Resume continues an existing partial file after proving its prefix
	// matches the server's file; a prefix that does not match is discarded
	// and the file fetched from the start (Result.Restarted).
	Resume bool
	// NoSync publishes the file without waiting for it to reach the disk
	// (safefs.PublishOptions.NoSync), as cp and rsync do: faster for many
	// small files, but a crash of the system (not of the process) soon
	// after may leave the file empty or short under its name. Default:
	// the file's bytes are durable before it gets its name, and the name
	// before Get returns.
	NoSync bool
	// Progress, if set, is called with the bytes received so far (resumed
	// bytes included) and the file size, from the receiving goroutine: once
	// as the data begins (with the resumed bytes), then at most every
	// 100 ms, and once at the end, also when the transfer fails.
	Progress func(done, total int64)

	// dest, when set (by GetBatch), holds DestDir and its folders open
	// across many Gets, and sharedSync makes the files of the batch
	// durable with shared file-system syncs (safefs.PublishOptions).
	dest       *safefs.Dest
	sharedSync bool
	// slots, when set (by GetBatch), bounds the batch's GETs in flight on
	// the network; a file waiting for its sync holds none. onSlot, when
	// set, is called each time the file's GET has taken its slots.
	slots  chan struct{}
	onSlot func()
}

// Result describes a verified, published file.
type Result struct {
	Path      string // the local path (DestDir joined with Name); "" for Stdout
	Size      int64  // the whole file
	Resumed   int64  // bytes taken from an existing partial file
	Received  int64  // bytes that came over the network (Size - Resumed, 0 when Identical)
	Restarted bool   // a partial file did not match the server's and was discarded
	Identical bool   // the existing file was already identical: nothing was transferred
	ModTime   time.Time
	Mode      fs.FileMode
	Algorithm string // "blake3" or "sha256"
	Digest    []byte // of the whole file
	Duration  time.Duration
}

// errPrefixMismatch: the server's prefix digest differs from the partial
// file's.
var errPrefixMismatch = errors.New("the partial file does not match the server's file")

// errDifferent: a SkipIdentical check found a different file.
var errDifferent = errors.New("the local file differs from the server's")

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
		res, _, err := c.fetchFile(ctx, fetchParams{path: remotePath, w: opts.Stdout, progress: opts.Progress})
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
	if err := safefs.ValidatePath(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLocalName, err)
	}
	dir := opts.DestDir
	if dir == "" {
		dir = "."
	}
	dest := opts.dest
	if dest == nil {
		var err error
		if dest, err = safefs.OpenDest(dir); err != nil {
			return nil, fmt.Errorf("destination folder: %w", err)
		}
		defer dest.Close()
	}
	root := dest.Root()
	local := filepath.Join(dir, filepath.FromSlash(name))

	d, err := dest.Dir(path.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("partial file for %s: %w", safefs.Printable(local), err)
	}
	base := path.Base(name)
	if fi, err := d.Root().Lstat(base); err == nil {
		if opts.SkipIdentical && fi.Mode().IsRegular() && (opts.Expected == nil || opts.Expected.Size == fi.Size()) {
			release, err := c.takeSlot(ctx, opts)
			if err != nil {
				return nil, err
			}
			res, err := c.same(ctx, remotePath, root, name)
			release()
			if err == nil {
				res.Path, res.Duration = local, time.Since(start)
				return res, nil
			}
			if !errors.Is(err, errDifferent) {
				return nil, err
			}
		}
		if !opts.Replace {
			return nil, fmt.Errorf("%s: %w (it differs from the server's)", safefs.Printable(local), ErrExists)
		}
	}

	resume := opts.Resume
	restarted := false
	for attempt := 0; ; attempt++ {
		// The slot is taken before the partial file is made, so that files
		// waiting for one leave no empty part files behind if the process
		// dies.
		release, err := c.takeSlot(ctx, opts)
		if err != nil {
			return nil, err
		}
		p, err := d.CreatePartial(base, name, resume)
		if err != nil {
			release()
			if errors.Is(err, safefs.ErrInvalidName) {
				err = fmt.Errorf("%w: %w", ErrLocalName, err)
			}
			return nil, fmt.Errorf("partial file for %s: %w", safefs.Printable(local), err)
		}
		var prefix hash.Hash
		offset := p.Size()
		if offset > 0 {
			if prefix, err = c.hashPrefix(p.File(), offset); err != nil {
				release()
				p.Keep()
				return nil, fmt.Errorf("reading the partial file: %w", err)
			}
		}
		res, file, err := c.fetchFile(ctx, fetchParams{path: remotePath, offset: offset, prefix: prefix, w: p, progress: opts.Progress})
		release()
		putHash(prefix)
		// A part file that no longer matches the server's file, or that is
		// longer than it (the server refuses the offset: the file shrank
		// since), is fetched again from the start.
		if attempt == 0 && (errors.Is(err, errPrefixMismatch) || (offset > 0 && errors.Is(err, ErrBadRequest))) {
			p.Discard()
			resume, restarted = false, true
			continue
		}
		if err != nil {
			// Len, not Size: what the part file holds now, resumed
			// bytes and newly received ones together.
			n, lerr := p.Len()
			if lerr == nil && keepPartial(err, n) {
				p.Keep()
			} else {
				p.Discard()
			}
			return nil, err
		}
		err = p.Publish(safefs.PublishOptions{
			Replace:    opts.Replace,
			Mode:       fs.FileMode(file.Mode)&0o755 | 0o600,
			ModTime:    time.Unix(0, file.ModTime),
			SharedSync: opts.sharedSync,
			NoSync:     opts.NoSync,
		})
		if err != nil && !p.Published() {
			// Verified bytes: keep them for a resume under another name
			// or after the existing file is moved away.
			p.Keep()
		}
		if errors.Is(err, safefs.ErrExists) {
			return nil, fmt.Errorf("%s: %w (it appeared during the fetch)", safefs.Printable(local), ErrExists)
		}
		if err != nil {
			return nil, fmt.Errorf("publishing %s: %w", safefs.Printable(local), err)
		}
		res.Path = local
		res.Restarted = restarted
		res.Duration = time.Since(start)
		return res, nil
	}
}

// takeSlot takes, for one GET and the partial file it writes, one of the
// session's request slots and, when opts.slots is not nil, one of those:
// the request slot is the server's limit, opts.slots the caller's.
// Publishing the file afterwards holds neither. release gives both back.
func (c *Client) takeSlot(ctx context.Context, opts GetOptions) (release func(), err error) {
	if opts.slots != nil {
		select {
		case opts.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := c.acquire(ctx); err != nil {
		if opts.slots != nil {
			<-opts.slots
		}
		return nil, err
	}
	if opts.onSlot != nil {
		opts.onSlot()
	}
	return func() {
		c.release()
		if opts.slots != nil {
			<-opts.slots
		}
	}, nil
}

// same checks the existing local file name against the server's file by
// digest: it asks for the server's file from the local file's length on,
// with the local file as the prefix. The server proves the prefix (the
// digest of its first n bytes) and, when its file has exactly n bytes,
// sends nothing more. It returns errDifferent when the files differ.
func (c *Client) same(ctx context.Context, remotePath string, root *os.Root, name string) (*Result, error) {
	f, fi, err := safefs.OpenRegular(root, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDifferent, err)
	}
	defer f.Close()
	h, err := c.hashPrefix(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", safefs.Printable(name), err)
	}
	res, _, err := c.fetchFile(ctx, fetchParams{path: remotePath, offset: fi.Size(), prefix: h, w: io.Discard, sameOnly: true})
	putHash(h)
	switch {
	case errors.Is(err, errPrefixMismatch), errors.Is(err, errDifferent), errors.Is(err, ErrBadRequest):
		// BAD_REQUEST: the offset is past the end of a smaller file.
		return nil, errDifferent
	case err != nil:
		return nil, err
	}
	res.Identical = true
	return res, nil
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
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, n), *bp); err != nil {
		putHash(h)
		return nil, err
	}
	return h, nil
}

// fetchParams are the arguments of one GET.
type fetchParams struct {
	path     string
	offset   int64
	prefix   hash.Hash // digest state of the local bytes [0, offset); the caller keeps it
	w        io.Writer
	progress func(int64, int64)
	// sameOnly: only a file of exactly offset bytes is wanted (a
	// SkipIdentical check); any other size gives errDifferent at once.
	sameOnly bool
}

// fetchFile runs one GET: it sends the request, opens the data stream at
// once (no round trip), checks FILE, copies exactly the announced bytes to
// w while hashing them, and checks DONE.
func (c *Client) fetchFile(ctx context.Context, fp fetchParams) (*Result, *wire.File, error) {
	remotePath, offset, prefix, w, progress := fp.path, fp.offset, fp.prefix, fp.w, fp.progress
	h := prefix
	if h == nil {
		var err error
		if h, err = newHash(c.alg); err != nil {
			return nil, nil, err
		}
		defer putHash(h)
	}
	// A data stream may be opened only once the server has answered HELLO:
	// on TCP and TLS streams are separate connections with no order between
	// them, and the server takes the first stream it sees for the control
	// stream.
	if err := c.waitReady(ctx); err != nil {
		return nil, nil, err
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
	if fp.sameOnly && file.Size != offset {
		return nil, nil, errDifferent
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
		return &Result{
			Size: file.Size, Resumed: offset, Received: file.Size - offset,
			ModTime: time.Unix(0, file.ModTime), Mode: fs.FileMode(file.Mode),
			Algorithm: c.alg.String(), Digest: sum,
		}, file, nil
	case *wire.ErrorReply:
		return nil, nil, remoteError(m)
	}
	return nil, nil, c.violation(m)
}

// receive copies [offset, size) from the data stream to w and h, and
// insists on exactly that many bytes followed by a clean end of stream.
//
// A file whose bytes fit in the buffer is gathered and then written and
// hashed in one call each, not one per record or packet (a 64 KiB file
// arrives in four TLS records): for small files these calls were a
// large part of the client's work. Larger files go to w as they arrive,
// so a slow stream still reaches w and the progress callback promptly.
// When the stream fails, the bytes gathered so far are still written, so
// a partial file kept for a resume holds everything that arrived in order.
func (c *Client) receive(ctx context.Context, st transport.Stream, w io.Writer, h hash.Hash, offset, size int64, progress func(int64, int64)) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	gather := size-offset <= int64(len(buf))
	done := offset // bytes written to w and h
	fill := 0      // bytes read into buf and not yet written
	var last, deadline time.Time
	// The stall deadline moves on at most every refresh rather than before
	// every Read, so a stall is noticed after the timeout less at most that.
	refresh := min(time.Second, c.stall/4)
	if progress != nil {
		progress(done, size) // the data begins: what was resumed, if anything
		last = time.Now()
	}
	for {
		if now := time.Now(); deadline.Sub(now) < c.stall-refresh {
			deadline = now.Add(c.stall)
			st.SetReadDeadline(deadline)
		}
		n, err := st.Read(buf[fill:])
		if int64(n) > size-done-int64(fill) {
			return fmt.Errorf("%w: the server sent more than the announced %d bytes", ErrIntegrity, size)
		}
		fill += n
		if fill > 0 && (!gather || fill == len(buf) || err != nil) {
			h.Write(buf[:fill])
			if _, werr := w.Write(buf[:fill]); werr != nil {
				return fmt.Errorf("writing the file: %w", werr)
			}
			done += int64(fill)
			fill = 0
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
			if progress != nil {
				progress(done, size) // what arrived before the failure, kept
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("%w: nothing arrived from the server for %v (the network or the server hangs)", ErrStalled, c.stall)
			}
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
