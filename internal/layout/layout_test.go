// Package layout holds the test that keeps the import rules of
// docs/architecture.md true: imports point down the package list, the core
// wires no engine or sys/ service itself, and test support never reaches
// production code. It reads the import lines of every non-test file.
package layout_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/keyward/keyward/"

// imports maps each package directory (relative to the module root, such
// as "internal/core") to the packages of this module its non-test files
// import, in the same form.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, top := range []string{"api", "cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			seen := map[string]bool{}
			for _, p := range out[rel] {
				seen[p] = true
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if after, ok := strings.CutPrefix(p, module); ok && !seen[after] {
					seen[after] = true
					out[rel] = append(out[rel], after)
				}
			}
			if _, ok := out[rel]; !ok {
				out[rel] = nil
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out["internal/core"]) == 0 || len(out["internal/node"]) == 0 {
		t.Fatalf("read no imports of core or node: %v", slices.Sorted(maps.Keys(out)))
	}
	return out
}

// under reports whether pkg is dir or below it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func anyUnder(pkg string, dirs ...string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return under(pkg, d) })
}

// testSupport are the packages that exist for tests only.
var testSupport = []string{
	"internal/clocktest", "internal/testsvc", "internal/logical/logicaltest", "internal/logical/routetest",
	"internal/storage/storagetest", "internal/node/nodetest", "internal/auth/jwt/jwttest", "internal/engine/ssh/sshdtest",
}

func TestImportRules(t *testing.T) {
	all := imports(t)
	rules := []struct {
		name  string
		from  func(pkg string) bool
		never func(imp string) bool
	}{
		{"api is the public client and imports nothing under internal/",
			func(p string) bool { return under(p, "api") },
			func(i string) bool { return under(i, "internal") }},
		{"only node builds a core (and nodetest, beside it)",
			func(p string) bool { return !anyUnder(p, "internal/core", "internal/node") },
			func(i string) bool { return i == "internal/core" }},
		{"only the CLI starts a node",
			func(p string) bool { return !anyUnder(p, "internal/cli", "internal/node", "cmd") },
			func(i string) bool { return i == "internal/node" }},
		{"the core wires no engine and no sys/ service: node supplies them",
			func(p string) bool { return p == "internal/core" },
			func(i string) bool {
				return anyUnder(i, "internal/engine", "internal/lease", "internal/audit", "internal/wrapping", "internal/passpol",
					"internal/httpapi", "internal/node", "internal/config", "internal/cli") ||
					(under(i, "internal/auth") && !anyUnder(i, "internal/auth/token", "internal/auth/tokenparams"))
			}},
		{"services and engines sit below the core and the server",
			func(p string) bool {
				return anyUnder(p, "internal/lease", "internal/audit", "internal/wrapping", "internal/passpol", "internal/engine", "internal/auth", "internal/identity") &&
					!slices.Contains(testSupport, p)
			},
			func(i string) bool {
				return anyUnder(i, "internal/core", "internal/node", "internal/httpapi", "internal/cli", "internal/config")
			}},
		{"the HTTP layer routes to the core through logical only",
			func(p string) bool { return p == "internal/httpapi" },
			func(i string) bool {
				return anyUnder(i, "internal/core", "internal/node", "internal/engine", "internal/auth")
			}},
		{"leaves import nothing of ours",
			func(p string) bool {
				return slices.Contains([]string{"internal/sensitive", "internal/storage", "internal/cidr", "internal/uuid",
					"internal/tokenfmt", "internal/mask", "internal/hostinfo", "internal/clocktest"}, p)
			},
			func(string) bool { return true }},
		{"logical, the seam, imports only the leaves below it",
			func(p string) bool { return p == "internal/logical" },
			func(i string) bool { return !slices.Contains([]string{"internal/sensitive", "internal/storage"}, i) }},
		{"test support never reaches production code",
			func(p string) bool { return !slices.Contains(testSupport, p) },
			func(i string) bool { return slices.Contains(testSupport, i) }},
	}
	for _, r := range rules {
		checked := 0
		for _, pkg := range slices.Sorted(maps.Keys(all)) {
			if !r.from(pkg) {
				continue
			}
			checked++
			for _, imp := range all[pkg] {
				if r.never(imp) {
					t.Errorf("%s: %s imports %s", r.name, pkg, imp)
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: the rule matched no package", r.name)
		}
	}
}

// Wiring is explicit: node builds its services from one list, so no
// package outside the CLI's command registration (and cmd) registers
// itself from an init function.
func TestNoInitRegistries(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if under(filepath.ToSlash(filepath.Dir(rel)), "internal/cli") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "init" {
				t.Errorf("%s: func init (wire it in node's explicit list instead)", fset.Position(fn.Pos()))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read only %d files", files)
	}
}

// The rules catch what they are for: a planted upward import is reported.
func TestImportRulesSeeTheTree(t *testing.T) {
	all := imports(t)
	if !slices.Contains(all["internal/node"], "internal/core") {
		t.Fatalf("node's imports %q miss internal/core: the reader is broken", all["internal/node"])
	}
	if _, err := os.Stat("../core/core.go"); err != nil {
		t.Fatalf("not run from internal/layout: %v", err)
	}
}
