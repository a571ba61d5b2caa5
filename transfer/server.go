package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
	"github.com/ferryproject/ferry/transport"
)

// Defaults of ServerConfig.
const (
	DefaultMaxSessions            = 256
	DefaultMaxSessionsPerHost     = 64
	DefaultMaxTransfersPerSession = 16
	DefaultHeaderTimeout          = 10 * time.Second
	DefaultIdleTimeout            = 5 * time.Minute
	DefaultWriteTimeout           = 60 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("transfer: server closed")

// ServerConfig tunes a Server. The zero value works; every field documents
// its default.
type ServerConfig struct {
	// Logger receives one line per session and per failed request, never a
	// local absolute path. Default: discard.
	Logger *slog.Logger

	// MaxSessions bounds the sessions served at once, over all listeners.
	// Beyond it a new session is closed at once with wire.SessionTooBusy.
	// Default 256.
	MaxSessions int

	// MaxSessionsPerHost bounds the sessions served at once for one
	// client address (the IP address, whatever the port), so that one
	// host cannot take every session slot from the others. Beyond it a
	// new session is closed with wire.SessionTooBusy. Default 64; it is
	// never above MaxSessions.
	MaxSessionsPerHost int

	// MaxTransfersPerSession bounds the GET and LIST requests a session may
	// have in flight; it is announced in the hello and a request beyond it
	// gets TOO_BUSY. Default 16, at most 65535.
	MaxTransfersPerSession int

	// HeaderTimeout bounds the time from accepting a session to its hello,
	// from accepting a data stream to its header, and from a GET to its
	// data stream (and back). Default 10 s.
	HeaderTimeout time.Duration

	// IdleTimeout closes a session that has had no request in flight and
	// sent nothing for this long (wire.SessionIdle). Default 5 min.
	IdleTimeout time.Duration

	// WriteTimeout bounds each write to a peer (one control frame or one
	// buffer of file data), so that a client that stops reading cannot
	// hold a transfer forever. Default 60 s.
	WriteTimeout time.Duration

	// MaxFindEntries bounds the entries one FIND answers with: the matches
	// of a glob, or the entries of a folder manifest. A FIND over it gets
	// ERROR{TOO_LARGE}. Default 100000.
	MaxFindEntries int

	// testHookBeforeCopy, when set by a test, runs after FILE is sent and
	// before the first byte is read for the data stream.
	testHookBeforeCopy func(path string)

	// testHookAfterReply, when set by a test, runs after the final reply of
	// a GET, LIST or FIND is sent, while the request's goroutine is still
	// running.
	testHookAfterReply func()
}

// Server serves the files beneath one directory, or the synthetic files
// of ferry bench.
type Server struct {
	src source
	cfg ServerConfig
	log *slog.Logger

	ctx    context.Context // cancelled when Shutdown or Close begins
	cancel context.CancelFunc

	mu        sync.Mutex
	sessions  map[*session]struct{}
	perHost   map[netip.Addr]int // sessions per client address
	listeners map[transport.Listener]struct{}
	shutting  bool
	wg        sync.WaitGroup // one per session

	bufs sync.Pool
}

// NewServer returns a Server for the files beneath rootDir, which it opens
// once with os.OpenRoot and keeps open until Close.
func NewServer(rootDir string, cfg ServerConfig) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("transfer: open served folder: %w", err)
	}
	return newServer(rootSource{root: root}, cfg), nil
}

// NewBenchServer returns a Server for no folder but the synthetic,
// read-only files of ferry bench (package internal/benchdata): a tree whose
// names carry the sizes ("bulk-1GiB.bin", "small-1000x64KiB/0000000.bin",
// "parallel-4x64MiB/0.bin"), with the same bytes "ferry bench --prepare"
// writes, generated as they are sent. The root lists the default workload;
// every other name of the scheme within its caps is found when asked for.
// Nothing is read from or written to a disk.
func NewBenchServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return newServer(benchSource{}, cfg), nil
}

// check refuses negative and out-of-range limits.
func (cfg *ServerConfig) check() error {
	if cfg.MaxSessions < 0 || cfg.MaxSessionsPerHost < 0 || cfg.MaxTransfersPerSession < 0 || cfg.MaxTransfersPerSession > 65535 ||
		cfg.HeaderTimeout < 0 || cfg.IdleTimeout < 0 || cfg.WriteTimeout < 0 || cfg.MaxFindEntries < 0 {
		return errors.New("transfer: negative or out-of-range limit in ServerConfig")
	}
	return nil
}

// newServer fills in cfg's defaults and returns a Server for src.
func newServer(src source, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerHost == 0 {
		cfg.MaxSessionsPerHost = DefaultMaxSessionsPerHost
	}
	cfg.MaxSessionsPerHost = min(cfg.MaxSessionsPerHost, cfg.MaxSessions)
	if cfg.MaxTransfersPerSession == 0 {
		cfg.MaxTransfersPerSession = DefaultMaxTransfersPerSession
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxFindEntries == 0 {
		cfg.MaxFindEntries = DefaultMaxFindEntries
	}
	s := &Server{
		src:       src,
		cfg:       cfg,
		log:       cfg.Logger,
		sessions:  make(map[*session]struct{}),
		perHost:   make(map[netip.Addr]int),
		listeners: make(map[transport.Listener]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.bufs.New = func() any { b := make([]byte, bufSize); return &b }
	return s
}

// Serve accepts sessions from l and serves them until ctx is done (it then
// returns ctx.Err()), l fails, or Shutdown or Close is called (it then
// returns ErrServerClosed). Serve may run for several listeners at once.
// Sessions outlive Serve; Shutdown and Close end them. Shutdown and Close
// close l.
func (s *Server) Serve(ctx context.Context, l transport.Listener) error {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	for {
		sess, err := l.Accept(actx)
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("transfer: accept: %w", err)
		}
		host := hostOf(sess.RemoteAddr())
		s.mu.Lock()
		full := len(s.sessions) >= s.cfg.MaxSessions
		hostFull := s.perHost[host] >= s.cfg.MaxSessionsPerHost
		if s.shutting || full || hostFull {
			shutting := s.shutting
			s.mu.Unlock()
			// CloseWithError may have to write: never in the accept loop.
			go func() {
				switch {
				case shutting:
					sess.CloseWithError(wire.SessionShutdown, "server shutting down")
				case full:
					s.log.Warn("session refused: too many sessions", "remote", sess.RemoteAddr().String())
					sess.CloseWithError(wire.SessionTooBusy, "too many sessions")
				default:
					s.log.Warn("session refused: too many sessions from one address", "remote", sess.RemoteAddr().String())
					sess.CloseWithError(wire.SessionTooBusy, "too many sessions from your address")
				}
			}()
			continue
		}
		ss := newSession(s, sess)
		ss.host = host
		s.perHost[host]++
		s.sessions[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go ss.serve()
	}
}

// Shutdown stops accepting sessions (closing the listeners given to
// Serve), tells every session to finish (GOAWAY), and waits until the
// clients have closed their sessions after their last reply. When ctx is
// done first it closes the remaining sessions with wire.SessionShutdown and
// returns ctx.Err(). The served folder is closed at the end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.goAway()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.src.close()
		return nil
	case <-ctx.Done():
		s.closeSessions()
		<-done
		s.src.close()
		return ctx.Err()
	}
}

// Close closes the listeners and every session at once, with
// wire.SessionShutdown, and then the served folder.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.closeSessions()
	s.wg.Wait()
	return s.src.close()
}

func (s *Server) closeSessions() {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.close(wire.SessionShutdown, "server shutting down")
	}
}

func (s *Server) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Server) putBuf(b *[]byte) { s.bufs.Put(b) }

// session is one client session on the server.
type session struct {
	srv  *Server
	sess transport.Session
	host netip.Addr // the client's address, for MaxSessionsPerHost
	log  *slog.Logger
	ctrl transport.Stream // set once the hello arrived

	clientMax uint32

	wmu  sync.Mutex // serialises control writes
	wbuf []byte

	mu         sync.Mutex
	active     map[uint64]*request // GET and LIST in flight
	parked     map[uint64]*parked  // data streams that came before their GET
	orphans    map[uint64]struct{} // GETs that ended before their data stream came
	orphanFIFO []uint64
	headers    int // data streams whose header is being read
	lastActive time.Time
	goingAway  bool
	idle       *time.Timer

	tasks sync.WaitGroup // request and data-stream goroutines
}

type request struct {
	id        uint64
	get       bool
	gotStream bool
	ended     bool
	stream    chan transport.Stream // capacity 1
}

type parked struct {
	st      transport.Stream
	claimed chan struct{}
}

func newSession(s *Server, sess transport.Session) *session {
	return &session{
		srv:        s,
		sess:       sess,
		log:        s.log.With("remote", sess.RemoteAddr().String()),
		active:     make(map[uint64]*request),
		parked:     make(map[uint64]*parked),
		orphans:    make(map[uint64]struct{}),
		lastActive: time.Now(),
	}
}

func (ss *session) close(code transport.ErrorCode, reason string) {
	ss.sess.CloseWithError(code, reason)
}

func (ss *session) protocolError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ss.log.Warn("protocol violation, closing session", "reason", msg)
	ss.close(wire.SessionProtocolError, msg)
}

// hostOf is the client address that MaxSessionsPerHost counts: the IP
// address (IPv4-mapped IPv6 addresses as IPv4), or the zero Addr when the
// transport's address has none.
func hostOf(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if p, err := netip.ParseAddrPort(a.String()); err == nil {
			ap = p
		}
	}
	return ap.Addr().Unmap()
}

func (ss *session) serve() {
	s := ss.srv
	defer func() {
		ss.mu.Lock()
		if ss.idle != nil {
			ss.idle.Stop()
		}
		ss.mu.Unlock()
		ss.close(transport.CodeNoError, "")
		ss.tasks.Wait()
		s.mu.Lock()
		delete(s.sessions, ss)
		if s.perHost[ss.host]--; s.perHost[ss.host] <= 0 {
			delete(s.perHost, ss.host)
		}
		s.mu.Unlock()
		s.wg.Done()
	}()
	ss.log.Debug("session accepted")

	hctx, cancel := context.WithTimeout(ss.sess.Context(), s.cfg.HeaderTimeout)
	ctrl, err := ss.sess.AcceptStream(hctx)
	cancel()
	if err != nil {
		ss.log.Info("no control stream", "err", err)
		ss.close(wire.SessionTimeout, "no hello in time")
		return
	}
	ctrl.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	r := wire.NewReader(ctrl, wire.MaxFrame)
	m, err := r.ReadMessage()
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) {
			ss.protocolError("%v", err)
		} else {
			ss.log.Info("no hello", "err", err)
			ss.close(wire.SessionTimeout, "no hello in time")
		}
		return
	}
	hello, ok := m.(*wire.Hello)
	if !ok {
		ss.protocolError("%v before HELLO", m.Type())
		return
	}
	ctrl.SetReadDeadline(time.Time{})
	ss.clientMax = hello.MaxFrame
	ss.ctrl = ctrl
	if err := ss.send(&wire.HelloReply{
		Version:      wire.Version, // the only version; a newer client speaks it too
		MaxFrame:     wire.MaxFrame,
		MaxTransfers: uint16(s.cfg.MaxTransfersPerSession),
		Flags:        wire.FlagFind | wire.FlagLinks,
		Algorithms:   serverAlgorithms,
	}); err != nil {
		return
	}
	ss.mu.Lock()
	ss.idle = time.AfterFunc(s.cfg.IdleTimeout, ss.checkIdle)
	shutting := s.ctx.Err() != nil
	ss.mu.Unlock()
	if shutting {
		ss.goAway()
	}

	ss.tasks.Go(ss.acceptStreams)
	ss.readControl(r)
}

// checkIdle runs from the idle timer.
func (ss *session) checkIdle() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.active) > 0 {
		ss.idle.Reset(ss.srv.cfg.IdleTimeout)
		return
	}
	if left := ss.srv.cfg.IdleTimeout - time.Since(ss.lastActive); left > 0 {
		ss.idle.Reset(left)
		return
	}
	ss.log.Info("closing idle session")
	go ss.close(wire.SessionIdle, "idle")
}

// goAway tells the client to finish; an idle session's client then closes.
func (ss *session) goAway() {
	ss.mu.Lock()
	if ss.goingAway || ss.ctrl == nil {
		ss.mu.Unlock()
		return
	}
	ss.goingAway = true
	ss.mu.Unlock()
	ss.send(&wire.GoAway{})
}

// send writes one control frame. A failed write closes the session.
func (ss *session) send(m wire.Message) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	b, err := wire.AppendFrame(ss.wbuf[:0], m)
	if err != nil {
		ss.log.Error("encoding a reply", "type", m.Type(), "err", err)
		ss.close(transport.CodeInternal, "internal error")
		return err
	}
	ss.wbuf = b[:0]
	ss.ctrl.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
	if _, err := ss.ctrl.Write(b); err != nil {
		ss.close(transport.CodeInternal, "control stream write failed")
		return err
	}
	if cap(ss.wbuf) > 2*wire.MaxListFrame {
		ss.wbuf = nil
	}
	return nil
}

func (ss *session) sendError(id uint64, code wire.ErrorCode, msg string) {
	ss.send(&wire.ErrorReply{ID: id, Code: code, Message: clip(msg)})
}

// clip makes msg fit an ERROR message.
func clip(msg string) string {
	if len(msg) <= wire.MaxMessage && utf8.ValidString(msg) {
		return msg
	}
	msg = safefs.Printable(msg)
	for len(msg) > wire.MaxMessage {
		_, n := utf8.DecodeLastRuneInString(msg)
		msg = msg[:len(msg)-n]
	}
	return msg
}

func (ss *session) readControl(r *wire.Reader) {
	for {
		m, err := r.ReadMessage()
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) {
				ss.protocolError("%v", err)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.log.Info("control stream failed", "err", err)
			}
			return
		}
		ss.mu.Lock()
		ss.lastActive = time.Now()
		ss.mu.Unlock()
		switch m := m.(type) {
		case *wire.Echo:
			if 1+8+4+len(m.Payload) > int(ss.clientMax) {
				ss.sendError(m.ID, wire.CodeBadRequest, "echo payload over your own maximum frame")
				continue
			}
			if ss.send(&wire.EchoReply{ID: m.ID, Payload: m.Payload}) != nil {
				return
			}
		case *wire.List:
			if req := ss.begin(m.ID, false); req != nil {
				ss.tasks.Go(func() { ss.list(req, m) })
			}
		case *wire.Find:
			if req := ss.begin(m.ID, false); req != nil {
				ss.tasks.Go(func() { ss.find(req, m) })
			}
		case *wire.Get:
			if req := ss.begin(m.ID, true); req != nil {
				ss.tasks.Go(func() { ss.get(req, m) })
			}
		default:
			ss.protocolError("unexpected %v from the client", m.Type())
			return
		}
	}
}

// begin registers request id; it answers TOO_BUSY and returns nil when
// the request may not run.
func (ss *session) begin(id uint64, get bool) *request {
	ss.mu.Lock()
	if _, dup := ss.active[id]; dup {
		ss.mu.Unlock()
		ss.protocolError("request ID %d is already in use", id)
		return nil
	}
	if ss.goingAway || len(ss.active) >= ss.srv.cfg.MaxTransfersPerSession {
		going := ss.goingAway
		ss.mu.Unlock()
		if going {
			ss.sendError(id, wire.CodeTooBusy, "server is shutting down")
		} else {
			ss.sendError(id, wire.CodeTooBusy, fmt.Sprintf("too many requests in flight on this session (the limit is %d)", ss.srv.cfg.MaxTransfersPerSession))
		}
		return nil
	}
	req := &request{id: id, get: get, stream: make(chan transport.Stream, 1)}
	if p := ss.parked[id]; p != nil && get {
		delete(ss.parked, id)
		close(p.claimed)
		req.gotStream = true
		req.stream <- p.st
	}
	ss.active[id] = req
	ss.mu.Unlock()
	return req
}

// finish ends req and then sends m, its final reply (DONE, ERROR or
// LIST_END). The order matters: a client may start a new request the
// moment it reads a final reply, and that request must find req's slot
// free, or a client that keeps exactly max_transfers requests in flight
// would be told TOO_BUSY by a race it cannot see.
func (ss *session) finish(req *request, m wire.Message) {
	ss.end(req)
	ss.send(m)
	if hook := ss.srv.cfg.testHookAfterReply; hook != nil {
		hook()
	}
}

// fail ends req with an ERROR reply.
func (ss *session) fail(req *request, code wire.ErrorCode, msg string) {
	ss.finish(req, &wire.ErrorReply{ID: req.id, Code: code, Message: clip(msg)})
}

// end unregisters req; a second call does nothing, and a newer request
// that reuses the ID is left alone. A GET whose data stream never came is
// remembered, so that the stream is refused at once when it comes.
func (ss *session) end(req *request) {
	ss.mu.Lock()
	if req.ended {
		ss.mu.Unlock()
		return
	}
	req.ended = true
	id := req.id
	if ss.active[id] == req {
		delete(ss.active, id)
	}
	if req.get && !req.gotStream {
		ss.orphans[id] = struct{}{}
		ss.orphanFIFO = append(ss.orphanFIFO, id)
		if len(ss.orphanFIFO) > 4*ss.srv.cfg.MaxTransfersPerSession {
			delete(ss.orphans, ss.orphanFIFO[0])
			ss.orphanFIFO = ss.orphanFIFO[1:]
		}
	}
	ss.lastActive = time.Now()
	ss.mu.Unlock()
	// After GOAWAY the client closes the session once its last reply has
	// arrived: closing it from here could cut that reply off.
}

func (ss *session) acceptStreams() {
	limit := 2 * ss.srv.cfg.MaxTransfersPerSession
	for {
		st, err := ss.sess.AcceptStream(ss.sess.Context())
		if err != nil {
			return
		}
		ss.mu.Lock()
		if ss.headers >= limit {
			ss.mu.Unlock()
			st.Abort(wire.StreamRefused)
			continue
		}
		ss.headers++
		ss.mu.Unlock()
		ss.tasks.Go(func() { ss.dataStream(st) })
	}
}

// dataStream reads a data stream's header and hands the stream to its GET,
// waiting up to HeaderTimeout for the GET when the stream came first.
func (ss *session) dataStream(st transport.Stream) {
	timeout := ss.srv.cfg.HeaderTimeout
	st.SetReadDeadline(time.Now().Add(timeout))
	id, err := wire.ReadDataHeader(st)
	st.SetReadDeadline(time.Time{})
	ss.mu.Lock()
	ss.headers--
	if err != nil {
		ss.mu.Unlock()
		ss.log.Info("data stream without a valid header", "err", err)
		st.Abort(wire.StreamRefused)
		return
	}
	if req := ss.active[id]; req != nil {
		if !req.get || req.gotStream {
			ss.mu.Unlock()
			st.Abort(wire.StreamRefused)
			return
		}
		req.gotStream = true
		req.stream <- st
		ss.mu.Unlock()
		return
	}
	if _, ok := ss.orphans[id]; ok {
		delete(ss.orphans, id)
		ss.mu.Unlock()
		st.Abort(wire.StreamRefused)
		return
	}
	if ss.parked[id] != nil || len(ss.parked) >= ss.srv.cfg.MaxTransfersPerSession {
		ss.mu.Unlock()
		st.Abort(wire.StreamRefused)
		return
	}
	p := &parked{st: st, claimed: make(chan struct{})}
	ss.parked[id] = p
	ss.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.claimed:
		return
	case <-t.C:
	case <-ss.sess.Context().Done():
	}
	ss.mu.Lock()
	if ss.parked[id] == p {
		delete(ss.parked, id)
		ss.mu.Unlock()
		st.Abort(wire.StreamRefused)
		return
	}
	ss.mu.Unlock()
}

// mapFSError turns a safefs error into an ERROR code and a message that
// names the client's own path only.
func (ss *session) mapFSError(op, p string, err error) (wire.ErrorCode, string) {
	q := safefs.Printable(p)
	switch {
	case errors.Is(err, safefs.ErrInvalidName):
		var ne *safefs.NameError
		if errors.As(err, &ne) {
			return wire.CodeBadRequest, fmt.Sprintf("invalid path %s: %s", q, ne.Reason)
		}
		return wire.CodeBadRequest, "invalid path " + q
	case errors.Is(err, safefs.ErrNotFound):
		return wire.CodeNotFound, "no such file or directory: " + q
	case errors.Is(err, safefs.ErrNotRegular):
		return wire.CodeNotRegular, "not a regular file: " + q
	case errors.Is(err, safefs.ErrNotDir):
		return wire.CodeBadRequest, "not a directory: " + q
	case errors.Is(err, safefs.ErrAccessDenied):
		return wire.CodeAccessDenied, "access denied: " + q
	}
	ss.log.Error(op+" failed", "path", q, "err", err)
	return wire.CodeInternal, "internal error"
}

func (ss *session) list(req *request, m *wire.List) {
	defer ss.end(req)
	p := m.Path
	if p == "." {
		p = ""
	}
	entries, skipped, err := listDir(ss.srv.src, p)
	if err != nil {
		code, msg := ss.mapFSError("list", m.Path, err)
		ss.fail(req, code, msg)
		return
	}
	limit := min(int(ss.clientMax), wire.MaxListFrame)
	var chunk []wire.Entry
	size := wire.ListEntriesOverhead
	for _, e := range entries {
		if wire.CheckName(e.Name) != nil {
			skipped++
			continue
		}
		if size+e.EncodedSize() > limit && len(chunk) > 0 {
			if ss.send(&wire.ListEntries{ID: m.ID, Entries: chunk}) != nil {
				return
			}
			chunk, size = chunk[:0], wire.ListEntriesOverhead
		}
		chunk = append(chunk, e)
		size += e.EncodedSize()
	}
	if len(chunk) > 0 {
		if ss.send(&wire.ListEntries{ID: m.ID, Entries: chunk}) != nil {
			return
		}
	}
	ss.finish(req, &wire.ListEnd{ID: m.ID, Skipped: uint32(min(skipped, 1<<32-1))})
}

// get serves one GET. The order on the wire: FILE (or ERROR) on control;
// the bytes [offset, size) on the data stream, then FIN; DONE on control.
func (ss *session) get(req *request, m *wire.Get) {
	defer ss.end(req)
	fail := func(code wire.ErrorCode, msg string) { ss.fail(req, code, msg) }
	h, err := newHash(m.Algorithm)
	if err != nil {
		fail(wire.CodeBadRequest, fmt.Sprintf("unsupported digest algorithm %d", m.Algorithm))
		return
	}
	defer putHash(h)
	f, fi, err := ss.srv.src.openRegular(m.Path)
	if err != nil {
		fail(ss.mapFSError("get", m.Path, err))
		return
	}
	defer f.Close()
	size, mtime := fi.Size(), fi.ModTime()
	if m.Offset > size {
		fail(wire.CodeBadRequest, fmt.Sprintf("offset %d is past the end of the file (%d bytes)", m.Offset, size))
		return
	}
	bp := ss.srv.getBuf()
	defer ss.srv.putBuf(bp)
	buf := *bp

	// The prefix the client already has is hashed, not sent: its digest
	// lets the client prove its partial file, and the final digest covers
	// the whole file.
	var prefix []byte
	if m.Offset > 0 {
		if n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, m.Offset), buf); err != nil || n != m.Offset {
			fail(wire.CodeFileChanged, "file changed while it was read")
			return
		}
		prefix = h.Sum(nil)
	}
	if err := ss.send(&wire.File{
		ID: m.ID, Size: size, ModTime: mtime.UnixNano(), Mode: fileMode(fi.Mode()),
		Algorithm: m.Algorithm, Offset: m.Offset, PrefixDigest: prefix,
	}); err != nil {
		return
	}

	if hook := ss.srv.cfg.testHookBeforeCopy; hook != nil {
		hook(m.Path)
	}
	t := time.NewTimer(ss.srv.cfg.HeaderTimeout)
	var st transport.Stream
	select {
	case st = <-req.stream:
		t.Stop()
	case <-t.C:
		fail(wire.CodeBadRequest, "no data stream for this request")
		return
	case <-ss.sess.Context().Done():
		t.Stop()
		return
	}

	code, err := ss.copyFile(st, f, h, m.Offset, size, buf)
	if err == nil {
		err = checkUnchanged(f, size, mtime, buf)
		if err != nil {
			code = wire.StreamFileChanged
		}
	}
	if err != nil {
		// Never end a failed stream with a FIN: after a cut-off write it
		// would look like a complete file.
		if code == 0 {
			st.Abort(wire.StreamFailed)
		} else {
			st.Abort(code)
		}
		switch code {
		case wire.StreamFileChanged:
			ss.log.Info("file changed while sent", "path", safefs.Printable(m.Path))
			fail(wire.CodeFileChanged, "file changed while it was sent: "+safefs.Printable(m.Path))
		case wire.StreamFailed:
			ss.log.Error("reading a served file", "path", safefs.Printable(m.Path), "err", err)
			fail(wire.CodeInternal, "internal error")
		default: // the client or the session went away
			ss.log.Info("data stream failed", "path", safefs.Printable(m.Path), "err", err)
			fail(wire.CodeInternal, "data stream failed")
		}
		return
	}
	if err := st.Close(); err != nil {
		st.Abort(wire.StreamFailed)
		fail(wire.CodeInternal, "data stream failed")
		return
	}
	ss.finish(req, &wire.Done{ID: m.ID, Digest: h.Sum(nil)})
}

// copyFile sends [offset, size) of f to st and hashes exactly the bytes it
// sends, from one buffer: each byte is read once, hashed and written. (A
// sendfile path would skip one copy on plain TCP, but the digest would then
// cover bytes read in a second pass, not the bytes sent.) It returns the
// stream abort code to use on failure, or 0 when the stream already failed.
func (ss *session) copyFile(st transport.Stream, f servedFile, h io.Writer, offset, size int64, buf []byte) (transport.ErrorCode, error) {
	left := size - offset
	for left > 0 {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), left)], size-left)
		if n > 0 {
			h.Write(buf[:n])
			st.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
			if _, werr := st.Write(buf[:n]); werr != nil {
				return 0, werr
			}
			left -= int64(n)
		}
		if err == io.EOF && left > 0 {
			return wire.StreamFileChanged, errors.New("file shrank")
		}
		if err != nil && err != io.EOF {
			return wire.StreamFailed, err
		}
	}
	return 0, nil
}

// checkUnchanged reports whether f grew, or its size or mtime changed,
// since it was opened.
func checkUnchanged(f servedFile, size int64, mtime time.Time, buf []byte) error {
	if n, _ := f.ReadAt(buf[:1], size); n > 0 {
		return errors.New("file grew")
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size || !fi.ModTime().Equal(mtime) {
		return errors.New("file size or modification time changed")
	}
	return nil
}
