package scan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

func newScanner(t testing.TB, opts scan.Options) *scan.Scanner {
	t.Helper()
	rules, allow, err := (&scan.Config{}).Build()
	if err != nil {
		t.Fatal(err)
	}
	e, err := scan.NewEngine(rules, allow)
	if err != nil {
		t.Fatal(err)
	}
	opts.Engine = e
	s, err := scan.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEveryRuleHasASample(t *testing.T) {
	have := map[string]bool{}
	for _, s := range corpus.Samples(1) {
		have[s.Rule] = true
	}
	rules := scan.BuiltinRules()
	if len(rules) < 120 {
		t.Errorf("built-in rules = %d, want at least 120", len(rules))
	}
	for _, r := range rules {
		if !have[r.ID] {
			t.Errorf("rule %s has no corpus sample", r.ID)
		}
	}
}

// TestCorpusRecall plants every kind in every container and requires all
// of them found, and nothing else.
func TestCorpusRecall(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		dir := t.TempDir()
		planted, err := corpus.WriteTree(dir, seed)
		if err != nil {
			t.Fatal(err)
		}
		s := newScanner(t, scan.Options{})
		res, err := s.ScanPaths(context.Background(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		type key struct{ path, rule string }
		found := map[key][]scan.Finding{}
		for _, f := range res.Findings {
			p := strings.TrimPrefix(f.Path, strings.TrimSuffix(dir, "/")+"/")
			found[key{p, f.RuleID}] = append(found[key{p, f.RuleID}], f)
		}
		expected := map[key]bool{}
		hit, total := 0, 0
		for _, p := range planted {
			if p.Kind == "ignored" || p.Kind == "binary" {
				if len(found[key{p.Path, p.Rule}]) > 0 {
					t.Errorf("seed %d: %s file %s was scanned", seed, p.Kind, p.Path)
				}
				continue
			}
			total++
			expected[key{p.Path, p.Rule}] = true
			ok := false
			for _, f := range found[key{p.Path, p.Rule}] {
				if f.Secret.Reveal() == p.Secret {
					ok = true
					if f.Confidence < scan.ConfidenceMedium {
						t.Errorf("seed %d: %s in %s found at confidence %s (%s): hidden by default", seed, p.Rule, p.Path, f.Confidence, f.TestMaterial)
					}
				}
			}
			if ok {
				hit++
			} else {
				t.Errorf("seed %d: missed %s in %s (%s)", seed, p.Rule, p.Path, p.Kind)
			}
		}
		fp := 0
		for k, fs := range found {
			if !expected[k] {
				fp += len(fs)
				t.Errorf("seed %d: unexpected %s in %s (%s)", seed, k.rule, k.path, fs[0].Redacted)
			}
		}
		t.Logf("seed %d: recall %d/%d, false positives %d, %d files", seed, hit, total, fp, res.Files)
	}
}

func TestIgnoredAndBinaryOnRequest(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.WriteTree(dir, 1); err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, scan.Options{NoIgnore: true, Binary: true})
	res, err := s.ScanPaths(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"local/dev.env": false, "bin/tool.dat": false}
	for _, f := range res.Findings {
		for p := range want {
			if strings.HasSuffix(f.Path, p) {
				want[p] = true
			}
		}
	}
	for p, ok := range want {
		if !ok {
			t.Errorf("%s not scanned with NoIgnore and Binary", p)
		}
	}
}

// TestSampleRecallManySeeds scans every sample kind under many seeds, so a
// suppression rule that random values can trip (a placeholder word inside
// a random password) shows up as a miss.
func TestSampleRecallManySeeds(t *testing.T) {
	s := newScanner(t, scan.Options{})
	misses := 0
	for seed := uint64(100); seed < 160; seed++ {
		ss := corpus.Samples(seed)
		var in strings.Builder
		for _, smp := range ss {
			in.WriteString(smp.Text + "\n\n")
		}
		res, err := s.ScanReader(context.Background(), "many", strings.NewReader(in.String()))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, f := range res.Findings {
			found[f.RuleID+"\x00"+f.Secret.Reveal()] = true
		}
		for _, smp := range ss {
			if !found[smp.Rule+"\x00"+smp.Secret] {
				misses++
				t.Errorf("seed %d: missed %s (redacted %s)", seed, smp.Rule, scan.Redact(smp.Secret))
			}
		}
	}
	t.Logf("60 seeds x %d kinds: %d missed", len(corpus.Samples(1)), misses)
}

// TestSyntaxRecall plants, for every syntax the generic rules know
// (properties, INI, dotenv, YAML, JSON, TOML, XML, HCL, shell, Dockerfile,
// seven languages, environment calls and command-line flags), credentials
// under key names in every style, in a file named as that syntax's files
// are, under many seeds. Every one must be found, with its rule, value and
// line, and nothing else; the syntax's near-misses (placeholders, template
// references, look-alike names such as bypass or passwordHint) must yield
// no finding at all.
func TestSyntaxRecall(t *testing.T) {
	s := newScanner(t, scan.Options{})
	samples, nearMisses := 0, 0
	for seed := uint64(1); seed <= 40; seed++ {
		for _, sy := range corpus.Syntaxes(seed) {
			var in strings.Builder
			type want struct {
				rule, secret string
				line         int
			}
			wants := map[want]bool{}
			for _, smp := range sy.Samples {
				line := strings.Count(in.String(), "\n") + 1
				k := strings.Index(smp.Text, smp.Secret)
				if k < 0 {
					t.Fatalf("%s: sample without its secret", sy.Name)
				}
				wants[want{smp.Rule, smp.Secret, line + strings.Count(smp.Text[:k], "\n")}] = true
				in.WriteString(smp.Text + "\n")
			}
			samples += len(sy.Samples)
			res, err := s.ScanReader(context.Background(), "conf/"+sy.File, strings.NewReader(in.String()))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.Findings {
				w := want{f.RuleID, f.Secret.Reveal(), f.Line}
				if !wants[w] {
					t.Errorf("seed %d %s: unexpected %s at line %d (%s)", seed, sy.Name, f.RuleID, f.Line, f.Redacted)
				} else if f.Confidence < scan.ConfidenceMedium {
					t.Errorf("seed %d %s: %s at line %d has confidence %s: hidden by default", seed, sy.Name, f.RuleID, f.Line, f.Confidence)
				}
				delete(wants, w)
			}
			for w := range wants {
				t.Errorf("seed %d %s: missed %s at line %d: %q", seed, sy.Name, w.rule, w.line, lineOf(in.String(), w.line))
			}
			for _, l := range sy.NearMisses {
				nearMisses++
				res, err := s.ScanReader(context.Background(), "conf/"+sy.File, strings.NewReader(l+"\n"))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range res.Findings {
					t.Errorf("seed %d %s: near-miss reported as %s: %q", seed, sy.Name, f.RuleID, l)
				}
			}
		}
	}
	t.Logf("%d samples and %d near-misses in %d syntaxes", samples, nearMisses, len(corpus.Syntaxes(1)))
}

func lineOf(s string, n int) string {
	ls := strings.Split(s, "\n")
	if n < 1 || n > len(ls) {
		return ""
	}
	return ls[n-1]
}
