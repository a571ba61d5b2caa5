package safefs

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s in a form safe to write to a terminal or a log line.
//
// An ordinary name is returned unchanged. Anything else — a name holding
// control, bidi, zero-width or other invisible characters, non-ASCII spaces,
// unassigned or private-use code points, invalid UTF-8, a backslash or a
// double quote, a leading or trailing space, a leading combining mark, or
// the empty string — is returned as a double-quoted Go string literal in
// which every such character is escaped (\n, \x1b, \u202e, ...). The quotes
// make the escaping visible, so a file literally named `a\u202e` cannot pass
// for one holding U+202E, and strconv.Unquote recovers the original bytes.
//
// The output never contains a byte below 0x20, DEL, a C1 control or any
// character for which [unicode.IsGraphic] is false.
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	return quoteAlways(s)
}

// isPlain reports whether s can be printed as is.
func isPlain(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prev := rune(-1)
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || r == '"' || needsEscape(r, prev) {
			// RuneError here is either invalid UTF-8 or a literal U+FFFD,
			// which looks like damage: escape both.
			return false
		}
		prev = r
	}
	return true
}

// needsEscape reports whether r, following prev (-1 at the start), must be
// escaped to be shown safely.
func needsEscape(r, prev rune) bool {
	switch {
	case r == ' ':
		return false
	case r < 0x80:
		return r < 0x20 || r == 0x7f
	case isInvisible(r), !unicode.IsGraphic(r), unicode.Is(unicode.Co, r):
		return true
	case unicode.Is(unicode.Zs, r), r == '\u2800':
		// Non-ASCII spaces and the blank braille pattern look like an
		// ASCII space (or nothing) but are different names.
		return true
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		// A combining mark with no letter to sit on would combine with
		// whatever the terminal printed before the name (or the quote).
		return prev < 0 || !unicode.In(prev, unicode.L, unicode.N, unicode.M)
	}
	return false
}

// quoteAlways returns s as a double-quoted Go string literal, escaping what
// needsEscape reports, invalid bytes, backslash and the double quote.
func quoteAlways(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
			i++
			prev = -1
			continue
		}
		i += size
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError || needsEscape(r, prev):
			// strconv picks \a, \n, \x1b, \u202e, \U000e0001 forms;
			// strip its quotes. QuoteRuneToASCII never emits non-ASCII.
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			r = -1 // an escape is not a letter a mark could sit on
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	b.WriteByte('"')
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
