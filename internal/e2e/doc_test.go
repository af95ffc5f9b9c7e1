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
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		docs := map[string][]string{} // package name -> files with a package comment
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			name := f.Name.Name
			if _, ok := docs[name]; !ok {
				docs[name] = nil
			}
			if f.Doc == nil {
				continue
			}
			docs[name] = append(docs[name], filepath.Base(file))
			want := "Package " + name + " "
			if name == "main" {
				want = "Command "
			}
			if !strings.HasPrefix(f.Doc.Text(), want) {
				t.Errorf("%s: package comment in %s starts %q, want %q", dir, filepath.Base(file), firstLine(f.Doc.Text()), want)
			}
		}
		for name, withDoc := range docs {
			if len(withDoc) != 1 {
				t.Errorf("%s: package %s has %d package comments (%v), want exactly 1", dir, name, len(withDoc), withDoc)
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
