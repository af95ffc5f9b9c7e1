package e2e_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every package says in exactly one comment what it owns ("Package x ..."
// or, for commands, "Command x ..."), as STYLE.md asks.
func TestEveryPackageHasOneDocComment(t *testing.T) {
	root := filepath.Join("..", "..")
	dirs := map[string]bool{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			dirs[filepath.Dir(p)] = true
		}
		return nil
	})
	if len(dirs) < 20 {
		t.Fatalf("found only %d package directories; is the walk rooted at the module?", len(dirs))
	}
	for dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		for name, pkg := range pkgs {
			var docs []string
			for file, f := range pkg.Files {
				if f.Doc != nil {
					docs = append(docs, filepath.Base(file))
					want := "Package " + name + " "
					if name == "main" {
						want = "Command "
					}
					if !strings.HasPrefix(f.Doc.Text(), want) {
						t.Errorf("%s: package comment in %s starts %q, want %q", dir, filepath.Base(file), firstLine(f.Doc.Text()), want)
					}
				}
			}
			if len(docs) != 1 {
				t.Errorf("%s: package %s has %d package comments (%v), want exactly 1", dir, name, len(docs), docs)
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
