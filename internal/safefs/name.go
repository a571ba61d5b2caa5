package safefs

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of the name rule (defences §6). They are protocol constants, not
// configuration: server and client must agree on them.
const (
	MaxPathBytes      = 1024 // a whole wire path, in bytes
	MaxComponentBytes = 255  // one component, in bytes (the usual NAME_MAX)
	MaxComponents     = 32   // components of a wire path
)

// ValidatePath reports whether p is an acceptable wire path: a relative,
// slash-separated path naming something beneath a served root. It returns
// nil or a *NameError (which matches [ErrInvalidName]).
//
// The rule, identical on every operating system:
//   - valid UTF-8 in Unicode NFC, 1 to [MaxPathBytes] bytes;
//   - no leading '/'; split on '/' only, at most [MaxComponents] components;
//   - every component passes [ValidateName].
//
// Components starting with '.' are allowed here: hidden files are legitimate
// names, and whether to serve them is the server's policy (see [IsHidden]).
//
// A path that passes is also local in the sense of [filepath.IsLocal] on
// every platform, and cannot name the root itself.
func ValidatePath(p string) error {
	if p == "" {
		return &NameError{p, "empty"}
	}
	if len(p) > MaxPathBytes {
		return &NameError{p, fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	}
	if !utf8.ValidString(p) {
		return &NameError{p, "not valid utf-8"}
	}
	if p[0] == '/' {
		return &NameError{p, "absolute path"}
	}
	n := 0
	for c := range strings.SplitSeq(p, "/") {
		n++
		if n > MaxComponents {
			return &NameError{p, fmt.Sprintf("more than %d components", MaxComponents)}
		}
		if reason := componentProblem(c); reason != "" {
			return &NameError{p, reason}
		}
	}
	// NFC last: it is the most expensive check and the cheap ones above
	// already bound the input to 1024 bytes. NFC is required so that two
	// spellings of one visible name cannot name two files (or one file
	// that a deny-list checked under its other spelling).
	if !norm.NFC.IsNormalString(p) {
		return &NameError{p, "not in unicode nfc"}
	}
	return nil
}

// ValidateName reports whether name is an acceptable single path component,
// such as a local output file name chosen by the client. It applies the
// component rule of [ValidatePath]: 1 to [MaxComponentBytes] bytes of NFC
// UTF-8; not "." or ".."; no '/', '\\', ':', '*', '?', '"', '<', '>' or '|';
// no control characters (C0, DEL, C1); no Unicode format, bidi, zero-width,
// default-ignorable, line-separator, private-use, unassigned (in this Go
// release's Unicode tables) or noncharacter code points; no trailing
// dot or space (Windows strips them, which defeats deny-lists); not a Windows
// reserved device name (CON, PRN, AUX, NUL, COM0-9, COM¹²³, LPT0-9, LPT¹²³,
// CONIN$, CONOUT$), with or without an extension, in any case.
func ValidateName(name string) error {
	if strings.Contains(name, "/") {
		return &NameError{name, "contains /"}
	}
	return ValidatePath(name)
}

// IsHidden reports whether any component of the slash-separated path p
// starts with '.'. The validator allows such names; a server that does not
// serve hidden files refuses them with this.
func IsHidden(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(c, ".") {
			return true
		}
	}
	return false
}

// componentProblem returns why c is not an acceptable component, or "".
// c is known to be valid UTF-8. Reasons never quote c: the caller's
// NameError quotes the whole name safely.
func componentProblem(c string) string {
	switch {
	case c == "":
		return "empty component"
	case c == "." || c == "..":
		return "component is . or .."
	case len(c) > MaxComponentBytes:
		return fmt.Sprintf("component longer than %d bytes", MaxComponentBytes)
	}
	for _, r := range c {
		switch {
		case strings.ContainsRune(`\:*?"<>|`, r):
			return fmt.Sprintf("contains reserved character %q", r)
		case isControl(r):
			return fmt.Sprintf("contains control character %U", r)
		case isInvisible(r):
			return fmt.Sprintf("contains invisible or bidi character %U", r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r):
			return fmt.Sprintf("contains noncharacter %U", r)
		case !unicode.IsGraphic(r) && r != ' ':
			// Unassigned code points may be tomorrow's format
			// characters; private-use ones carry other systems'
			// mappings of reserved characters (macOS SFM maps ':'
			// to U+F022). Refusing both keeps the rule conservative.
			return fmt.Sprintf("contains unassigned or private-use character %U", r)
		}
	}
	// Windows strips trailing dots and spaces, so "x.txt." would open
	// "x.txt" there. Only ASCII ones: those are what Windows strips.
	if last := c[len(c)-1]; last == '.' || last == ' ' {
		return "ends in a dot or space"
	}
	if isReservedWindowsName(c) {
		return "windows reserved device name"
	}
	return ""
}

// isControl reports C0 controls, DEL and C1 controls.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// isInvisible reports code points that render as nothing, or that change how
// surrounding text renders: format characters (zero-width space and joiners,
// bidi embeddings, overrides and isolates, soft hyphen, tags, BOM), line and
// paragraph separators, and the other default-ignorable code points (Hangul
// fillers, variation selectors, combining grapheme joiner). Such characters
// let two names look alike or make a name look like another (CVE-2021-42574).
func isInvisible(r rune) bool {
	if r < 0x80 {
		return false
	}
	return unicode.In(r,
		unicode.Cf, unicode.Zl, unicode.Zp,
		unicode.Bidi_Control,
		unicode.Other_Default_Ignorable_Code_Point,
		unicode.Variation_Selector,
	)
}

// isReservedWindowsName reports whether component c names a Windows device.
// Windows takes the base name up to the first dot, ignores trailing spaces,
// and compares without case; extensions do not help ("NUL.tar.gz" and
// "com1 .txt" are devices, at least before Windows 11).
func isReservedWindowsName(c string) bool {
	base, _, _ := strings.Cut(c, ".")
	base = strings.TrimRight(base, " ")
	switch len(base) {
	case 3:
		switch strings.ToUpper(base) {
		case "CON", "PRN", "AUX", "NUL":
			return true
		}
	case 4, 5: // COMn, LPTn with an ASCII digit, or a two-byte superscript
		prefix := strings.ToUpper(base[:3])
		if prefix != "COM" && prefix != "LPT" {
			return false
		}
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3":
			return true
		}
	case 6, 7:
		return strings.EqualFold(base, "CONIN$") || strings.EqualFold(base, "CONOUT$")
	}
	return false
}
