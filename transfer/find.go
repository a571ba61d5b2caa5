package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// Defaults of the FIND limits in ServerConfig.
const (
	DefaultMaxFindEntries = 100_000
	// maxGlobDirs bounds the directories one glob may read, so that a
	// pattern like "*/*/*/*" costs the server a bounded amount of work.
	maxGlobDirs = 10_000
)

// ErrTooLarge reports a FIND whose answer is over the server's limits.
var ErrTooLarge = errors.New("too many entries")

// ErrUnsupported reports a server that does not offer a feature (an older
// server without FIND).
var ErrUnsupported = errors.New("the server does not support this")

// ---- Server side

// find answers one FIND: a glob expansion or a folder manifest.
func (ss *session) find(req *request, m *wire.Find) {
	defer ss.end(req)
	var (
		entries []wire.ManifestEntry
		skipped int
		err     error
	)
	if m.Mode == wire.FindGlob {
		entries, skipped, err = globEntries(ss, m.Path)
	} else {
		entries, skipped, err = treeEntries(ss, m.Path, m.Mode == wire.FindTreeLinks)
	}
	if errors.Is(err, ErrTooLarge) {
		ss.fail(req, wire.CodeTooLarge, err.Error())
		return
	}
	if err != nil {
		code, msg := ss.mapFSError("find", m.Path, err)
		ss.fail(req, code, msg)
		return
	}
	limit := min(int(ss.clientMax), wire.MaxListFrame)
	var chunk []wire.ManifestEntry
	size := wire.ManifestOverhead
	for _, e := range entries {
		if size+e.EncodedSize() > limit && len(chunk) > 0 {
			if ss.send(&wire.Manifest{ID: m.ID, Entries: chunk}) != nil {
				return
			}
			chunk, size = chunk[:0], wire.ManifestOverhead
		}
		chunk = append(chunk, e)
		size += e.EncodedSize()
	}
	if len(chunk) > 0 {
		if ss.send(&wire.Manifest{ID: m.ID, Entries: chunk}) != nil {
			return
		}
	}
	ss.finish(req, &wire.ListEnd{ID: m.ID, Skipped: uint32(min(skipped, 1<<32-1))})
}

func manifestEntry(p string, e safefs.Entry) wire.ManifestEntry {
	me := wire.ManifestEntry{Path: p, Size: e.Size, ModTime: e.ModTime.UnixNano(), Mode: fileMode(e.Mode)}
	switch e.Type {
	case safefs.File:
		me.Type = wire.EntryFile
	case safefs.Dir:
		me.Type = wire.EntryDir
	case safefs.Symlink:
		me.Type = wire.EntrySymlink
	default:
		me.Type, me.Size = wire.EntryOther, 0
	}
	return me
}

// isPattern reports whether a pattern component holds path.Match syntax.
func isPattern(c string) bool { return strings.ContainsAny(c, "*?[") }

// checkPattern applies the name rule to a glob pattern: what holds for a
// path holds for a pattern once its wildcards are set aside. Backslash
// escapes are refused (no name may hold a character that needs one).
func checkPattern(p string) error {
	if !isPattern(p) {
		return safefs.ValidatePath(p)
	}
	bad := func(reason string) error { return &safefs.NameError{Name: p, Reason: reason} }
	if len(p) > safefs.MaxPathBytes || !utf8.ValidString(p) || strings.HasPrefix(p, "/") {
		return bad("not a relative pattern of at most 1024 bytes of UTF-8")
	}
	comps := strings.Split(p, "/")
	if len(comps) > safefs.MaxComponents {
		return bad(fmt.Sprintf("more than %d components", safefs.MaxComponents))
	}
	for _, c := range comps {
		if !isPattern(c) {
			if err := safefs.ValidateName(c); err != nil {
				return err
			}
			continue
		}
		if c == "" || len(c) > safefs.MaxComponentBytes {
			return bad("empty or over-long component")
		}
		if strings.ContainsRune(c, '\\') {
			return bad("backslash in a pattern")
		}
		for _, r := range c {
			if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
				return bad("control or invisible character in a pattern")
			}
		}
		if _, err := path.Match(c, ""); err != nil {
			return bad("malformed pattern")
		}
	}
	return nil
}

// matchComponent reports whether the directory entry name matches the
// pattern component c. Like a shell, a wildcard does not match a leading
// dot unless c starts with one. A component that is also a literal name
// (such as "file[1].txt") matches that name too.
func matchComponent(c, name string) bool {
	if c == name {
		return true
	}
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(c, ".") {
		return false
	}
	ok, _ := path.Match(c, name)
	return ok
}

// globEntries expands pattern beneath the served root, component by
// component, on names that passed the name rule: a match can only be a
// valid path beneath the root, never an escape. Only real directories are
// descended (no symlinks). The matches are sorted by path.
func globEntries(ss *session, pattern string) ([]wire.ManifestEntry, int, error) {
	if err := checkPattern(pattern); err != nil {
		return nil, 0, err
	}
	src := ss.srv.src
	limit := ss.srv.cfg.MaxFindEntries
	comps := strings.Split(pattern, "/")
	type match struct {
		p string
		e safefs.Entry
	}
	cur := []string{""}
	var out []match
	skipped, dirs := 0, 0
	for i, c := range comps {
		last := i == len(comps)-1
		var next []match
		for _, d := range cur {
			if !isPattern(c) {
				p := path.Join(d, c)
				e, err := src.lstat(p)
				if err == nil {
					next = append(next, match{p, e})
				} else if !errors.Is(err, safefs.ErrNotFound) && !errors.Is(err, safefs.ErrAccessDenied) {
					return nil, 0, err
				}
				continue
			}
			if dirs++; dirs > maxGlobDirs {
				return nil, 0, fmt.Errorf("%w: the pattern reads more than %d folders", ErrTooLarge, maxGlobDirs)
			}
			entries, sk, err := src.readDir(d)
			if err != nil {
				if errors.Is(err, safefs.ErrNotFound) || errors.Is(err, safefs.ErrAccessDenied) || errors.Is(err, safefs.ErrNotDir) {
					continue // vanished or refused on the way: no match there
				}
				return nil, 0, err
			}
			skipped += sk
			for _, e := range entries {
				if !last && e.Type != safefs.Dir {
					continue // only folders lead on
				}
				if matchComponent(c, e.Name) {
					p := path.Join(d, e.Name)
					if safefs.ValidatePath(p) != nil {
						skipped++
						continue
					}
					next = append(next, match{p, e})
				}
			}
			if len(next) > limit {
				return nil, 0, fmt.Errorf("%w: more than %d matches", ErrTooLarge, limit)
			}
		}
		if last {
			out = next
			break
		}
		cur = cur[:0]
		for _, m := range next {
			if m.e.Type == safefs.Dir {
				cur = append(cur, m.p)
			}
		}
		if len(cur) == 0 {
			break
		}
	}
	if len(out) > limit {
		return nil, 0, fmt.Errorf("%w: more than %d matches", ErrTooLarge, limit)
	}
	res := make([]wire.ManifestEntry, len(out))
	for i, m := range out {
		res[i] = manifestEntry(m.p, m.e)
	}
	// Each level was listed in order, so the paths already come sorted
	// within a folder; sort across folders for a stable answer.
	sortManifest(res)
	return res, skipped, nil
}

func sortManifest(es []wire.ManifestEntry) {
	slices.SortFunc(es, func(a, b wire.ManifestEntry) int { return strings.Compare(a.Path, b.Path) })
}

// treeEntries lists everything beneath the folder dir ("." is the root),
// breadth first so that every folder comes before what it holds, with
// paths relative to dir. Symlinks are listed, never followed; with links,
// each carries its target when it can be sent (see linkTarget).
func treeEntries(ss *session, dir string, links bool) ([]wire.ManifestEntry, int, error) {
	src := ss.srv.src
	limit := ss.srv.cfg.MaxFindEntries
	if dir == "." {
		dir = ""
	} else if err := safefs.ValidatePath(dir); err != nil {
		return nil, 0, err
	}
	var out []wire.ManifestEntry
	skipped := 0
	queue := []string{""}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		entries, sk, err := src.readDir(path.Join(dir, rel))
		if err != nil {
			if rel != "" && (errors.Is(err, safefs.ErrNotFound) || errors.Is(err, safefs.ErrNotDir)) {
				continue // removed or replaced while walking
			}
			return nil, 0, err
		}
		skipped += sk
		for _, e := range entries {
			r := path.Join(rel, e.Name)
			if safefs.ValidatePath(path.Join(dir, r)) != nil {
				skipped++ // too deep or too long to be fetched by its path
				continue
			}
			if len(out) >= limit {
				return nil, 0, fmt.Errorf("%w: the folder holds more than %d entries", ErrTooLarge, limit)
			}
			me := manifestEntry(r, e)
			if links && e.Type == safefs.Symlink {
				me.Target = linkTarget(src, path.Join(dir, r))
			}
			out = append(out, me)
			if e.Type == safefs.Dir {
				queue = append(queue, r)
			}
		}
	}
	return out, skipped, nil
}

// ---- Client side

// TreeEntry is one entry of a glob expansion or a folder manifest.
type TreeEntry struct {
	// Path is slash-separated: relative to the served root for Glob,
	// relative to the folder for Tree. It passed safefs.ValidatePath.
	Path    string
	Type    wire.EntryType
	Size    int64 // bytes, for regular files
	ModTime time.Time
	Mode    fs.FileMode // permission bits only
	// Target is a symlink's target, as the server read it, when asked
	// for (TreeLinks) and the server could send it; never checked: see
	// FetchTree.
	Target string
}

// find runs one FIND and collects its entries.
func (c *Client) find(ctx context.Context, mode wire.FindMode, p string) ([]TreeEntry, int, error) {
	if err := c.waitReady(ctx); err != nil {
		return nil, 0, err
	}
	if !c.canFind {
		return nil, 0, fmt.Errorf("%w: this server predates folders and globs", ErrUnsupported)
	}
	if err := c.acquire(ctx); err != nil {
		return nil, 0, err
	}
	defer c.release()
	id, cl, err := c.start(16)
	if err != nil {
		return nil, 0, err
	}
	defer c.finish(id)
	if err := c.send(&wire.Find{ID: id, Mode: mode, Path: p}); err != nil {
		return nil, 0, err
	}
	var out []TreeEntry
	for {
		m, err := c.recv(ctx, cl)
		if err != nil {
			return nil, 0, err
		}
		switch m := m.(type) {
		case *wire.Manifest:
			if len(out)+len(m.Entries) > maxListEntries {
				return nil, 0, fmt.Errorf("%w: the server sent more than %d entries", ErrTooLarge, maxListEntries)
			}
			for _, e := range m.Entries {
				out = append(out, TreeEntry{
					Path: e.Path, Type: e.Type, Size: e.Size,
					ModTime: time.Unix(0, e.ModTime), Mode: fs.FileMode(e.Mode),
					Target: e.Target,
				})
			}
		case *wire.ListEnd:
			return out, int(m.Skipped), nil
		case *wire.ErrorReply:
			return nil, 0, remoteError(m)
		default:
			return nil, 0, c.violation(m)
		}
	}
}

// Glob expands pattern on the server (path.Match syntax per component,
// "logs/*.gz"; a path without wildcards names itself) and returns the
// matching entries sorted by path. No match is not an error: the result is
// empty. Every path is checked with the name rule and for duplicates; a
// server that breaks either is a protocol violation.
func (c *Client) Glob(ctx context.Context, pattern string) ([]TreeEntry, error) {
	if err := checkPattern(pattern); err != nil {
		return nil, fmt.Errorf("remote path: %w", err)
	}
	entries, _, err := c.find(ctx, wire.FindGlob, pattern)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if err := safefs.ValidatePath(e.Path); err != nil {
			return nil, fmt.Errorf("%w: glob match: %w", ErrProtocol, err)
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("%w: glob match %s listed twice", ErrProtocol, safefs.Printable(e.Path))
		}
		seen[e.Path] = true
		if !isPattern(pattern) && e.Path != pattern {
			return nil, fmt.Errorf("%w: %s does not match %s", ErrProtocol, safefs.Printable(e.Path), safefs.Printable(pattern))
		}
	}
	return entries, nil
}

// Tree returns the manifest of the folder dir on the server: everything
// beneath it, paths relative to it, folders before their contents. Skipped
// counts entries the server left out (names that break the name rule, or
// paths too deep to fetch).
//
// The manifest is checked with CheckManifest(path.Base(dir), ...) before it
// is returned, so that a hostile server is refused before anything is
// created.
func (c *Client) Tree(ctx context.Context, dir string) (entries []TreeEntry, skipped int, err error) {
	return c.tree(ctx, dir, false)
}

// TreeLinks is Tree, with the target of each symlink (TreeEntry.Target)
// when the server sends targets (newer servers do; with an older one the
// targets are empty). The targets are not checked: FetchTree with
// BatchOptions.Symlinks does that before it creates anything.
func (c *Client) TreeLinks(ctx context.Context, dir string) (entries []TreeEntry, skipped int, err error) {
	return c.tree(ctx, dir, true)
}

func (c *Client) tree(ctx context.Context, dir string, links bool) (entries []TreeEntry, skipped int, err error) {
	if dir != "." {
		if err := safefs.ValidatePath(dir); err != nil {
			return nil, 0, fmt.Errorf("remote path: %w", err)
		}
	}
	mode := wire.FindTree
	if links {
		if err := c.waitReady(ctx); err != nil {
			return nil, 0, err
		}
		if c.canLinks {
			mode = wire.FindTreeLinks
		}
	}
	entries, skipped, err = c.find(ctx, mode, dir)
	if err != nil {
		return nil, 0, err
	}
	base := path.Base(dir)
	if dir == "." {
		base = ""
	}
	if err := CheckManifest(base, entries); err != nil {
		return nil, 0, err
	}
	return entries, skipped, nil
}

// ManifestError reports a manifest that the client refuses to create.
type ManifestError struct {
	Path   string // the offending path, as sent; print it with safefs.Printable
	Reason string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("refusing the server's folder manifest: %s: %s", safefs.Printable(e.Path), e.Reason)
}

// Unwrap makes a ManifestError match ErrProtocol.
func (e *ManifestError) Unwrap() error { return ErrProtocol }

// CheckManifest checks a whole folder manifest before anything is created
// from it, as it would land beneath prefix ("" for none): every path must
// pass the name rule once joined to prefix, appear once, not collide with
// another after case folding or Unicode normalisation (safefs.FoldKey),
// and have every parent listed before it as a folder. Only the first
// problem is reported.
func CheckManifest(prefix string, entries []TreeEntry) error {
	if len(entries) > maxListEntries {
		return &ManifestError{"", fmt.Sprintf("more than %d entries", maxListEntries)}
	}
	types := make(map[string]wire.EntryType, len(entries))
	keys := make(map[string]bool, len(entries))
	for _, e := range entries {
		local := e.Path
		if prefix != "" {
			local = prefix + "/" + e.Path
		}
		if err := wire.CheckManifestPath(e.Path); err != nil {
			return &ManifestError{e.Path, "not a relative path"}
		}
		if err := safefs.ValidatePath(local); err != nil {
			var ne *safefs.NameError
			if errors.As(err, &ne) {
				return &ManifestError{e.Path, ne.Reason}
			}
			return &ManifestError{e.Path, err.Error()}
		}
		if e.Type < wire.EntryFile || e.Type > wire.EntryOther || e.Size < 0 {
			return &ManifestError{e.Path, "bad type or size"}
		}
		if e.Target != "" && e.Type != wire.EntrySymlink {
			return &ManifestError{e.Path, "a link target on an entry that is not a symlink"}
		}
		k := safefs.FoldKey(e.Path)
		if keys[k] {
			return &ManifestError{e.Path, "listed twice, or collides with another name once case and Unicode normalisation are ignored"}
		}
		if parent := path.Dir(e.Path); parent != "." {
			if t, ok := types[parent]; !ok || t != wire.EntryDir {
				return &ManifestError{e.Path, "its folder is not listed before it"}
			}
		}
		keys[k] = true
		types[e.Path] = e.Type
	}
	return nil
}
