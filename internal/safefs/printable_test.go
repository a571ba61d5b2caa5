package safefs

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// assertPrintable fails unless s is safe to write to a terminal: valid UTF-8
// with no control, format, bidi or otherwise invisible characters.
func assertPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("output %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r == ' ' {
			continue
		}
		if isControl(r) || isInvisible(r) || !unicode.IsGraphic(r) {
			t.Fatalf("output %q holds %U", s, r)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ attack, in, want string }{
		{"ordinary name unchanged", "report.pdf", "report.pdf"},
		{"inner spaces unchanged", "my file.txt", "my file.txt"},
		{"unicode unchanged", "café 日本", "café 日本"},
		{"combining mark after a letter unchanged", "q\u0303", "q\u0303"},
		{"empty is visible", "", `""`},
		{"escape sequence", "\x1b[2Jx", `"\x1b[2Jx"`},
		{"title set osc", "\x1b]0;owned\x07", `"\x1b]0;owned\a"`},
		{"newline forging a log line", "a\nERROR fake", `"a\nERROR fake"`},
		{"carriage return overwriting", "good\rbad", `"good\rbad"`},
		{"c1 csi", "a\u009b2J", `"a\u009b2J"`},
		{"bidi override", "exe.\u202etxt", `"exe.\u202etxt"`},
		{"zero width space", "a\u200bb", `"a\u200bb"`},
		{"hangul filler", "\u3164", `"\u3164"`},
		{"non-ascii space", "a\u00a0b", `"a\u00a0b"`},
		{"braille blank", "\u2800", `"\u2800"`},
		{"tag character", "a\U000e0041", `"a\U000e0041"`},
		{"private use", "\ue000", `"\ue000"`},
		{"invalid utf-8", "a\xffb", `"a\xffb"`},
		{"literal replacement character", "a\ufffd", `"a\ufffd"`},
		{"trailing space", "x ", `"x "`},
		{"leading space", " x", `" x"`},
		{"leading combining mark", "\u0301x", `"\u0301x"`},
		{"backslash cannot fake an escape", `a\u202e`, `"a\\u202e"`},
		{"quote cannot fake quoting", `"x"`, `"\"x\""`},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			got := Printable(tc.in)
			if got != tc.want {
				t.Errorf("Printable(%q) = %s, want %s", tc.in, got, tc.want)
			}
			assertPrintable(t, got)
			if got != tc.in {
				back, err := strconv.Unquote(got)
				if err != nil || back != tc.in {
					t.Errorf("Unquote(%s) = %q, %v; want %q", got, back, err, tc.in)
				}
			}
		})
	}
}

func TestNameErrorMessageIsSafe(t *testing.T) {
	err := ValidatePath("x\x1b]0;pwned\x07/\u202e")
	msg := err.Error()
	assertPrintable(t, msg)
	if !strings.Contains(msg, `\x1b`) {
		t.Errorf("message %q does not show the escape", msg)
	}
}

// FuzzPrintable: the output is always terminal-safe, and either the input
// itself or a Go literal that unquotes to it.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[0m", "\u202e", "a\xff", `"\`, " ", "\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		assertPrintable(t, got)
		if got == s {
			return
		}
		back, err := strconv.Unquote(got)
		if err != nil || back != s {
			t.Fatalf("Unquote(%s) = %q, %v; want %q", got, back, err, s)
		}
	})
}
