package transfer

import (
	"fmt"
	"path"
	"strings"

	"github.com/ferryproject/ferry/internal/safefs"
	"github.com/ferryproject/ferry/internal/wire"
)

// Reasons a symlink of a tree is skipped rather than recreated.
const (
	reasonSymlink       = "symlink, not followed"
	reasonNoLinkSupport = "symlink, not recreated: the server does not send link targets (it predates --symlinks)"
	reasonNoTarget      = "symlink, not recreated: the server could not send its target (unreadable, over 1024 bytes, or not UTF-8)"
)

// linkReason checks where the symlink link (a path relative to the tree
// root, as in the manifest) with target leads, before anything is
// created, and returns "" when it may be recreated, or why not.
//
// The target must be relative; each element must be ".", ".." or a name
// that passes the name rule (so no control, bidi or invisible characters,
// no empty element); and resolving it lexically from the link's folder
// must stay inside the tree. Lexical resolution matches the file system
// only through real folders: "up/.." is not where "up" started when "up" is
// itself a link. So every element that is walked through (all but the
// last) must be a folder listed in the manifest (types); a link may point
// at a link, never through one.
func linkReason(link, target string, types map[string]wire.EntryType) string {
	if target == "" {
		return reasonNoTarget
	}
	bad := func(why string) string {
		return fmt.Sprintf("symlink to %s, not recreated: %s", safefs.Printable(target), why)
	}
	if strings.HasPrefix(target, "/") {
		return bad("absolute target")
	}
	var at []string // the folder reached so far, from the tree root
	if d := path.Dir(link); d != "." {
		at = strings.Split(d, "/")
	}
	elems := strings.Split(target, "/")
	for i, e := range elems {
		switch e {
		case ".":
		case "..":
			if len(at) == 0 {
				return bad("it leads out of the folder")
			}
			at = at[:len(at)-1]
		default:
			if err := safefs.ValidateName(e); err != nil {
				return bad("not a clean relative path (" + nameReason(err) + ")")
			}
			at = append(at, e)
			if len(at) > safefs.MaxComponents {
				return bad("too deep")
			}
		}
		if i < len(elems)-1 && len(at) > 0 && types[strings.Join(at, "/")] != wire.EntryDir {
			return bad("it goes through " + safefs.Printable(strings.Join(at, "/")) + ", which is not a folder of the tree")
		}
	}
	return ""
}

func nameReason(err error) string {
	if ne, ok := err.(*safefs.NameError); ok {
		return ne.Reason
	}
	return err.Error()
}

// ---- Server side

// linkReader is a source with symlinks, whose targets it can read.
type linkReader interface {
	readlink(p string) (string, error)
}

var _ linkReader = rootSource{}

func (r rootSource) readlink(p string) (string, error) {
	if err := safefs.ValidatePath(p); err != nil {
		return "", err
	}
	return r.root.Readlink(p)
}

// linkTarget returns the target of the symlink p to put in a manifest:
// readlink's answer as it is, or "" (the entry goes without one) when it
// cannot be read or breaks the wire format (over wire.MaxLinkTarget bytes,
// not UTF-8). Where it leads is for the client to judge; the server never
// follows it.
func linkTarget(src source, p string) string {
	lr, ok := src.(linkReader)
	if !ok {
		return ""
	}
	t, err := lr.readlink(p)
	if err != nil || wire.CheckLinkTarget(t) != nil {
		return ""
	}
	return t
}
