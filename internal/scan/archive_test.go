package scan_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

func TestHostileArchives(t *testing.T) {
	ss := corpus.Samples(7)
	secret := ss[0]
	dir := t.TempDir()

	// zip bomb: 40 MiB of text in one member (text is read, unlike binary)
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("bomb.txt")
	zeros := bytes.Repeat([]byte("a"), 1<<20)
	for range 40 {
		w.Write(zeros)
	}
	w, _ = zw.Create("after.txt")
	w.Write([]byte(secret.Text + "\n"))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "bomb.zip"), bomb.Bytes(), 0o644)

	// deep nesting: 10 zips around a secret
	inner := []byte(secret.Text + "\n")
	name := "secret.env"
	for i := range 10 {
		z, err := corpus.ZipOf(map[string][]byte{name: inner})
		if err != nil {
			t.Fatal(err)
		}
		inner, name = z, "level"+string(rune('0'+i))+".zip"
	}
	os.WriteFile(filepath.Join(dir, "deep.zip"), inner, 0o644)

	// traversal and control characters in member names
	trav, _ := corpus.ZipOf(map[string][]byte{"../../../etc/cron.d/x": []byte(secret.Text + "\n"), "a/\x1b[31mred": []byte(secret.Text + "\n")})
	os.WriteFile(filepath.Join(dir, "trav.zip"), trav, 0o644)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newScanner(t, scan.Options{MaxArchiveBytes: 8 << 20})
	res, err := s.ScanPaths(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("scan allocated %d MiB on a 40 MiB bomb with an 8 MiB budget", grew>>20)
	}
	var skips []string
	for _, sk := range res.Skipped {
		skips = append(skips, sk.Path+": "+sk.Reason)
	}
	skipped := strings.Join(skips, "\n")
	if !strings.Contains(skipped, "bomb.zip: archive size limit reached") {
		t.Errorf("bomb not cut off; skipped:\n%s", skipped)
	}
	if !strings.Contains(skipped, "nesting deeper than the limit") {
		t.Errorf("deep nesting not cut off; skipped:\n%s", skipped)
	}
	paths := map[string]bool{}
	for _, f := range res.Findings {
		paths[strings.TrimPrefix(f.Path, filepath.ToSlash(dir)+"/")] = true
	}
	for _, p := range []string{"trav.zip!etc/cron.d/x", "trav.zip!a/?[31mred"} {
		if !paths[p] {
			t.Errorf("no finding at %q; have %v", p, paths)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "..", "etc", "cron.d", "x")); err == nil {
		t.Error("traversal name was written to disk")
	}

	// with a deeper limit the nested secret is found
	deep := newScanner(t, scan.Options{MaxDepth: 12})
	res, err = deep.ScanPaths(context.Background(), []string{filepath.Join(dir, "deep.zip")})
	if err != nil {
		t.Fatal(err)
	}
	if findingFor(res.Findings, secret.Rule, secret.Secret) == nil {
		t.Errorf("secret 10 zips deep not found with MaxDepth 12: %v", res.Skipped)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
