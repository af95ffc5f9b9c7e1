package scan

import (
	"bytes"
	"io"
	"math/rand/v2"
	"regexp/syntax"
	"slices"
	"testing"
)

// naiveFind lists (end, keyword) pairs by brute force.
func naiveFind(data []byte, kws []string) [][2]int {
	low := make([]byte, len(data))
	for i, c := range data {
		low[i] = lower(c)
	}
	var out [][2]int
	for end := 1; end <= len(low); end++ {
		for k, kw := range kws {
			if end >= len(kw) && string(low[end-len(kw):end]) == kw {
				out = append(out, [2]int{end, k})
			}
		}
	}
	return out
}

func checkPrefilter(t *testing.T, data []byte, kws []string) {
	t.Helper()
	p := newPrefilter(kws)
	var got [][2]int
	last := 0
	p.find(data, nil, func(end, kw int) {
		if end < last {
			t.Fatalf("hits out of order: %d after %d", end, last)
		}
		last = end
		got = append(got, [2]int{end, kw})
	})
	want := naiveFind(data, kws)
	cmp := func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	}
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	if !slices.Equal(got, want) {
		t.Fatalf("prefilter found %d hits, brute force %d", len(got), len(want))
	}
}

func TestPrefilterStreams(t *testing.T) {
	kws := []string{"token", "ok", "secret", "sec", "aaaa", "ghp_", "k"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 10, 1000, 64 << 10, 200<<10 + 3} {
		data := make([]byte, size)
		for i := range data {
			data[i] = "tokensecrTOKENaghp_ \n"[r.IntN(21)]
		}
		checkPrefilter(t, data, kws)
	}
}

func FuzzPrefilter(f *testing.F) {
	f.Add([]byte("a token and a SECRET"), uint16(0))
	f.Add(bytes.Repeat([]byte("tokens "), 20000), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, pad uint16) {
		// pad past the size where find splits into streams
		if pad%2 == 1 {
			data = append(bytes.Repeat([]byte{'x'}, 64<<10), data...)
		}
		checkPrefilter(t, data, []string{"token", "ok", "secret", "sec", "aaaa", "ghp_", "k"})
	})
}

func TestEntropy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"", 0}, {"aaaa", 0}, {"ab", 1}, {"abcd", 2}, {"aabb", 1}, {"01234567", 3},
	} {
		if got := entropy(tc.in); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("entropy(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzDiff parses arbitrary git diff output: no panic, added lines map to
// positive line numbers.
func FuzzDiff(f *testing.F) {
	f.Add([]byte("\x01abc\x01A <a@b>\x012024-01-01\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1,2 @@\n+one\n+two\n"))
	f.Add([]byte("diff --git a/x b/x\n+++ \"b/q\\\"uote\"\n@@ -1 +7 @@\n+++x\n-y\n \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := parseDiff(bytes.NewReader(data), func(it item, added *addedLines) bool {
			text, err := io.ReadAll(added)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Count(text, []byte("\n"))
			if len(text) > 0 && text[len(text)-1] != '\n' {
				t.Fatalf("added text %q does not end its last line", text)
			}
			if lines != added.text {
				t.Fatalf("%d lines, %d mapped", lines, added.text)
			}
			for l := 1; l <= lines; l++ {
				if it.lines.lookup(l) < 0 {
					t.Fatalf("line %d maps to %d", l, it.lines.lookup(l))
				}
			}
			return true
		}, func(it item, oid string) (bool, error) {
			if it.path == "" || len(oid) < 40 {
				t.Fatalf("blob %q of %q", oid, it.path)
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzIgnore compiles arbitrary .gitignore files and matches paths.
func FuzzIgnore(f *testing.F) {
	f.Add([]byte("*.log\n!keep.log\n/build/\ndocs/**/*.md\n\\#x\n[a-"), "docs/a/b.md")
	f.Fuzz(func(t *testing.T, data []byte, p string) {
		ig := (&ignorer{}).with(parseIgnore("sub", data))
		ig.ignored(p, false)
		ig.ignored(p, true)
		globMatch(string(data), p)
	})
}

// FuzzAssignment runs the generic detector at every keyword-like position.
func FuzzAssignment(f *testing.F) {
	f.Add([]byte(`db_password = "Xk9#mQ2$vL!z"`)) // keyward:allow
	f.Add([]byte(`\"token\": \"abc`))
	for _, seed := range []string{
		`<password>x</password>`, `<password><![CDATA[x`, `os.Setenv("DB_PASSWORD", "x`, `putenv("DB_PASSWORD=x`,
		`mysql -u root -p'x`, `sshpass -p`, `variable "db_password" {`, `<add key="Password" value="x`,
		`ENV DB_PASSWORD x`, `--password x`, `:password => "`, `pw: &str = "x`, `var password string = `,
		`root_password = """x`, `"Server=db;Password=x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// fold ASCII only: offsets must stay those of data
		folded := make([]byte, len(data))
		for k, c := range data {
			folded[k] = lower(c)
		}
		for _, kw := range []string{"pass", "token", "secret", "mysql"} {
			for i := 0; ; {
				j := bytes.Index(folded[i:], []byte(kw))
				if j < 0 {
					break
				}
				s, e, ok := detectAssignment(data, i+j, i+j+len(kw), kw == "pass" || kw == "mysql")
				if ok && (s < 0 || e > len(data) || s > e) {
					t.Fatalf("bad range %d..%d", s, e)
				}
				i += j + 1
			}
		}
		validJWT(string(data))
		validBasicAuth(string(data))
		validPEMBody(string(data))
		validGitHubChecksum(string(data))
		validKeywardToken(string(data))
	})
}

func TestMinLenAndRuns(t *testing.T) {
	for _, tc := range []struct {
		re   string
		want int
	}{
		{`ghp_[A-Za-z0-9]{36}`, 40}, {`a|bc`, 1}, {`(x+)y?`, 1}, {`[0-9a-f]{8}-[0-9a-f]{4}`, 13}, {`.*`, 0},
	} {
		re, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := minLen(re); got != tc.want {
			t.Errorf("minLen(%s) = %d, want %d", tc.re, got, tc.want)
		}
	}
	d := []byte(`x = "abcdefgh" ; y(ab)` + "\nlongerrunhere")
	if !hasRun(d, 0, len(d), 8) || hasRun(d, 0, len(d), 9) {
		t.Error("hasRun: runs stop at quotes and newlines")
	}
	if !runHas([]byte("https://u:p@h x"), 0, 15, '@') || runHas([]byte("https://h/x @"), 0, 13, '@') {
		t.Error("runHas: the run ends at a blank")
	}
}
