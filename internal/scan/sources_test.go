package scan_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

func findingFor(fs []scan.Finding, rule, secret string) *scan.Finding {
	for i := range fs {
		if fs[i].RuleID == rule && fs[i].Secret.Reveal() == secret {
			return &fs[i]
		}
	}
	return nil
}

func TestGitHistory(t *testing.T) {
	dir := t.TempDir()
	planted, err := corpus.BuildHistory(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, scan.Options{})
	res, err := s.ScanGitHistory(context.Background(), dir, scan.GitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range planted {
		f := findingFor(res.Findings, p.Rule, p.Secret)
		if f == nil {
			t.Errorf("history: missed %s added in %s", p.Rule, p.Commit)
			continue
		}
		if f.Commit != p.Commit || f.Path != p.Path || f.Author != "Corpus Author <author@corpus.test>" || f.Date == "" || f.Line < 1 {
			t.Errorf("history finding %s: commit %s path %s author %q date %q line %d; want commit %s path %s",
				p.Rule, f.Commit, f.Path, f.Author, f.Date, f.Line, p.Commit, p.Path)
		}
	}
	if len(res.Findings) != len(planted) {
		t.Errorf("history: %d findings, want %d", len(res.Findings), len(planted))
	}
	// the working tree no longer holds the settings secrets
	cur, err := s.ScanPaths(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Findings) != 0 {
		t.Errorf("working tree: %d findings, want 0", len(cur.Findings))
	}
	// a range that excludes the side branch
	res, err = s.ScanGitHistory(context.Background(), dir, scan.GitOptions{Range: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 2 {
		t.Errorf("range main: %d findings, want 2", len(res.Findings))
	}
	if _, err := s.ScanGitHistory(context.Background(), dir, scan.GitOptions{Range: "--output=/tmp/x"}); err == nil {
		t.Error("range starting with '-' accepted")
	}
	if _, err := s.ScanGitHistory(context.Background(), t.TempDir(), scan.GitOptions{}); err == nil {
		t.Error("history of a non-repository: no error")
	}
}

func TestStaged(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.Git(dir, "init", "-q"); err != nil {
		t.Fatal(err)
	}
	ss := corpus.Samples(4)
	var stripe corpus.Sample
	for _, s := range ss {
		if s.Rule == "stripe-secret-key" {
			stripe = s
		}
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\ntwo\n"), 0o644)
	corpus.Git(dir, "add", "a.txt")
	corpus.Git(dir, "commit", "-qm", "a")
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\ntwo\nthree\n"+stripe.Text+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "unstaged.txt"), []byte(stripe.Text+"\n"), 0o644)
	corpus.Git(dir, "add", "a.txt")
	s := newScanner(t, scan.Options{})
	res, err := s.ScanStaged(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Path != "a.txt" || res.Findings[0].Line != 4 {
		t.Fatalf("staged findings = %+v, want one in a.txt line 4", res.Findings)
	}
}

func TestImages(t *testing.T) {
	dir := t.TempDir()
	tarball := filepath.Join(dir, "image.tar")
	planted, diffIDs, err := corpus.WriteDockerSave(tarball, 1)
	if err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci")
	_, digests, err := corpus.WriteOCILayout(oci, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, layer string
	}{
		{"docker save", tarball, diffIDs[1]},
		{"oci layout", oci, digests[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScanner(t, scan.Options{})
			res, err := s.ScanImage(context.Background(), tc.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range planted {
				f := findingFor(res.Findings, p.Rule, p.Secret)
				if f == nil {
					t.Errorf("missed %s in %s", p.Rule, p.Path)
					continue
				}
				if f.Path != p.Path || f.Layer != tc.layer || f.LayerStep != "COPY app/ /app/ # buildkit" {
					t.Errorf("%s: path %s layer %s step %q; want %s %s", p.Rule, f.Path, f.Layer, f.LayerStep, p.Path, tc.layer)
				}
			}
			if len(res.Findings) != len(planted) {
				t.Errorf("%d findings, want %d", len(res.Findings), len(planted))
			}
		})
	}
	if _, err := newScanner(t, scan.Options{}).ScanImage(context.Background(), t.TempDir()); err == nil {
		t.Error("empty directory accepted as an image")
	}
}

func TestStdinAndArchiveOnStdin(t *testing.T) {
	ss := corpus.Samples(5)
	s := newScanner(t, scan.Options{})
	res, err := s.ScanReader(context.Background(), "-", strings.NewReader("x\n"+ss[0].Text+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if findingFor(res.Findings, ss[0].Rule, ss[0].Secret) == nil || res.Findings[0].Line != 2 {
		t.Errorf("stdin: findings %+v", res.Findings)
	}
	tgz, _ := corpus.TarGzOf(map[string][]byte{"x/y.env": []byte(ss[1].Text + "\n")})
	res, err = s.ScanReader(context.Background(), "-", bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	if f := findingFor(res.Findings, ss[1].Rule, ss[1].Secret); f == nil || f.Path != "-!x/y.env" {
		t.Errorf("tar.gz on stdin: findings %+v", res.Findings)
	}
}

// TestLargeFileChunks plants secrets across chunk boundaries of a file too
// large to read whole.
func TestLargeFileChunks(t *testing.T) {
	ss := corpus.Samples(6)
	var b bytes.Buffer
	line := strings.Repeat("abcdefghij", 9) + "\n"
	want := map[string]int{}
	plantedLines := 0
	n := 1
	for b.Len() < 20<<20 {
		if b.Len()%(4<<20) > (4<<20)-300 || n%40000 == 0 {
			s := ss[n%len(ss)]
			if !strings.Contains(s.Text, "\n") && s.Rule != "generic-secret" {
				b.WriteString(s.Text + "\n")
				plantedLines++
				if _, dup := want[s.Secret]; !dup {
					want[s.Secret] = n
				}
				n++
				continue
			}
		}
		b.WriteString(line)
		n++
	}
	p := filepath.Join(t.TempDir(), "big.txt")
	os.WriteFile(p, b.Bytes(), 0o644)
	res, err := newScanner(t, scan.Options{}).ScanPaths(context.Background(), []string{p})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range res.Findings {
		k := fmt.Sprintf("%d:%s", f.Line, f.Secret.Reveal())
		if got[k]++; got[k] > 1 {
			t.Errorf("%s reported twice at line %d", f.RuleID, f.Line)
		}
	}
	for sec, ln := range want {
		if got[fmt.Sprintf("%d:%s", ln, sec)] == 0 {
			t.Errorf("secret planted on line %d not reported there", ln)
		}
	}
	if len(res.Findings) != plantedLines {
		t.Errorf("%d findings, want %d (duplicates across chunks?)", len(res.Findings), plantedLines)
	}
}
