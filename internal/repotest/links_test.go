package repotest

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// mdLink matches the target of an inline Markdown link or image:
// [text](target) or [text](target "title").
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocLinks fails for every link in README.md and docs/*.md that points
// at a file of the repository that does not exist, or at a heading (#anchor)
// that the target file does not have, so that the docs stay navigable as
// they are edited. Links with a scheme (https:, mailto:) are not checked.
func TestDocLinks(t *testing.T) {
	root := moduleRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"))
	anchorsOf := map[string]map[string]bool{}
	anchors := func(file string) map[string]bool {
		if a, ok := anchorsOf[file]; ok {
			return a
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		a := headingAnchors(string(data))
		anchorsOf[file] = a
		return a
	}
	checked := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for i, line := range strings.Split(withoutCodeBlocks(string(data)), "\n") {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, ":") {
					continue // a URL
				}
				path, anchor, _ := strings.Cut(target, "#")
				file := doc
				if path != "" {
					file = filepath.Join(filepath.Dir(doc), filepath.FromSlash(path))
					if _, err := os.Stat(file); err != nil {
						t.Errorf("%s:%d: link to %s: no such file", rel, i+1, target)
						continue
					}
				}
				checked++
				if anchor == "" || !strings.HasSuffix(file, ".md") {
					continue
				}
				if !anchors(file)[anchor] {
					t.Errorf("%s:%d: link to %s: %s has no heading with the anchor #%s", rel, i+1, target, filepath.Base(file), anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no links at all: the link pattern is broken")
	}
}

// withoutCodeBlocks blanks the lines of fenced code blocks, keeping the line
// count, so that text in them is not taken for links or headings.
func withoutCodeBlocks(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, punctuation other than '-' and '_'
// dropped, spaces made '-', and "-1", "-2"... appended to repeats.
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(withoutCodeBlocks(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// The anchors of a few headings as GitHub makes them.
func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors("# Benchmarks: `ferry bench`\n## Small files: each peer of its kind, and `--no-sync`\n### `lan`: 1 ms, no loss, 1 gbit\n## Notes\n## Notes\n```\n# not a heading\n```\n")
	for _, want := range []string{"benchmarks-ferry-bench", "small-files-each-peer-of-its-kind-and---no-sync", "lan-1-ms-no-loss-1-gbit", "notes", "notes-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block was taken for a heading")
	}
}
