package repotest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/version"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ferryproject/ferry"

// moduleRoot finds the directory of ferry's go.mod above the test's working
// directory (go test runs in the package directory).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if !strings.Contains(string(data), "module "+module+"\n") {
				t.Fatalf("%s/go.mod is not the go.mod of %s", dir, module)
			}
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// goFile is one parsed Go file of the module.
type goFile struct {
	path string // relative to the module root, with slashes
	test bool
	ast  *ast.File
}

// packageDirs parses the Go files of every package directory in the module
// with mode, keyed by the directory relative to the root ("." for the root).
// Like the go command it skips testdata, vendor, directories starting with
// "." or "_", and nested modules.
func packageDirs(t *testing.T, root string, mode parser.Mode) map[string][]goFile {
	t.Helper()
	dirs := make(map[string][]goFile)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root {
				if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					return filepath.SkipDir
				}
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, mode)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		dir := pathDir(rel)
		dirs[dir] = append(dirs[dir], goFile{path: rel, test: strings.HasSuffix(name, "_test.go"), ast: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func pathDir(rel string) string {
	if i := strings.LastIndex(rel, "/"); i >= 0 {
		return rel[:i]
	}
	return "."
}

// ignored reports a file that is never built (a "//go:build ignore" tool
// such as a generator), which is not part of its directory's package.
func ignored(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build") && strings.Contains(c.Text, "ignore") {
				return true
			}
		}
	}
	return false
}

// TestPackageDocs fails for every package without a package doc comment, so
// that go doc explains every package (a doc.go is the usual place).
func TestPackageDocs(t *testing.T) {
	for _, p := range docProblems(t, moduleRoot(t)) {
		t.Error(p)
	}
}

// docProblems lists the packages under root that lack a proper doc comment.
func docProblems(t *testing.T, root string) []string {
	t.Helper()
	dirs := packageDirs(t, root, parser.PackageClauseOnly|parser.ParseComments)
	var problems []string
	checked := 0
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		var name, doc string
		for _, f := range dirs[dir] {
			if f.test || ignored(f.ast) {
				continue
			}
			name = f.ast.Name.Name
			if f.ast.Doc != nil && doc == "" {
				doc = f.ast.Doc.Text()
			}
		}
		if name == "" {
			continue // test files only: nothing to import, nothing to document
		}
		checked++
		importPath := module
		if dir != "." {
			importPath += "/" + dir
		}
		switch {
		case doc == "":
			problems = append(problems, fmt.Sprintf("package %s (%s) has no package doc comment; add a doc.go that says what it is for", name, importPath))
		case name != "main" && !strings.HasPrefix(doc, "Package "+name+" "):
			problems = append(problems, fmt.Sprintf("package %s (%s): its doc comment should begin %q, as go doc expects; it begins %q",
				name, importPath, "Package "+name+" ", firstLine(doc)))
		}
	}
	if checked == 0 {
		t.Fatalf("found no packages under %s: the walk is broken", root)
	}
	return problems
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// TestTransferLayering keeps the protocol independent of any transport: the
// non-test code under transfer/ may use package transport, but not quic-go
// or a concrete transport. Tests may import them to run over real transports.
func TestTransferLayering(t *testing.T) {
	root := moduleRoot(t)
	problems, files := layeringProblems(t, root)
	for _, p := range problems {
		t.Error(p)
	}
	if files == 0 {
		t.Skip("transfer/ has no non-test Go files yet: nothing to check")
	}
}

// forbiddenInTransfer are the import paths that the non-test code under
// transfer/ must not use, each with everything beneath it.
var forbiddenInTransfer = []string{
	"github.com/quic-go",                // every quic-go module
	module + "/transport/quic",          // the concrete transports
	module + "/transport/tcp",           //
	module + "/transport/transporttest", // test code
	"golang.org/x/net/quic",             // another QUIC stack is just as concrete
}

// forbiddenImport reports whether the import path p is or lies beneath one
// of forbiddenInTransfer. Package transport itself is allowed.
func forbiddenImport(p string) bool {
	for _, bad := range forbiddenInTransfer {
		if p == bad || strings.HasPrefix(p, bad+"/") {
			return true
		}
	}
	return false
}

// layeringProblems lists the forbidden imports of the non-test files under
// root/transfer and counts the files it checked.
func layeringProblems(t *testing.T, root string) (problems []string, files int) {
	t.Helper()
	for dir, fs := range packageDirs(t, root, parser.ImportsOnly) {
		if dir != "transfer" && !strings.HasPrefix(dir, "transfer/") {
			continue
		}
		for _, f := range fs {
			if f.test || ignored(f.ast) {
				continue
			}
			files++
			for _, imp := range f.ast.Imports {
				p, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					t.Fatalf("%s: %v", f.path, err)
				}
				if forbiddenImport(p) {
					problems = append(problems, fmt.Sprintf("%s imports %q: code under transfer/ may depend only on package transport (%s/transport), never on quic-go or a concrete transport",
						f.path, p, module))
				}
			}
		}
	}
	slices.Sort(problems)
	return problems, files
}

// minGo is the oldest toolchain ferry may be built with: go1.26.5 fixed
// os.Root escaping through "symlink/" (CVE-2026-39822); see
// shared/notes/defenses.md §3.4.
const minGo = "go1.26.5"

// TestToolchain fails when the toolchain that runs the tests, or the one
// go.mod asks for, is older than minGo.
func TestToolchain(t *testing.T) {
	v := runtime.Version()
	if !version.IsValid(v) {
		t.Skipf("runtime.Version() = %q is not a release version; cannot compare it with %s", v, minGo)
	}
	if version.Compare(v, minGo) < 0 {
		t.Errorf("built with %s; ferry needs at least %s for the os.Root fixes (defenses.md §3.4)", v, minGo)
	}

	f, err := os.Open(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "toolchain "); ok {
			if tc := strings.TrimSpace(rest); version.Compare(tc, minGo) < 0 {
				t.Errorf("go.mod asks for toolchain %s; it must be at least %s (defenses.md §3.4)", tc, minGo)
			}
			return
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Errorf("go.mod has no toolchain line; pin one of at least %s so that older toolchains fetch it (defenses.md §3.4)", minGo)
}
