package scan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/sensitive"
)

// Finding is one detected credential. Secret holds the full value and never
// prints; reports use Redacted and Fingerprint.
type Finding struct {
	RuleID      string           `json:"rule_id"`
	Description string           `json:"description"`
	Severity    Severity         `json:"severity"`
	Path        string           `json:"path"`
	Line        int              `json:"line"`
	Column      int              `json:"column"`
	Secret      sensitive.String `json:"-"`
	Redacted    string           `json:"secret_redacted"`
	Fingerprint string           `json:"fingerprint"`
	// Confidence is how likely the finding is a live credential;
	// TestMaterial, when set, is why it was taken for test material (which
	// makes its confidence low).
	Confidence   Confidence `json:"confidence"`
	TestMaterial string     `json:"test_material,omitempty"`
	Encoding     string     `json:"encoding,omitempty"`
	Commit       string     `json:"commit,omitempty"`
	Author       string     `json:"author,omitempty"`
	Date         string     `json:"date,omitempty"`
	Layer        string     `json:"layer,omitempty"`
	LayerStep    string     `json:"layer_step,omitempty"`
}

// Options configures a Scanner. The zero value of every field but Engine
// means the default.
type Options struct {
	Engine *Engine
	// Allow is the path allowlist applied before reading a file.
	Allow Allowlist
	// NoIgnore scans files that .gitignore excludes.
	NoIgnore bool
	// Binary scans binary files instead of skipping them.
	Binary bool
	// MaxDepth bounds archive nesting (default 4).
	MaxDepth int
	// MaxArchiveBytes bounds the uncompressed bytes read from one top-level
	// archive or image, all nesting included (default 1 GiB).
	MaxArchiveBytes int64
	// MaxEntryBytes bounds one archive member or image file (default
	// 256 MiB); a member over it is reported as incomplete, not scanned.
	MaxEntryBytes int64
	// Workers is the number of scanning goroutines (default GOMAXPROCS).
	Workers int
	// Progress, if set, is updated as the scan runs.
	Progress *Progress
}

// Progress counts work done; fields are updated atomically while a scan
// runs and may be read concurrently.
type Progress struct {
	FilesTotal, FilesDone atomic.Int64
	BytesTotal, BytesDone atomic.Int64
}

// Result is the outcome of one scan.
type Result struct {
	Findings []Finding
	Files    int64
	Bytes    int64
	// Skipped names every input that was not scanned, or not to its end,
	// and why, sorted by path.
	Skipped []Skip
	// Hidden counts the findings a report leaves out (see Visible); the
	// scanner reports everything, so it is set by whoever filters.
	Hidden Hidden
}

// Skip names an input left out of a scan, or cut short, and why.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	// Incomplete marks content a limit or an error kept from being
	// scanned; a binary file or a symlink left out by design is not.
	Incomplete bool   `json:"incomplete"`
	Commit     string `json:"commit,omitempty"`
	Layer      string `json:"layer,omitempty"`
}

// Incomplete returns how many inputs a limit or an error kept from being
// scanned to their end.
func (r *Result) Incomplete() int {
	n := 0
	for _, s := range r.Skipped {
		if s.Incomplete {
			n++
		}
	}
	return n
}

// Scanner scans sources with one Engine. It is safe for concurrent use.
type Scanner struct {
	opts Options
}

// New returns a Scanner.
func New(opts Options) (*Scanner, error) {
	if opts.Engine == nil {
		return nil, errors.New("scan: no engine")
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 4
	}
	if opts.MaxArchiveBytes <= 0 {
		opts.MaxArchiveBytes = 1 << 30
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 256 << 20
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	return &Scanner{opts: opts}, nil
}

// item is one unit of content to scan.
type item struct {
	path   string
	rel    string    // path relative to the scanned root, for path allowlists
	data   []byte    // content in memory, or
	file   string    // a file on disk
	size   int64     // its size when known (walks), else -1
	lines  *lineRuns // text line -> new-file line, for diffs
	origin Finding
}

// run is the state of one scan: a worker pool and collected results.
type run struct {
	s        *Scanner
	ctx      context.Context
	items    chan item
	mu       sync.Mutex
	res      Result
	wg       sync.WaitGroup
	firstErr error
}

func (s *Scanner) start(ctx context.Context) *run {
	r := &run{s: s, ctx: ctx, items: make(chan item, 2*s.opts.Workers)}
	for range s.opts.Workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for it := range r.items {
				if ctx.Err() != nil {
					continue
				}
				r.scanItem(it)
			}
		}()
	}
	return r
}

// send queues an item; it returns false when the scan was cancelled.
func (r *run) send(it item) bool {
	select {
	case r.items <- it:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *run) finish() (*Result, error) {
	close(r.items)
	r.wg.Wait()
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	if r.firstErr != nil {
		return nil, r.firstErr
	}
	sortFindings(r.res.Findings)
	sort.SliceStable(r.res.Skipped, func(i, j int) bool {
		a, b := r.res.Skipped[i], r.res.Skipped[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Reason < b.Reason
	})
	return &r.res, nil
}

func (r *run) fail(err error) {
	r.mu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

// skip reports content left out by design (binary, a symlink).
func (r *run) skip(it item, why string) { r.report(it, why, false) }

// incomplete reports content a limit or an error kept from being scanned
// to its end; the CLI fails the scan unless told otherwise.
func (r *run) incomplete(it item, why string) { r.report(it, why, true) }

func (r *run) report(it item, why string, incomplete bool) {
	r.mu.Lock()
	r.res.Skipped = append(r.res.Skipped, Skip{Path: it.path, Reason: why, Incomplete: incomplete, Commit: it.origin.Commit, Layer: it.origin.Layer})
	r.mu.Unlock()
}

func (r *run) add(fs []Finding, bytes int64) {
	r.mu.Lock()
	r.res.Findings = append(r.res.Findings, fs...)
	r.res.Files++
	r.res.Bytes += bytes
	r.mu.Unlock()
	r.s.opts.Progress.FilesDone.Add(1)
	r.s.opts.Progress.BytesDone.Add(bytes)
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Commit != b.Commit {
			return a.Date > b.Date || a.Date == b.Date && a.Commit < b.Commit
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.RuleID < b.RuleID
	})
}

func (r *run) scanItem(it item) {
	if it.data != nil {
		r.scanContent(it, bytes.NewReader(it.data), int64(len(it.data)), 0, nil, nil)
		return
	}
	f, err := os.Open(it.file)
	if err != nil {
		r.incomplete(it, "cannot open: "+pathErr(err))
		return
	}
	defer f.Close()
	size := it.size
	if size < 0 {
		st, err := f.Stat()
		if err != nil {
			r.incomplete(it, "cannot stat: "+pathErr(err))
			return
		}
		size = st.Size()
	}
	r.scanContent(it, f, size, 0, f, nil)
}

const (
	peekSize  = 8 << 10
	chunkSize = 4 << 20
	overlap   = 64 << 10
	wholeMax  = 8 << 20
)

// scanContent dispatches on content: archives are opened, binaries skipped,
// text scanned. ra is the content's random access form when it has one.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, peekSize) }}

// b is the enclosing archive's budget, nil at the top level.
func (r *run) scanContent(it item, rd io.Reader, size int64, depth int, ra io.ReaderAt, b *budget) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(rd)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	head, _ := br.Peek(peekSize)
	if kind := archiveKind(head); kind != "" && it.lines == nil {
		if b == nil {
			b = &budget{left: r.s.opts.MaxArchiveBytes}
		}
		if len(head) < peekSize {
			// the whole content is in head; zip can use it directly
			ra, size = bytes.NewReader(head), int64(len(head))
		}
		r.scanArchive(it, kind, br, size, ra, depth, b)
		return
	}
	if !r.s.opts.Binary && isBinary(head) {
		r.skip(it, "binary")
		return
	}
	fs, n, err := r.s.scanText(it, br, size)
	if err != nil {
		r.incomplete(it, r.readReason(err))
	}
	if len(fs) > 0 {
		p := it.rel
		if p == "" {
			p = it.path
		}
		r.s.opts.Engine.assess(fs, p, configFile(it.path))
	}
	r.add(fs, n)
}

// pathErr is the cause of a file system error, without the path the
// report already names.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return errMsg(err)
}

// isBinary reports whether content starting with head is binary. Text
// without NUL bytes in valid UTF-8 never is; otherwise content is binary
// when more than one byte in twenty is a control character (NUL included),
// as in executables, images, compressed and UTF-16 data. A stray NUL, such
// as one put in front of a text file, does not hide the text.
func isBinary(head []byte) bool {
	if bytes.IndexByte(head, 0) < 0 && utf8.Valid(head[:max(0, len(head)-4)]) {
		return false
	}
	return !mostlyPrintable(head)
}

func mostlyPrintable(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	bad := 0
	for _, c := range b {
		if c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f {
			bad++
		}
	}
	return bad*20 < len(b)
}

// Read buffers are pooled in two sizes: small files and streaming chunks.
var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+overlap); return &b }}
)

func getBuf(n int) []byte {
	switch {
	case n <= 64<<10:
		return (*smallBufs.Get().(*[]byte))[:0]
	case n <= chunkSize+overlap:
		return (*chunkBufs.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	switch cap(b) {
	case 64 << 10:
		smallBufs.Put(&b)
	case chunkSize + overlap:
		chunkBufs.Put(&b)
	}
}

// scanStream scans content that can be read only once, in order, while
// the caller walks an enclosing stream (an image layer, git's patch
// output). Content that fits one chunk goes to the workers like a small
// file; larger content is scanned here, in the overlapping chunks of
// scanText that bound the tree path, so memory stays bounded whatever its
// size or line length. size is the content's length, or -1 when unknown.
// It returns false when the scan was cancelled.
func (r *run) scanStream(it item, rd io.Reader, size int64) bool {
	if size > wholeMax {
		r.scanContent(it, rd, size, 0, nil, nil)
		return r.ctx.Err() == nil
	}
	if size >= 0 {
		data := make([]byte, size)
		n, err := io.ReadFull(rd, data)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			r.incomplete(it, r.readReason(err))
			return true
		}
		it.data = data[:n]
		return r.send(it)
	}
	head := getBuf(chunkSize + overlap)
	defer putBuf(head)
	head = head[:cap(head)]
	n, err := io.ReadFull(rd, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		it.data = append(make([]byte, 0, n), head[:n]...)
		return r.send(it)
	case err != nil:
		r.incomplete(it, r.readReason(err))
		return true
	}
	r.scanContent(it, io.MultiReader(bytes.NewReader(head), rd), -1, 0, nil, nil)
	return r.ctx.Err() == nil
}

// scanText scans a stream in overlapping chunks so memory stays bounded.
func (s *Scanner) scanText(it item, rd io.Reader, size int64) ([]Finding, int64, error) {
	bufSize := chunkSize + overlap
	if size >= 0 && size <= wholeMax {
		bufSize = int(size) + 1
	}
	buf := getBuf(bufSize)
	defer putBuf(buf)
	var out []Finding
	var total int64
	baseLine := 1 // line number of buf[0]
	baseCol := 0  // bytes of that line before buf[0]
	for {
		n, err := io.ReadFull(rd, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		final := err != nil
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return out, total, err
		}
		if !final && cap(buf) < chunkSize+overlap {
			// the size was a lie (archive headers): grow to chunked mode
			nb := make([]byte, len(buf), chunkSize+overlap)
			copy(nb, buf)
			buf = nb
			continue
		}
		limit := len(buf)
		if !final {
			limit = len(buf) - overlap
		}
		out = append(out, s.scanBuffer(it, buf, limit, baseLine, baseCol)...)
		if final {
			return out, total, nil
		}
		if nl := bytes.LastIndexByte(buf[:limit], '\n'); nl >= 0 {
			baseLine += bytes.Count(buf[:limit], []byte{'\n'})
			baseCol = limit - nl - 1
		} else {
			baseCol += limit // a line longer than a chunk goes on
		}
		if it.lines != nil {
			it.lines.forget(baseLine)
		}
		copy(buf, buf[limit:])
		buf = buf[:len(buf)-limit]
	}
}

// scanBuffer reports matches in buf whose whole match starts before limit.
// baseLine is the line number of buf[0], baseCol the bytes of that line in
// earlier chunks, so columns count from the start of the line.
func (s *Scanner) scanBuffer(it item, buf []byte, limit, baseLine, baseCol int) []Finding {
	e := s.opts.Engine
	ms := e.matches(buf, it.path)
	var out []Finding
	line, lineStart, pos := baseLine, 0, 0
	locate := func(off int) (int, int) {
		if off < pos { // matches are sorted by secret start; mstart may go back
			line, lineStart, pos = baseLine, 0, 0
		}
		for {
			k := bytes.IndexByte(buf[pos:off], '\n')
			if k < 0 {
				break
			}
			line++
			pos += k + 1
			lineStart = pos
		}
		pos = off
		if lineStart == 0 { // still on the line buf began in
			return line, baseCol + off + 1
		}
		return line, off - lineStart + 1
	}
	for _, m := range ms {
		if m.mstart >= limit {
			continue
		}
		if m.rule.Allow.AllowsPath(it.path) || it.rel != "" && m.rule.Allow.AllowsPath(it.rel) {
			continue
		}
		ln, col := locate(m.start)
		if allowComment(buf, lineStart, m.rule.ID) {
			continue
		}
		out = append(out, s.finding(it, m.rule, string(buf[m.start:m.end]), ln, col, ""))
	}
	return append(out, s.scanBase64(it, buf, limit, baseLine, baseCol)...)
}

// allowComment reports whether the line starting at lineStart carries a
// keyward:allow marker, bare or naming ruleID.
func allowComment(buf []byte, lineStart int, ruleID string) bool {
	end := bytes.IndexByte(buf[lineStart:], '\n')
	if end < 0 {
		end = len(buf) - lineStart
	}
	l := buf[lineStart : lineStart+end]
	for {
		i := bytes.Index(l, []byte("keyward:allow"))
		if i < 0 {
			return false
		}
		rest := l[i+len("keyward:allow"):]
		if len(rest) == 0 || rest[0] != ' ' && rest[0] != '=' && rest[0] != ':' {
			return true
		}
		arg := bytes.TrimLeft(rest[1:], " ")
		if len(arg) == 0 || !('a' <= arg[0] && arg[0] <= 'z') {
			return true // no rule list follows: "keyward:allow -->"
		}
		k := 0
		for k < len(arg) && (isIdentByte(arg[k]) || arg[k] == ',') {
			k++
		}
		if k == 0 {
			return true
		}
		for _, id := range strings.Split(string(arg[:k]), ",") {
			if id == ruleID {
				return true
			}
		}
		l = rest
	}
}

var b64Table = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_") {
		t[c] = true
	}
	return t
}()

const (
	minB64    = 40
	maxB64    = 64 << 10
	b64Stride = minB64 / 2
)

// scanBase64 decodes long base64 runs and scans the decoded text, so a
// credential inside an encoded blob (a Kubernetes Secret, a data: URL, an
// encoded .env) is found. Findings point at the blob's line.
func (s *Scanner) scanBase64(it item, buf []byte, limit, baseLine, baseCol int) []Finding {
	var out []Finding
	line, pos := baseLine, 0
	// A run of at least minB64 base64 bytes covers two consecutive
	// multiples of b64Stride; probe only those, then measure the run.
	next := 0 // runs before this offset are done
	for k := 0; k+b64Stride < len(buf); k += b64Stride {
		if k < next || !b64Table[buf[k]] || !b64Table[buf[k+b64Stride]] {
			continue
		}
		hi := k + 1
		for hi < len(buf) && b64Table[buf[hi]] {
			hi++
		}
		if hi <= k+b64Stride {
			continue // the run ends before the next probe
		}
		lo := k
		for lo > 0 && b64Table[buf[lo-1]] {
			lo--
		}
		next = hi
		run := hi - lo
		if run < minB64 || run > maxB64 || lo >= limit {
			continue
		}
		fs := s.scanDecoded(it, buf[lo:hi])
		if len(fs) == 0 {
			continue
		}
		line += bytes.Count(buf[pos:lo], []byte{'\n'})
		pos = lo
		ls := bytes.LastIndexByte(buf[:pos], '\n') + 1
		col := pos - ls + 1
		if ls == 0 {
			col += baseCol
		}
		for _, f := range fs {
			if allowComment(buf, ls, f.RuleID) {
				continue
			}
			f.Line, f.Column = mapLine(it, line), col
			out = append(out, f)
		}
	}
	return out
}

func (s *Scanner) scanDecoded(it item, enc []byte) []Finding {
	str := strings.TrimRight(string(enc), "=")
	var dec []byte
	var err error
	if strings.ContainsAny(str, "-_") {
		dec, err = base64.RawURLEncoding.DecodeString(str)
	} else {
		dec, err = base64.RawStdEncoding.DecodeString(str)
	}
	if err != nil || len(dec) < 16 || !utf8.Valid(dec) || !mostlyPrintable(dec) {
		return nil
	}
	var out []Finding
	for _, m := range s.opts.Engine.matches(dec, it.path) {
		if m.rule.Allow.AllowsPath(it.path) || it.rel != "" && m.rule.Allow.AllowsPath(it.rel) {
			continue
		}
		out = append(out, s.finding(it, m.rule, string(dec[m.start:m.end]), 0, 0, "base64"))
	}
	return out
}

func mapLine(it item, line int) int {
	if it.lines != nil && line >= 1 {
		return it.lines.lookup(line)
	}
	return line
}

func (s *Scanner) finding(it item, r *Rule, secret string, line, col int, enc string) Finding {
	f := it.origin
	f.RuleID, f.Description, f.Severity = r.ID, r.Description, r.Severity
	f.Path = it.path
	f.Line, f.Column = mapLine(it, line), col
	f.Secret = sensitive.NewString(secret)
	f.Redacted = Redact(secret)
	f.Fingerprint = Fingerprint(r.ID, it.path, secret)
	f.Encoding = enc
	return f
}

// Redact shows at most the first 4 bytes of a secret, and never more than
// a quarter of it, followed by an ellipsis.
func Redact(secret string) string {
	n := min(4, len(secret)/4)
	for n > 0 && !utf8.RuneStart(secret[n]) {
		n--
	}
	return strings.ReplaceAll(secret[:n], "\n", "") + "…"
}

// Fingerprint identifies a finding for baselines without revealing the
// secret: a truncated SHA-256 over rule, path and secret.
func Fingerprint(ruleID, path, secret string) string {
	h := sha256.New()
	fmt.Fprintf(h, "keyward-scan/v1\x00%s\x00%s\x00", ruleID, path)
	h.Write([]byte(secret))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ScanReader scans one stream (stdin) reported under name.
func (s *Scanner) ScanReader(ctx context.Context, name string, rd io.Reader) (*Result, error) {
	r := s.start(ctx)
	// stdin may be an archive too; it goes through the same dispatcher.
	r.scanContent(item{path: name}, rd, -1, 0, nil, nil)
	return r.finish()
}
