package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

func TestGitignore(t *testing.T) {
	smp := corpus.Samples(12)[0]
	dir := t.TempDir()
	files := map[string]string{
		".gitignore":             "*.log\n!keep.log\nbuild/\n/root-only.txt\n",
		"a.log":                  smp.Text,
		"keep.log":               smp.Text,
		"build/out.txt":          smp.Text,
		"sub/build/out.txt":      smp.Text,
		"root-only.txt":          smp.Text,
		"sub/root-only.txt":      smp.Text,
		"sub/.gitignore":         "*.txt\n!found.txt\n",
		"sub/x.txt":              smp.Text,
		"sub/found.txt":          smp.Text,
		"other/x.txt":            smp.Text,
		".git/config":            smp.Text,
		".git/info/exclude":      "excluded.cfg\n",
		"excluded.cfg":           smp.Text,
		"deep/dir/structure.env": smp.Text,
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body+"\n"), 0o644)
	}
	scanned := func(o scan.Options) []string {
		res, err := newScanner(t, o).ScanPaths(context.Background(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range res.Findings {
			out = append(out, strings.TrimPrefix(f.Path, filepath.ToSlash(dir)+"/"))
		}
		sort.Strings(out)
		return out
	}
	got := strings.Join(scanned(scan.Options{}), " ")
	want := "deep/dir/structure.env keep.log other/x.txt sub/found.txt"
	if got != want {
		t.Errorf("with .gitignore: %s\nwant %s", got, want)
	}
	if n := len(scanned(scan.Options{NoIgnore: true})); n != 11 {
		t.Errorf("with NoIgnore: %d findings, want 11 (everything but .git and .gitignore files)", n)
	}
	allow := scan.Allowlist{Paths: []string{"deep/**", "*.log"}}
	got = strings.Join(scanned(scan.Options{Allow: allow}), " ")
	if got != "other/x.txt sub/found.txt" {
		t.Errorf("with path allowlist: %s", got)
	}
}

// TestRuleAllowPathsAreRelative checks that a rule's path allowlist matches
// paths relative to the scanned directory, as the global one does.
func TestRuleAllowPathsAreRelative(t *testing.T) {
	smp := corpus.Samples(13)[0]
	dir := t.TempDir()
	for _, name := range []string{"fixtures/a.env", "src/b.env"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(smp.Text+"\n"), 0o644)
	}
	c, err := scan.ParseConfig([]byte("[[rules]]\nid = \""+smp.Rule+"\"\n[rules.allow]\npaths = [\"fixtures/**\"]\n"), "toml")
	if err != nil {
		t.Fatal(err)
	}
	rules, allow, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := scan.NewEngine(rules, allow)
	s, _ := scan.New(scan.Options{Engine: e, Allow: allow})
	res, err := s.ScanPaths(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || !strings.HasSuffix(res.Findings[0].Path, "src/b.env") {
		t.Errorf("findings %v, want only src/b.env", res.Findings)
	}
}
