package scan_test

import (
	"bytes"
	"fmt"
	"context"
	"os"
	"path/filepath"
	"runtime"
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
	// TotalAlloc bounds the peak from above; before streaming, the line
	// was held whole two or three times over.
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB scanning a %d MiB line", grew>>10, size>>20)
	if grew > size/4 {
		t.Errorf("history scan of a 64 MiB line allocated %d MiB, want < %d MiB", grew>>20, size/4>>20)
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
