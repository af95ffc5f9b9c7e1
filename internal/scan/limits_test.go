package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// sampleFor returns the corpus sample of rule.
func sampleFor(t testing.TB, rule string) corpus.Sample {
	t.Helper()
	for _, s := range corpus.Samples(1) {
		if s.Rule == rule {
			return s
		}
	}
	t.Fatalf("no sample for %s", rule)
	return corpus.Sample{}
}

// writeLongLine writes n bytes of 'a' and then " "+text+"\n" to path, one
// line, without holding it in memory.
func writeLongLine(t testing.TB, path string, n int, text string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte("a"), 1<<20)
	for n > 0 {
		k := min(n, len(block))
		if _, err := f.Write(block[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if _, err := f.WriteString(" " + text + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// commitAll makes dir a repository (if it is not one) and commits its files.
func commitAll(t testing.TB, dir string, gitArgs ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if _, err := corpus.Git(dir, "init", "-q", "-b", "main"); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{append([]string{"add", "-A"}, gitArgs...), {"commit", "-q", "-m", "commit"}} {
		if _, err := corpus.Git(dir, args...); err != nil {
			t.Fatal(err)
		}
	}
	head, err := corpus.Git(dir, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestGitHistoryLongLineMemory scans a history holding one 64 MiB line with
// a credential at its end: the history path streams diffs in chunks like
// the tree path, so the scan allocates a small fraction of the line.
func TestGitHistoryLongLineMemory(t *testing.T) {
	const size = 64 << 20
	s := sampleFor(t, "github-pat")
	dir := t.TempDir()
	writeLongLine(t, filepath.Join(dir, "blob.txt"), size, s.Text)
	commit := commitAll(t, dir)

	sc := newScanner(t, scan.Options{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := sc.ScanGitHistory(context.Background(), dir, scan.GitOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if f := findingFor(res.Findings, s.Rule, s.Secret); f == nil || f.Commit != commit || f.Path != "blob.txt" || f.Line != 1 {
		t.Errorf("secret at the end of a 64 MiB line: findings %+v", res.Findings)
	}
	// TotalAlloc bounds the peak from above. Streaming costs about 12 MiB
	// (two chunk buffers, the read buffer, match scratch; more under -race,
	// where sync.Pool drops a quarter of what it is given); before, the
	// line was held whole several times over (471 MiB).
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB scanning a %d MiB line", grew>>10, size>>20)
	if grew > size/2 {
		t.Errorf("history scan of a 64 MiB line allocated %d MiB, want < %d MiB", grew>>20, size/2>>20)
	}
}

// TestGitHistoryStreamedHunkLines rewrites every other line of a large
// file, so the commit's added lines are streamed in chunks across
// thousands of hunks, and checks that a credential near the end is
// reported at its line in the new file.
func TestGitHistoryStreamedHunkLines(t *testing.T) {
	const lines = 300000
	s := sampleFor(t, "github-pat")
	dir := t.TempDir()
	write := func(edit func(n int) string) {
		var b bytes.Buffer
		for n := 1; n <= lines; n++ {
			b.WriteString(edit(n))
		}
		if err := os.WriteFile(filepath.Join(dir, "big.txt"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(func(n int) string { return fmt.Sprintf("x%d\n", n) })
	commitAll(t, dir)
	const at = lines - 1
	write(func(n int) string {
		switch {
		case n == at:
			return s.Text + "\n"
		case n%2 == 1:
			return fmt.Sprintf("rewritten line %d of the big file, padded out\n", n)
		}
		return fmt.Sprintf("x%d\n", n)
	})
	commit := commitAll(t, dir)
	res, err := newScanner(t, scan.Options{}).ScanGitHistory(context.Background(), dir, scan.GitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := findingFor(res.Findings, s.Rule, s.Secret)
	if f == nil || f.Commit != commit || f.Line != at || len(res.Findings) != 1 {
		t.Fatalf("findings %+v, want one on line %d of commit %s", res.Findings, at, commit)
	}
}

// skipFor returns the skip report whose path ends in suffix.
func skipFor(res *scan.Result, suffix string) *scan.Skip {
	for i := range res.Skipped {
		if strings.HasSuffix(res.Skipped[i].Path, suffix) {
			return &res.Skipped[i]
		}
	}
	return nil
}

// writeImage writes a docker save tarball with one layer holding files.
func writeImage(t testing.TB, path string, files map[string][]byte) {
	t.Helper()
	layer, err := corpus.TarOf(files)
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("ab", 32) + `"]}}`
	img, err := corpus.TarOf(map[string][]byte{
		"manifest.json": []byte(`[{"Config":"config.json","Layers":["l1/layer.tar"]}]`),
		"config.json":   []byte(cfg),
		"l1/layer.tar":  layer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSkippedAndCutShortReported checks that content is either scanned or
// named in the report with a reason, and that every cut a limit or an error
// made is marked incomplete (the CLI then exits non-zero).
func TestSkippedAndCutShortReported(t *testing.T) {
	pat := sampleFor(t, "github-pat")
	text := []byte(pat.Text + "\n")
	big := append(bytes.Repeat([]byte("filler line of text\n"), 2<<20/20), text...) // 2 MiB, secret last
	binary := append(bytes.Repeat([]byte{0, 1, 2, 3, 0xff, 0}, 200), text...)
	type want struct {
		found      bool   // the planted credential is reported
		skip       string // a skip report whose path ends so, or ""
		reason     string // ...whose reason contains this
		incomplete bool
		commit     bool // ...naming the commit
		layer      bool // ...naming the layer
	}
	for _, tc := range []struct {
		name string
		opts scan.Options
		scan func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error)
		want want
	}{
		{"tree: text starting with NUL is scanned", scan.Options{}, tree(map[string][]byte{"nul.env": append([]byte{0}, text...)}),
			want{found: true}},
		{"tree: binary reported", scan.Options{}, tree(map[string][]byte{"tool.dat": binary}),
			want{skip: "tool.dat", reason: "binary"}},
		{"tree: binary extension reported", scan.Options{}, tree(map[string][]byte{"logo.png": text}),
			want{skip: "logo.png", reason: "binary"}},
		{"tree: zip member over the entry limit", scan.Options{MaxEntryBytes: 1 << 20}, tree(map[string][]byte{"a.zip": mustZip(t, map[string][]byte{"big.txt": big})}),
			want{skip: "a.zip!big.txt", reason: "entry limit", incomplete: true}},
		{"tree: tar member over the entry limit", scan.Options{MaxEntryBytes: 1 << 20}, tree(map[string][]byte{"a.tar": mustTar(t, map[string][]byte{"big.txt": big})}),
			want{skip: "a.tar!big.txt", reason: "entry limit", incomplete: true}},
		{"tree: gzip cut short at the entry limit", scan.Options{MaxEntryBytes: 1 << 20}, tree(map[string][]byte{"log.gz": corpus.Gzip(big)}),
			want{skip: "log.gz", reason: "cut short", incomplete: true}},
		{"tree: archive over the size limit", scan.Options{MaxArchiveBytes: 1 << 20}, tree(map[string][]byte{"a.tar": mustTar(t, map[string][]byte{"1.txt": big, "2.txt": text})}),
			want{skip: "a.tar", reason: "archive size limit", incomplete: true}},
		{"tree: second gzip stream is scanned", scan.Options{}, tree(map[string][]byte{"two.gz": append(corpus.Gzip([]byte("one\n")), corpus.Gzip(text)...)}),
			want{found: true}},
		{"tree: corrupt archive reported", scan.Options{}, tree(map[string][]byte{"fake.zip": append([]byte("PK\x03\x04"), text...)}),
			want{skip: "fake.zip", reason: "zip", incomplete: true}},
		{"tree: symlink reported", scan.Options{}, func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
			target := filepath.Join(t.TempDir(), "target.env") // outside the tree
			os.WriteFile(target, text, 0o644)
			if err := os.Symlink(target, filepath.Join(dir, "link.env")); err != nil {
				t.Fatal(err)
			}
			return s.ScanPaths(context.Background(), []string{dir})
		}, want{skip: "link.env", reason: "symlink"}},
		{"file: read error", scan.Options{}, func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
			return s.ScanPaths(context.Background(), []string{"/proc/self/mem"}) // regular, unreadable at offset 0
		}, want{skip: "/proc/self/mem", reason: "read error", incomplete: true}},
		{"stdin: text starting with NUL is scanned", scan.Options{}, func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
			return s.ScanReader(context.Background(), "-", bytes.NewReader(append([]byte{0}, text...)))
		}, want{found: true}},
		{"git: text starting with NUL is scanned", scan.Options{}, history(map[string][]byte{"nul.env": append([]byte{0}, text...)}),
			want{found: true}},
		{"git: blob git will not diff (core.bigFileThreshold) is scanned", scan.Options{}, history(map[string][]byte{"big.txt": big}, "config", "core.bigFileThreshold", "1m"),
			want{found: true}},
		{"git: blob marked -diff is scanned", scan.Options{}, history(map[string][]byte{".gitattributes": []byte("*.env -diff\n"), "app.env": text}),
			want{found: true}},
		{"git: binary blob reported", scan.Options{}, history(map[string][]byte{"tool.dat": binary}),
			want{skip: "tool.dat", reason: "binary", commit: true}},
		{"git: binary blob scanned on request", scan.Options{Binary: true}, history(map[string][]byte{"tool.dat": binary}),
			want{found: true}},
		{"staged: binary blob reported", scan.Options{}, func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
			corpus.Git(dir, "init", "-q")
			os.WriteFile(filepath.Join(dir, "tool.dat"), binary, 0o644)
			corpus.Git(dir, "add", "tool.dat")
			return s.ScanStaged(context.Background(), dir)
		}, want{skip: "tool.dat", reason: "binary"}},
		{"image: binary extension reported", scan.Options{}, image(map[string][]byte{"app/logo.png": text}),
			want{skip: "app/logo.png", reason: "binary", layer: true}},
		{"image: member over the entry limit", scan.Options{MaxEntryBytes: 1 << 20}, image(map[string][]byte{"app/big.txt": big}),
			want{skip: "app/big.txt", reason: "entry limit", incomplete: true, layer: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.scan(t, newScanner(t, tc.opts), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if got := findingFor(res.Findings, pat.Rule, pat.Secret) != nil; got != tc.want.found {
				t.Errorf("credential found = %v, want %v (skipped %+v)", got, tc.want.found, res.Skipped)
			}
			if tc.want.skip == "" {
				for _, sk := range res.Skipped {
					t.Errorf("unexpected skip %+v", sk)
				}
				return
			}
			sk := skipFor(res, tc.want.skip)
			if sk == nil {
				t.Fatalf("no skip report for %s; skipped %+v", tc.want.skip, res.Skipped)
			}
			if !strings.Contains(sk.Reason, tc.want.reason) || sk.Incomplete != tc.want.incomplete ||
				(sk.Commit != "") != tc.want.commit || (sk.Layer != "") != tc.want.layer {
				t.Errorf("skip %+v, want reason ~%q incomplete %v commit %v layer %v", *sk, tc.want.reason, tc.want.incomplete, tc.want.commit, tc.want.layer)
			}
			if got := res.Incomplete() > 0; got != tc.want.incomplete {
				t.Errorf("Incomplete() = %d, want incomplete %v", res.Incomplete(), tc.want.incomplete)
			}
		})
	}
}

func tree(files map[string][]byte) func(*testing.T, *scan.Scanner, string) (*scan.Result, error) {
	return func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return s.ScanPaths(context.Background(), []string{dir})
	}
}

// history commits files after running git with config (if any) in a new
// repository, then scans its history.
func history(files map[string][]byte, config ...string) func(*testing.T, *scan.Scanner, string) (*scan.Result, error) {
	return func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
		if _, err := corpus.Git(dir, "init", "-q", "-b", "main"); err != nil {
			t.Fatal(err)
		}
		if len(config) > 0 {
			if _, err := corpus.Git(dir, config...); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		commitAll(t, dir)
		return s.ScanGitHistory(context.Background(), dir, scan.GitOptions{})
	}
}

func image(files map[string][]byte) func(*testing.T, *scan.Scanner, string) (*scan.Result, error) {
	return func(t *testing.T, s *scan.Scanner, dir string) (*scan.Result, error) {
		p := filepath.Join(dir, "image.tar")
		writeImage(t, p, files)
		return s.ScanImage(context.Background(), p)
	}
}

func mustZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	b, err := corpus.ZipOf(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTar(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	b, err := corpus.TarOf(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestColumnsAcrossChunks plants a credential past the first 4 MiB chunk of
// a long line, and one at the start of the next line: columns count bytes
// from the start of the line, not of the chunk.
func TestColumnsAcrossChunks(t *testing.T) {
	const long = 9 << 20 // past the 8 MiB a file is read whole
	s := sampleFor(t, "github-pat")
	at := strings.Index(s.Text, s.Secret)
	var content bytes.Buffer
	content.Write(bytes.Repeat([]byte("a"), long))
	content.WriteString(" " + s.Text + "\n  " + s.Text + "\n")
	wantCols := []int{long + 1 + at + 1, 2 + at + 1}
	for _, tc := range []struct {
		name string
		scan func(t *testing.T, sc *scan.Scanner, dir string) (*scan.Result, error)
	}{
		{"tree", tree(map[string][]byte{"long.txt": content.Bytes()})},
		{"stdin", func(t *testing.T, sc *scan.Scanner, dir string) (*scan.Result, error) {
			return sc.ScanReader(context.Background(), "-", bytes.NewReader(content.Bytes()))
		}},
		{"git", history(map[string][]byte{"long.txt": content.Bytes()})},
		{"image", image(map[string][]byte{"long.txt": content.Bytes()})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.scan(t, newScanner(t, scan.Options{}), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var got [][2]int
			for _, f := range res.Findings {
				if f.RuleID == s.Rule {
					got = append(got, [2]int{f.Line, f.Column})
				}
			}
			want := [][2]int{{1, wantCols[0]}, {2, wantCols[1]}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("line:column of the credentials = %v, want %v", got, want)
			}
		})
	}
}

// TestReportsListSkipped checks that the text, JSON and SARIF reports all
// name every skipped input with its reason, and mark the incomplete ones.
func TestReportsListSkipped(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("x\n"), 1<<20)
	files := map[string][]byte{
		"logo.png":        []byte("not really a png\n"),
		"a.tar":           mustTar(t, map[string][]byte{"big.txt": big}),
		"esc\x1b[31m.png": []byte("x\n"),
	}
	res, err := tree(files)(t, newScanner(t, scan.Options{MaxEntryBytes: 1 << 20}), dir)
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := (&scan.Config{}).Build()
	var text, js, sarif bytes.Buffer
	if err := scan.WriteText(&text, res, res.Findings, scan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteJSON(&js, res, res.Findings); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteSARIF(&sarif, res, rules, res.Findings, "test"); err != nil {
		t.Fatal(err)
	}
	d := filepath.ToSlash(dir)
	for _, want := range []string{
		"  " + d + "/a.tar!big.txt: larger than the entry limit (1.0 MiB) [incomplete]\n",
		"  " + d + "/logo.png: binary\n",
		"  " + d + "/esc?[31m.png: binary\n",
		"; 3 skipped, 1 incomplete\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var doc struct {
		Skipped    []scan.Skip `json:"skipped"`
		Incomplete int         `json:"incomplete"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Skipped) != 3 || doc.Incomplete != 1 || doc.Skipped[0].Path != d+"/a.tar!big.txt" || !doc.Skipped[0].Incomplete {
		t.Errorf("JSON skipped %+v incomplete %d", doc.Skipped, doc.Incomplete)
	}
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool `json:"executionSuccessful"`
				ToolExecutionNotifications []struct {
					Descriptor struct{ ID string }   `json:"descriptor"`
					Level      string                `json:"level"`
					Message    struct{ Text string } `json:"message"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarif.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	inv := log.Runs[0].Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 3 {
		t.Fatalf("SARIF invocation %+v", inv)
	}
	if n := inv.ToolExecutionNotifications[0]; n.Descriptor.ID != "keyward/incomplete" || n.Level != "error" || !strings.Contains(n.Message.Text, "entry limit") {
		t.Errorf("SARIF notification %+v", n)
	}
}
