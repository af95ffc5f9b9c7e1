package corpus

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GitEnv is the environment for git commands on corpus repositories: no
// user or system config, fixed identity and dates.
func GitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Corpus Author", "GIT_AUTHOR_EMAIL=author@corpus.test",
		"GIT_COMMITTER_NAME=Corpus Author", "GIT_COMMITTER_EMAIL=author@corpus.test",
		"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
	)
}

// Git runs git in dir and returns its trimmed output.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = GitEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// HistoryPlanted is a sample planted in a commit.
type HistoryPlanted struct {
	Planted
	Commit string
}

// BuildHistory creates a git repository in dir where credentials are added
// in one commit and deleted in the next, plus one on a side branch.
func BuildHistory(dir string, seed uint64) ([]HistoryPlanted, error) {
	g := NewGen(seed + 3)
	ss := Samples(seed)
	if _, err := Git(dir, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	pre := g.filler(5)
	s1, s2 := findSample(ss, "github-pat"), findSample(ss, "generic-password")
	if err := write(dir, "app/settings.py", []byte(pre+s1.Text+"\n"+g.filler(3)+s2.Text+"\n")); err != nil {
		return nil, err
	}
	commit := func(msg string) (string, error) {
		if _, err := Git(dir, "add", "-A"); err != nil {
			return "", err
		}
		if _, err := Git(dir, "commit", "-q", "-m", msg); err != nil {
			return "", err
		}
		return Git(dir, "rev-parse", "HEAD")
	}
	c1, err := commit("add settings")
	if err != nil {
		return nil, err
	}
	if err := write(dir, "app/settings.py", []byte(pre+"TOKEN = os.environ['TOKEN']\n")); err != nil {
		return nil, err
	}
	if _, err := commit("remove secrets"); err != nil {
		return nil, err
	}
	if _, err := Git(dir, "checkout", "-q", "-b", "feature"); err != nil {
		return nil, err
	}
	s3 := findSample(ss, "private-key")
	if err := write(dir, "deploy/key.pem", []byte(s3.Text+"\n")); err != nil {
		return nil, err
	}
	c3, err := commit("add deploy key")
	if err != nil {
		return nil, err
	}
	if _, err := Git(dir, "checkout", "-q", "main"); err != nil {
		return nil, err
	}
	return []HistoryPlanted{
		{Planted{Sample: s1, Path: "app/settings.py", Kind: "git"}, c1},
		{Planted{Sample: s2, Path: "app/settings.py", Kind: "git"}, c1},
		{Planted{Sample: s3, Path: "deploy/key.pem", Kind: "git"}, c3},
	}, nil
}

// FastImportHistory creates a repository of n commits in dir with git
// fast-import. Each commit rewrites one or two source files; every 500th
// commit adds a credential file that the next commit deletes. It returns
// the number of credentials planted.
func FastImportHistory(dir string, n int, seed uint64) (int, error) {
	g := NewGen(seed + 11)
	ss := Samples(seed)
	if _, err := Git(dir, "init", "-q", "-b", "main"); err != nil {
		return 0, err
	}
	var stream bytes.Buffer
	data := func(s string) { fmt.Fprintf(&stream, "data %d\n%s\n", len(s), s) }
	planted := 0
	for i := range n {
		fmt.Fprintf(&stream, "commit refs/heads/main\nauthor Dev %d <dev%d@corpus.test> %d +0000\ncommitter Dev <dev@corpus.test> %d +0000\n", i%7, i%7, 1700000000+i*60, 1700000000+i*60)
		data(fmt.Sprintf("change %d", i))
		for k := range 1 + g.Intn(2) {
			fmt.Fprintf(&stream, "M 100644 inline src/pkg%d/file%d.go\n", (i+k)%40, (i*7+k)%25)
			data("package pkg\n\n" + g.filler(30+g.Intn(40)))
		}
		if i%500 == 250 {
			s := ss[(i/500)%len(ss)]
			fmt.Fprintf(&stream, "M 100644 inline leaked/creds%d.txt\n", i)
			data(s.Text + "\n")
			planted++
		}
		if i%500 == 251 {
			fmt.Fprintf(&stream, "D leaked/creds%d.txt\n", i-1)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = GitEnv()
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("fast-import: %w: %s", err, out)
	}
	if _, err := Git(dir, "checkout", "-q", "-f", "main"); err != nil {
		return 0, err
	}
	return planted, nil
}

// WriteBenchTree writes about size bytes of Go-like source under root in
// files of ~16 KiB, planting one sample every 50 files. It returns the
// number of samples planted.
func WriteBenchTree(root string, size int64, seed uint64) (int, error) {
	g := NewGen(seed + 5)
	ss := Samples(seed)
	// a pool of file bodies keeps generation fast for hundreds of MB
	pool := make([]string, 64)
	for i := range pool {
		pool[i] = "package gen\n\nimport \"fmt\"\n\n" + g.filler(400)
	}
	var written int64
	planted := 0
	for i := 0; written < size; i++ {
		body := pool[i%len(pool)]
		if i%50 == 25 {
			s := ss[planted%len(ss)]
			mid := strings.IndexByte(body[len(body)/2:], '\n') + len(body)/2 + 1
			body = body[:mid] + s.Text + "\n" + body[mid:]
			planted++
		}
		p := filepath.Join(root, fmt.Sprintf("d%03d", i/200), fmt.Sprintf("f%05d.go", i))
		if i%200 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return 0, err
			}
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return 0, err
		}
		written += int64(len(body))
	}
	return planted, nil
}
