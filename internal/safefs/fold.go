package safefs

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// FoldKey returns the key under which file systems that ignore case or
// Unicode normalisation (macOS, Windows) would store the path p: two paths
// with the same key may name one file there. It case-folds p with Unicode
// full case folding and normalises the result to NFKC, which also merges
// compatibility forms (so it may merge a little more than any one file
// system does, never less). A receiver creating a tree refuses two
// paths with the same key rather than letting one overwrite the other.
func FoldKey(p string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFD.String(p)))
}
