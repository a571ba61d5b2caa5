package repotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The guards must be able to fail: these tests run them on small trees
// that break each rule once, next to files that keep it.

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDocProblemsFindsUndocumented(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":              "module " + module + "\n",
		"good/doc.go":         "// Package good is documented.\npackage good\n",
		"good/code.go":        "package good\n",
		"nodoc/a.go":          "package nodoc\n",
		"nodoc/a_test.go":     "// Package nodoc documented only in a test does not count.\npackage nodoc\n",
		"wrongform/a.go":      "// This package does things.\npackage wrongform\n",
		"cmd/tool/main.go":    "// Tool does things.\npackage main\n",
		"onlytests/x_test.go": "package onlytests\n",
		"testdata/bad/a.go":   "package bad\n",
		"nested/go.mod":       "module example.com/nested\n",
		"nested/inner/a.go":   "package inner\n",
		"gen/gen.go":          "//go:build ignore\n\npackage main\n",
		"gen/doc.go":          "// Package gen is documented.\npackage gen\n",
	})
	got := strings.Join(docProblems(t, root), "\n")
	for _, want := range []string{"package nodoc (" + module + "/nodoc) has no package doc", "package wrongform (" + module + "/wrongform): its doc comment should begin"} {
		if !strings.Contains(got, want) {
			t.Errorf("docProblems did not report %q; it said:\n%s", want, got)
		}
	}
	for _, notWant := range []string{"good", "main", "onlytests", "bad", "inner", "gen"} {
		if strings.Contains(got, "package "+notWant+" ") {
			t.Errorf("docProblems reported package %s, which keeps the rule or is not part of the module:\n%s", notWant, got)
		}
	}
}

func TestLayeringProblemsFindsConcreteImports(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":              "module " + module + "\n",
		"transfer/ok.go":      "package transfer\n\nimport _ \"" + module + "/transport\"\n",
		"transfer/bad.go":     "package transfer\n\nimport _ \"github.com/quic-go/quic-go\"\n",
		"transfer/sub/bad.go": "package sub\n\nimport (\n\t_ \"" + module + "/transport/tcp\"\n\t_ \"" + module + "/transport/quic\"\n)\n",
		"transfer/ok_test.go": "package transfer\n\nimport _ \"" + module + "/transport/quic\"\n",
		"transportish/x.go":   "package transportish\n\nimport _ \"github.com/quic-go/quic-go\"\n",
		"transfer/qlog.go":    "package transfer\n\nimport _ \"github.com/quic-go/quic-go/qlog\"\n",
	})
	problems, files := layeringProblems(t, root)
	if files != 4 {
		t.Errorf("checked %d non-test files under transfer/, want 4", files)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		`transfer/bad.go imports "github.com/quic-go/quic-go"`,
		`transfer/qlog.go imports "github.com/quic-go/quic-go/qlog"`,
		`transfer/sub/bad.go imports "` + module + `/transport/tcp"`,
		`transfer/sub/bad.go imports "` + module + `/transport/quic"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("layeringProblems did not report %s; it said:\n%s", want, got)
		}
	}
	if len(problems) != 4 {
		t.Errorf("got %d problems, want 4 (tests and code outside transfer/ may import anything):\n%s", len(problems), got)
	}
}
