package safefs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidatePathAccepts(t *testing.T) {
	for _, tc := range []struct{ name, p string }{
		{"plain", "file.txt"},
		{"nested", "dir/sub/file.txt"},
		{"hidden files are the server's policy", ".bashrc"},
		{"hidden dir", "a/.git/config"},
		{"spaces inside", "my file (1).txt"},
		{"leading space", " lead"},
		{"dots inside", "archive.tar.gz"},
		{"dot dot prefix", "..a"},
		{"unicode nfc", "café/naïve résumé.pdf"},
		{"cjk", "日本語/ファイル.txt"},
		{"emoji without selectors", "🙂.png"},
		{"reserved name as part of a longer one", "CONSOLE.txt"},
		{"reserved name after a dot", "x.CON"},
		{"COM with two digits", "COM10"},
		{"LPT without a digit", "LPT"},
		{"dollar", "CONIN$x"},
		{"max components", strings.Repeat("a/", MaxComponents-1) + "a"},
		{"max component bytes", strings.Repeat("x", MaxComponentBytes)},
		{"max path bytes", strings.Repeat(strings.Repeat("x", 254)+"/", 4) + strings.Repeat("y", MaxPathBytes-4*255)},
		{"non-ascii space inside", "a\u00a0b"},
		{"combining mark with no precomposed form", "q\u0303"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidatePath(tc.p); err != nil {
				t.Errorf("ValidatePath(%q) = %v, want nil", tc.p, err)
			}
		})
	}
}

func TestValidatePathRejects(t *testing.T) {
	for _, tc := range []struct{ attack, p string }{
		{"empty", ""},
		{"absolute", "/etc/passwd"},
		{"double slash absolute", "//server/share"},
		{"parent", ".."},
		{"parent prefix", "../x"},
		{"parent inside", "a/../b"},
		{"parent at end", "a/.."},
		{"dot", "."},
		{"dot prefix", "./a"},
		{"dot inside", "a/./b"},
		{"empty component", "a//b"},
		{"trailing slash", "a/"},
		{"backslash traversal", `..\..\windows\win.ini`},
		{"backslash inside", `a\b`},
		{"unc", `\\server\share`},
		{"drive letter", "C:"},
		{"drive path", "C:/x"},
		{"alternate data stream", "file.txt:stream"},
		{"star", "a*"},
		{"question", "a?"},
		{"quote", `a"b`},
		{"less", "a<b"},
		{"greater", "a>b"},
		{"pipe", "a|b"},
		{"nul", "a\x00b"},
		{"newline", "a\nb"},
		{"carriage return", "a\rb"},
		{"tab", "a\tb"},
		{"escape sequence", "\x1b[31mred"},
		{"osc title sequence", "\x1b]0;pwned\x07"},
		{"del", "a\x7fb"},
		{"c1 csi", "a\u009bb"},
		{"c1 nel", "a\u0085b"},
		{"bidi override", "exe.\u202etxt"},
		{"bidi isolate", "a\u2066b"},
		{"arabic letter mark", "a\u061cb"},
		{"zero width space", "a\u200bb"},
		{"zero width joiner", "a\u200db"},
		{"word joiner", "a\u2060b"},
		{"byte order mark", "\ufeffa"},
		{"soft hyphen", "pay\u00adpal"},
		{"tag character", "a\U000e0041"},
		{"hangul filler", "a\u3164b"},
		{"variation selector", "a\ufe0fb"},
		{"combining grapheme joiner", "a\u034fb"},
		{"line separator", "a\u2028b"},
		{"paragraph separator", "a\u2029b"},
		{"noncharacter", "a\uffffb"},
		{"private use (macOS maps ':' here)", "a\uf022b"},
		{"unassigned code point", "a\u0378b"},
		{"non-nfc e + combining acute", "e\u0301"},
		{"non-nfc in a directory", "cafe\u0301/x"},
		{"non-nfc singleton (angstrom sign)", "\u212b"},
		{"invalid utf-8", "a\xffb"},
		{"overlong utf-8 slash", "a\xc0\xafb"},
		{"encoded surrogate", "a\xed\xa0\x80b"},
		{"truncated utf-8", "a\xe6\x97"},
		{"too long path", strings.Repeat("a/", 600)[:MaxPathBytes+1]},
		{"too long component", strings.Repeat("x", MaxComponentBytes+1)},
		{"too many components", strings.Repeat("a/", MaxComponents) + "a"},
		{"CON", "CON"},
		{"con lower case", "con"},
		{"PRN", "PRN"},
		{"AUX in a directory", "dir/AUX"},
		{"NUL with extensions", "NUL.tar.gz"},
		{"com1 with extension", "com1.txt"},
		{"COM0", "COM0"},
		{"COM superscript", "COM\u00b9"},
		{"LPT9", "LPT9.log"},
		{"LPT superscript", "lpt\u00b3.x"},
		{"CONIN$", "CONIN$"},
		{"conout$ with extension", "conout$.txt"},
		{"reserved with trailing space before extension", "CON .txt"},
		{"trailing dot", "x."},
		{"three dots (windows strips them all)", "..."},
		{"trailing dot in a directory", "dir./x"},
		{"trailing space", "x "},
		{"trailing spaces", "x.txt  "},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			err := ValidatePath(tc.p)
			if err == nil {
				t.Fatalf("ValidatePath(%q) = nil, want an error", tc.p)
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("error %v does not match ErrInvalidName", err)
			}
			var ne *NameError
			if !errors.As(err, &ne) || ne.Name != tc.p || ne.Reason == "" {
				t.Errorf("error %#v is not a *NameError for %q with a reason", err, tc.p)
			}
			assertPrintable(t, err.Error())
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"report.pdf", ".hidden", "résumé"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a/b", "/", "..", ".", "", "x/", "CON", "a\x00"} {
		if err := ValidateName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestIsHidden(t *testing.T) {
	for p, want := range map[string]bool{
		"a": false, "a/b.c": false, ".a": true, "a/.b": true, "a/.b/c": true, "a./b": false,
	} {
		if got := IsHidden(p); got != want {
			t.Errorf("IsHidden(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzValidatePath checks the promises of the rule on arbitrary input: what
// it accepts is local on every platform and cannot climb out of a root.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "../x", "a/../b", "/x", "C:/x", `a\b`, "e\u0301", "\u202e", "NUL.txt",
		"x.", "a//b", "\xff", ".a/.b", strings.Repeat("a/", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("rejection %v does not match ErrInvalidName", err)
			}
			assertPrintable(t, err.Error())
			return
		}
		switch {
		case !utf8.ValidString(p):
			t.Fatalf("accepted invalid UTF-8 %q", p)
		case strings.HasPrefix(p, "/"):
			t.Fatalf("accepted absolute %q", p)
		case strings.Contains(p, ".."+"/") || strings.HasSuffix(p, "/..") || p == "..":
			t.Fatalf("accepted a parent component in %q", p)
		case strings.Contains(p, `\`) || strings.Contains(p, ":") || strings.Contains(p, "\x00"):
			t.Fatalf("accepted a Windows separator, colon or NUL in %q", p)
		case !filepath.IsLocal(p):
			t.Fatalf("accepted non-local %q", p)
		case filepath.Clean(p) != p:
			t.Fatalf("accepted unclean %q (clean: %q)", p, filepath.Clean(p))
		case len(p) > MaxPathBytes:
			t.Fatalf("accepted %d bytes", len(p))
		}
		for _, r := range p {
			if r != ' ' && !unicode.IsGraphic(r) && r != '/' {
				t.Fatalf("accepted non-graphic %U in %q", r, p)
			}
		}
		for c := range strings.SplitSeq(p, "/") {
			if ValidateName(c) != nil {
				t.Fatalf("accepted %q but not its component %q", p, c)
			}
		}
		// Everything the rule accepts prints as is, except the lookalikes
		// that Printable deliberately flags.
		if Printable(p) != p && !hasLookalike(p) {
			t.Fatalf("valid %q printed as %s", p, Printable(p))
		}
	})
}

// hasLookalike reports characters the name rule allows but Printable escapes.
func hasLookalike(p string) bool {
	if strings.HasPrefix(p, " ") {
		return true
	}
	prev := rune(-1)
	for _, r := range p {
		if r == '\u2800' {
			return true
		}
		if r > 0x7f && (unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Co, r) || !unicode.IsGraphic(r) || r == utf8.RuneError) {
			return true
		}
		if unicode.In(r, unicode.M) && (prev < 0 || !unicode.In(prev, unicode.L, unicode.N, unicode.M)) {
			return true
		}
		prev = r
	}
	return false
}

// The ".." substring by itself is fine inside a component ("a..b", "..c");
// what must never pass is a ".." component, which the fuzz target checks.
func TestDotDotInsideComponent(t *testing.T) {
	if err := ValidatePath("a..b/..c"); err != nil {
		t.Fatal(err)
	}
}

func TestFoldKey(t *testing.T) {
	same := [][2]string{
		{"README", "readme"},
		{"Straße", "STRASSE"},
		{"caf\u00e9", "cafe\u0301"}, // NFC and NFD spellings
		{"\ufb01le", "file"},        // the "fi" ligature
		{"dir/Sub/A.txt", "DIR/sub/a.TXT"},
		{"\u212a", "k"}, // KELVIN SIGN
	}
	for _, p := range same {
		if FoldKey(p[0]) != FoldKey(p[1]) {
			t.Errorf("FoldKey(%q) = %q, FoldKey(%q) = %q: want equal", p[0], FoldKey(p[0]), p[1], FoldKey(p[1]))
		}
	}
	differ := [][2]string{{"a", "b"}, {"a/b", "ab"}, {"café", "cafe"}}
	for _, p := range differ {
		if FoldKey(p[0]) == FoldKey(p[1]) {
			t.Errorf("FoldKey(%q) == FoldKey(%q)", p[0], p[1])
		}
	}
}
