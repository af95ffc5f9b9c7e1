package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
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

// diffFlags make git's patch output the same whatever the user's config:
// full blob ids, a/ and b/ prefixes, no colour, no external or textconv
// diff, added lines only.
var diffFlags = []string{"-U0", "--full-index", "--src-prefix=a/", "--dst-prefix=b/",
	"--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--diff-filter=AMCRTU"}

// ScanGitHistory scans the lines every selected commit added, through one
// long-running `git log -p` process (no process per blob). Findings name
// the commit, author, date, path and line.
func (s *Scanner) ScanGitHistory(ctx context.Context, repo string, o GitOptions) (*Result, error) {
	args := []string{"-C", repo, "-c", "core.quotePath=false", "log", "-p"}
	args = append(args, diffFlags...)
	args = append(args, "--format="+string(commitMark)+"%H%x01%an <%ae>%x01%aI")
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
	args = append(args, "--")
	return s.scanGitDiff(ctx, repo, args)
}

// ScanStaged scans the lines added in the index (git diff --cached), what
// a pre-commit hook must check.
func (s *Scanner) ScanStaged(ctx context.Context, repo string) (*Result, error) {
	args := []string{"-C", repo, "-c", "core.quotePath=false", "diff", "--cached"}
	args = append(args, diffFlags...)
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
	blobs := &catFile{ctx: cctx, repo: repo}
	perr := parseDiff(out, func(it item, added *addedLines) bool {
		s.opts.Progress.FilesTotal.Add(1)
		if s.opts.Allow.AllowsPath(it.path) {
			return true
		}
		// The added lines are streamed: a file's diff, however long its
		// lines, costs at most a chunk or two (scanStream).
		ok := r.scanStream(it, added, -1)
		s.opts.Progress.BytesTotal.Add(added.n)
		return ok
	}, func(it item, oid string) (bool, error) {
		// git shows no lines of a blob it takes for binary (NUL bytes,
		// a -diff attribute, larger than core.bigFileThreshold): scan the
		// blob itself, judged and streamed like a file in the tree.
		s.opts.Progress.FilesTotal.Add(1)
		if s.opts.Allow.AllowsPath(it.path) {
			return true, nil
		}
		if !s.opts.Binary && binaryExt(it.path) {
			r.skip(it, "binary")
			return true, nil
		}
		body, err := blobs.open(oid)
		if errors.Is(err, errBlobMissing) {
			r.incomplete(it, "blob "+oid+" missing from the repository")
			return true, nil
		}
		if err != nil {
			return false, err
		}
		s.opts.Progress.BytesTotal.Add(body.N)
		if !r.scanStream(it, body, body.N) {
			return false, nil // cancelled: cat-file dies with the context
		}
		return true, blobs.done(body)
	})
	if perr != nil {
		cancel()
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	berr := blobs.close()
	if perr == nil && berr != nil {
		perr = berr
	}
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
		return nil, fmt.Errorf("git %s: %w: %s", args[4], werr, msg)
	}
	return res, nil
}

// diffReader reads git's patch output in fragments of at most its buffer
// size, so a long line is never gathered whole: a fragment either starts
// a line or continues the one before.
type diffReader struct {
	br    *bufio.Reader
	frag  []byte // valid until the next call to next
	start bool   // frag begins a line
	mid   bool   // the line goes on after frag
	again bool   // next returns frag once more
	err   error  // the read error that ended the input, io.EOF at the end
}

func (d *diffReader) next() bool {
	if d.again {
		d.again = false
		return true
	}
	if d.err != nil {
		return false
	}
	d.start = !d.mid
	frag, err := d.br.ReadSlice('\n')
	d.mid = errors.Is(err, bufio.ErrBufferFull)
	if err != nil && !d.mid {
		d.err = err
	}
	d.frag = frag
	return len(frag) > 0
}

// unread makes next return the current fragment again.
func (d *diffReader) unread() { d.again = true }

// addedLines reads the lines one file's hunks add, without their '+' and
// each ending in a newline, and records in lines where each falls in the
// new file. It ends (io.EOF) at the next file or commit, which it leaves
// for the parser.
type addedLines struct {
	d       *diffReader
	lines   *lineRuns
	text    int   // added lines begun so far
	n       int64 // bytes returned
	newLine int   // new-file line of the next added line
	inHunk  bool
	plus    bool // the current line is an added line
	open    bool // ...and its newline has not been returned yet
	rest    []byte
	done    bool
}

func (a *addedLines) Read(p []byte) (int, error) {
	for len(a.rest) == 0 {
		if a.done {
			return 0, io.EOF
		}
		a.fill()
	}
	k := copy(p, a.rest)
	a.rest = a.rest[k:]
	a.n += int64(k)
	return k, nil
}

var newline = []byte{'\n'}

// fill sets rest to the next piece of added text, or done at the end.
func (a *addedLines) fill() {
	d := a.d
	if !d.next() {
		a.done = true
		if a.open { // output cut off mid-line: end the line
			a.rest, a.open = newline, false
		}
		return
	}
	f := d.frag
	if !d.start {
		if a.plus {
			a.rest, a.open = f, f[len(f)-1] != '\n'
		}
		return
	}
	if a.open {
		// cannot happen in git's output, which ends every line
		a.rest, a.open = newline, false
		d.unread()
		return
	}
	a.plus = false
	switch {
	case f[0] == commitMark || bytes.HasPrefix(f, []byte("diff --git ")):
		d.unread()
		a.done = true
	case bytes.HasPrefix(f, []byte("@@ ")):
		a.inHunk = true
		a.newLine = hunkStart(f)
	case a.inHunk && f[0] == '+':
		a.plus = true
		a.text++
		a.lines.add(a.text, a.newLine)
		a.newLine++
		a.rest = f[1:]
		a.open = f[len(f)-1] != '\n'
	case a.inHunk && f[0] == ' ':
		a.newLine++
	}
}

// lineRuns maps lines of a diff's added text (1-based) to their lines in
// the new file. A hunk adds consecutive lines, so one run per hunk is
// stored, not one entry per line, and a chunked scan forgets the runs it
// has passed: the map holds only what is in flight.
type lineRuns struct {
	runs []lineRun // ascending text
}

type lineRun struct{ text, file int }

func (m *lineRuns) add(text, file int) {
	if n := len(m.runs); n > 0 && file-m.runs[n-1].file == text-m.runs[n-1].text {
		return // continues the last run
	}
	m.runs = append(m.runs, lineRun{text, file})
}

// find returns the index of the run holding text, -1 if none does.
func (m *lineRuns) find(text int) int {
	return sort.Search(len(m.runs), func(i int) bool { return m.runs[i].text > text }) - 1
}

// lookup returns the new-file line of text line text.
func (m *lineRuns) lookup(text int) int {
	i := m.find(text)
	if i < 0 {
		return text
	}
	return m.runs[i].file + text - m.runs[i].text
}

// forget drops the runs wholly before text line text.
func (m *lineRuns) forget(text int) {
	if i := m.find(text); i > 0 {
		m.runs = m.runs[:copy(m.runs, m.runs[i:])]
	}
}

// parseDiff reads `git log -p -U0` / `git diff -U0` output and calls file
// for each commit's file with its added lines, which file reads as a
// stream; what it leaves unread is skipped. A file git shows only as
// "Binary files … differ" goes to blob with the id of its new blob.
// parseDiff stops when either returns false.
func parseDiff(rd io.Reader, file func(item, *addedLines) bool, blob func(it item, oid string) (bool, error)) error {
	d := &diffReader{br: bufio.NewReaderSize(rd, 1<<20)}
	var commit Finding
	var cur *item // the file whose header is being read
	oid := ""     // its new blob
	for d.next() {
		if !d.start {
			continue // the rest of a long header line
		}
		line := d.frag
		switch {
		case line[0] == commitMark:
			f := strings.Split(strings.TrimRight(string(line[1:]), "\n"), "\x01")
			commit = Finding{}
			if len(f) == 3 {
				commit.Commit, commit.Author, commit.Date = f[0], f[1], f[2]
			}
			cur = nil
		case bytes.HasPrefix(line, []byte("diff --git ")):
			cur = &item{origin: commit, path: gitPath(line)}
			oid = ""
		case cur != nil && bytes.HasPrefix(line, []byte("index ")):
			oid = newBlob(line)
		case cur != nil && bytes.HasPrefix(line, []byte("Binary files ")):
			it := *cur
			cur = nil
			if it.path == "" || oid == "" {
				continue
			}
			ok, err := blob(it, oid)
			if err != nil || !ok {
				return err
			}
		case cur != nil && bytes.HasPrefix(line, []byte("+++ ")):
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
			it := *cur
			cur = nil
			it.path = memberName(strings.TrimPrefix(p, "b/"))
			it.lines = &lineRuns{}
			a := &addedLines{d: d, lines: it.lines}
			if !file(it, a) {
				return nil
			}
			if _, err := io.Copy(io.Discard, a); err != nil {
				return err
			}
		}
	}
	if errors.Is(d.err, io.EOF) {
		return nil
	}
	return d.err
}

// gitPath returns the path of a "diff --git a/P b/P" line. Without
// renames both halves name the same path, so the line splits in the
// middle even when P holds spaces; git quotes both halves alike.
func gitPath(line []byte) string {
	rest := strings.TrimRight(string(line[len("diff --git "):]), "\n")
	if len(rest)%2 == 0 || rest[len(rest)/2] != ' ' {
		return ""
	}
	p := rest[len(rest)/2+1:]
	if strings.HasPrefix(p, `"`) {
		u, err := strconv.Unquote(p)
		if err != nil {
			return ""
		}
		p = u
	}
	if !strings.HasPrefix(p, "b/") {
		return ""
	}
	return memberName(p[2:])
}

// newBlob returns the new blob id of an "index OLD..NEW [MODE]" line.
func newBlob(line []byte) string {
	f := strings.Fields(string(line[len("index "):]))
	if len(f) == 0 {
		return ""
	}
	_, id, ok := strings.Cut(f[0], "..")
	if !ok || len(id) < 40 || strings.Trim(id, "0123456789abcdef") != "" || strings.Trim(id, "0") == "" {
		return ""
	}
	return id
}

var errBlobMissing = errors.New("blob missing")

// catFile reads blobs through one long-running `git cat-file --batch`
// process, started on first use.
type catFile struct {
	ctx    context.Context
	repo   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// open returns a reader of blob oid's content; the caller reads what it
// wants and then calls done before the next open.
func (c *catFile) open(oid string) (*io.LimitedReader, error) {
	if c.cmd == nil {
		c.cmd = exec.CommandContext(c.ctx, "git", "-C", c.repo, "cat-file", "--batch")
		c.cmd.Stderr = &c.stderr
		in, err := c.cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
		if err := c.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start git cat-file: %w", err)
		}
		c.in, c.out = in, bufio.NewReaderSize(out, 64<<10)
	}
	if _, err := io.WriteString(c.in, oid+"\n"); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	hdr, err := c.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	f := strings.Fields(hdr) // "OID TYPE SIZE" or "OID missing"
	if len(f) == 2 && f[1] == "missing" {
		return nil, errBlobMissing
	}
	if len(f) != 3 || f[0] != oid {
		return nil, fmt.Errorf("git cat-file: unexpected answer for %s", oid)
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("git cat-file: bad size for %s", oid)
	}
	return &io.LimitedReader{R: c.out, N: size}, nil
}

// done skips what the scan left of body and the newline after it.
func (c *catFile) done(body *io.LimitedReader) error {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	if b, err := c.out.ReadByte(); err != nil || b != '\n' {
		return errors.New("git cat-file: malformed output")
	}
	return nil
}

func (c *catFile) close() error {
	if c.cmd == nil {
		return nil
	}
	c.in.Close()
	if err := c.cmd.Wait(); err != nil && c.ctx.Err() == nil {
		return fmt.Errorf("git cat-file: %w: %s", err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
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
