package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// GitOptions selects the commits of a history scan. With neither Range nor
// Since set, every commit reachable from any ref is scanned.
type GitOptions struct {
	// Range is a revision range such as "main..feature" or "v1.0..HEAD".
	Range string
	// Since limits the scan to commits newer than a date git understands.
	Since string
}

const commitMark = '\x01'

// ScanGitHistory scans the lines every selected commit added, through one
// long-running `git log -p` process (no process per blob). Findings name
// the commit, author, date, path and line.
func (s *Scanner) ScanGitHistory(ctx context.Context, repo string, o GitOptions) (*Result, error) {
	args := []string{"-C", repo, "-c", "core.quotePath=false", "-c", "diff.noprefix=false", "log", "-p", "-U0",
		"--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--diff-filter=AMCRTU",
		"--format=" + string(commitMark) + "%H%x01%an <%ae>%x01%aI"}
	if o.Since != "" {
		args = append(args, "--since="+o.Since)
	}
	if o.Range != "" {
		if strings.HasPrefix(o.Range, "-") {
			return nil, fmt.Errorf("git range %q: must not start with '-'", o.Range)
		}
		args = append(args, o.Range)
	} else {
		args = append(args, "--all")
	}
	if s.opts.Binary {
		args = append(args, "--text")
	}
	args = append(args, "--")
	return s.scanGitDiff(ctx, repo, args)
}

// ScanStaged scans the lines added in the index (git diff --cached), what
// a pre-commit hook must check.
func (s *Scanner) ScanStaged(ctx context.Context, repo string) (*Result, error) {
	args := []string{"-C", repo, "-c", "core.quotePath=false", "-c", "diff.noprefix=false", "diff", "--cached", "-U0",
		"--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--diff-filter=AMCRTU"}
	if s.opts.Binary {
		args = append(args, "--text")
	}
	args = append(args, "--")
	return s.scanGitDiff(ctx, repo, args)
}

func (s *Scanner) scanGitDiff(ctx context.Context, repo string, args []string) (*Result, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start git: %w", err)
	}
	r := s.start(ctx)
	perr := parseDiff(out, func(it item) bool {
		s.opts.Progress.FilesTotal.Add(1)
		s.opts.Progress.BytesTotal.Add(int64(len(it.data)))
		if s.opts.Allow.AllowsPath(it.path) {
			return true
		}
		return r.send(it)
	})
	if perr != nil {
		cancel()
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	res, rerr := r.finish()
	if rerr != nil {
		return nil, rerr
	}
	if perr != nil {
		return nil, fmt.Errorf("read git output: %w", perr)
	}
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, fmt.Errorf("git %s: %w: %s", args[6], werr, msg)
	}
	return res, nil
}

// parseDiff turns `git log -p -U0` / `git diff -U0` output into one item per
// commit and file holding the added lines, with a map to their line numbers.
func parseDiff(rd io.Reader, emit func(item) bool) error {
	br := bufio.NewReaderSize(rd, 1<<20)
	var commit Finding
	var cur *item
	var buf bytes.Buffer
	inHunk := false
	newLine := 0
	flush := func() bool {
		if cur != nil && buf.Len() > 0 {
			cur.data = append([]byte(nil), buf.Bytes()...)
			ok := emit(*cur)
			cur = nil
			buf.Reset()
			return ok
		}
		cur = nil
		buf.Reset()
		return true
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// a very long line: gather it whole
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				flush()
				return nil
			}
			return err
		}
		switch {
		case line[0] == commitMark:
			if !flush() {
				return nil
			}
			f := strings.Split(strings.TrimRight(string(line[1:]), "\n"), "\x01")
			commit = Finding{}
			if len(f) == 3 {
				commit.Commit, commit.Author, commit.Date = f[0], f[1], f[2]
			}
			inHunk = false
		case bytes.HasPrefix(line, []byte("diff --git ")):
			if !flush() {
				return nil
			}
			inHunk = false
			cur = &item{origin: commit}
		case !inHunk && bytes.HasPrefix(line, []byte("+++ ")):
			if cur == nil {
				continue
			}
			p := strings.TrimRight(string(line[4:]), "\n")
			if p == "/dev/null" {
				cur = nil
				continue
			}
			if strings.HasPrefix(p, `"`) {
				if u, err := strconv.Unquote(p); err == nil {
					p = u
				}
			}
			cur.path = memberName(strings.TrimPrefix(p, "b/"))
		case bytes.HasPrefix(line, []byte("@@ ")):
			inHunk = true
			newLine = hunkStart(line)
		case inHunk && line[0] == '+':
			if cur == nil || cur.path == "" {
				continue
			}
			buf.Write(line[1:])
			if line[len(line)-1] != '\n' {
				buf.WriteByte('\n')
			}
			cur.lineMap = append(cur.lineMap, newLine)
			newLine++
		case inHunk && line[0] == ' ':
			newLine++
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				flush()
				return nil
			}
			return err
		}
	}
}

// hunkStart parses the new-file start line of "@@ -a,b +c,d @@".
func hunkStart(line []byte) int {
	i := bytes.Index(line, []byte(" +"))
	if i < 0 {
		return 1
	}
	rest := line[i+2:]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return 1
	}
	return n
}
