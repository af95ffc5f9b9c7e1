package mask

import (
	"errors"
	"io"
	"slices"
	"sync"
	"time"
)

// Style selects what replaces a masked region.
type Style int

const (
	// StyleStars writes "***" in place of each masked region.
	StyleStars Style = iota
	// StyleName writes "[NAME]" with the secret's name, or "[MASKED]" when
	// the name is empty or not known.
	StyleName
)

// DefaultFlushDelay is the default Options.FlushDelay.
const DefaultFlushDelay = 50 * time.Millisecond

// maxRevealed is the longest prefix of a registered form that a flush forced
// by FlushDelay may write unmasked.
const maxRevealed = 3

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mask: write to closed writer")

// Options tunes a Writer. The zero value is usable.
type Options struct {
	// Style of the replacement text; StyleStars by default.
	Style Style
	// FlushDelay bounds how long output may wait for more data (default
	// DefaultFlushDelay; negative disables the timer, so held bytes wait for
	// the next Write or Close). A Writer holds back only the shortest tail
	// that could still begin a registered form. When the delay passes with
	// no new write, that tail is released: written as-is if the form prefix
	// it extends is at most 3 bytes long and at most a third of every form it
	// could begin, and replaced by the mask otherwise. So a secret printed in
	// pieces with pauses between them reveals at most its first 3 bytes (the
	// rest is still masked when it arrives), and progress bars and prompts
	// show on time; the cost is that output which ends, before a pause, with
	// 4 or more bytes that begin a secret's form is masked even if it turns
	// out not to be that secret.
	FlushDelay time.Duration
	// MinLen is the shortest derived form registered (default
	// DefaultMinLen). Each secret's raw value is registered whatever its
	// length; use Check to refuse short values.
	MinLen int
}

func (o Options) minLen() int {
	if o.MinLen <= 0 {
		return DefaultMinLen
	}
	return o.MinLen
}

// Writer masks secrets in everything written through it before passing it on.
// It is safe for concurrent use; a Write is masked as a whole, and a value
// split across consecutive Writes is caught. Writer never retains the caller's
// slice. It does not close the underlying writer.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	m     *matcher
	style Style
	delay time.Duration
	after func(time.Duration, func()) (stop func() bool)
	stop  func() bool
	gen   uint64

	buf      []byte // stream bytes [base, base+len(buf)): every byte not yet resolved
	base     int64  // offset of buf[0]; positions before it start no match
	emitted  int64  // offset of the first byte not yet written out
	ivs      []interval
	tokenEnd int64 // end of the last masked region written, -1 if none
	out      []byte
	err      error
	closed   bool
}

var _ io.WriteCloser = (*Writer)(nil)

// interval is a region to mask, in stream offsets.
type interval struct {
	s, e int64
	name string
}

// NewWriter returns a Writer that masks every registered form of secrets in
// what it writes to w. It keeps the values (and their forms) in memory until
// it is garbage collected.
func NewWriter(w io.Writer, secrets []Secret, opts Options) *Writer {
	return newWriter(w, secrets, opts, func(d time.Duration, f func()) func() bool {
		return time.AfterFunc(d, f).Stop
	})
}

// NewWriterValues is NewWriter for unnamed values with default Options.
func NewWriterValues(w io.Writer, values []string) *Writer {
	secrets := make([]Secret, len(values))
	for i, v := range values {
		secrets[i] = Secret{Value: v}
	}
	return NewWriter(w, secrets, Options{})
}

func newWriter(w io.Writer, secrets []Secret, opts Options, after func(time.Duration, func()) func() bool) *Writer {
	delay := opts.FlushDelay
	if delay == 0 {
		delay = DefaultFlushDelay
	}
	return &Writer{
		w:        w,
		m:        newMatcher(derive(secrets, opts.minLen())),
		style:    opts.Style,
		delay:    delay,
		after:    after,
		tokenEnd: -1,
	}
}

// Write masks p and writes what can be decided now to the underlying
// writer, holding back only a tail that might begin a secret. It returns
// len(p) unless the Writer is closed; an error from the underlying writer is
// returned and sticks.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.m == nil {
		w.write(p)
		return len(p), w.err
	}
	w.gen++
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.buf = append(w.buf, p...)
	hold := w.scan(false)
	w.emit(hold)
	w.trim(hold)
	if w.err == nil && w.emitted < w.end() && w.delay > 0 {
		g := w.gen
		w.stop = w.after(w.delay, func() { w.timeout(g) })
	}
	return len(p), w.err
}

// Close writes everything held back, masked, and stops the timer. It
// returns the first error from the underlying writer, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	if w.m != nil && w.err == nil {
		w.scan(true)
		w.emit(w.end())
		w.buf = nil
	}
	return w.err
}

// timeout releases the held tail FlushDelay after write number g, unless
// another write came since.
func (w *Writer) timeout(g uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || g != w.gen || w.err != nil {
		return
	}
	w.stop = nil
	hold := w.scan(false)
	w.emit(hold)
	w.trim(hold)
	tail := w.buf
	if len(tail) == 0 {
		return
	}
	lo, hi := w.m.prefixRange(tail)
	shortest, name := w.m.maxLen, ""
	for i := lo; i < hi; i++ {
		shortest = min(shortest, len(w.m.pats[i]))
		if i == lo {
			name = w.m.names[i]
		} else if w.m.names[i] != name {
			name = ""
		}
	}
	if len(tail) <= maxRevealed && 3*len(tail) <= shortest {
		w.scan(true) // still mask any complete match inside the tail
	} else {
		w.addInterval(w.base, w.end(), name)
	}
	w.emit(w.end())
	w.trim(w.base) // keep the tail as context: a later write may complete it
}

func (w *Writer) end() int64 { return w.base + int64(len(w.buf)) }

// scan records matches in buf and returns the stream offset from which
// bytes must be held back (the end of the stream when final).
func (w *Writer) scan(final bool) int64 {
	i := w.m.scan(w.buf, 0, final, func(start, n, idx int) {
		w.addInterval(w.base+int64(start), w.base+int64(start+n), w.m.names[idx])
	})
	return w.base + int64(i)
}

// addInterval adds [s,e) to the sorted list of regions to mask, merging it
// with any region it overlaps or touches. The first region's name wins.
func (w *Writer) addInterval(s, e int64, name string) {
	n := len(w.ivs)
	if n == 0 || s > w.ivs[n-1].e {
		w.ivs = append(w.ivs, interval{s, e, name})
		return
	}
	if s >= w.ivs[n-1].s {
		w.ivs[n-1].e = max(w.ivs[n-1].e, e)
		return
	}
	// Out of order (rare): insert, then merge the whole list.
	w.ivs = append(w.ivs, interval{s, e, name})
	slices.SortStableFunc(w.ivs, func(a, b interval) int {
		switch {
		case a.s < b.s:
			return -1
		case a.s > b.s:
			return 1
		}
		return 0
	})
	merged := w.ivs[:1]
	for _, iv := range w.ivs[1:] {
		last := &merged[len(merged)-1]
		if iv.s <= last.e {
			last.e = max(last.e, iv.e)
		} else {
			merged = append(merged, iv)
		}
	}
	w.ivs = merged
}

// emit writes stream bytes [w.emitted, upto), replacing masked regions by
// one token each. A region continuing one already written adds no token.
func (w *Writer) emit(upto int64) {
	if upto <= w.emitted {
		return
	}
	if len(w.ivs) == 0 || w.ivs[0].s >= upto {
		// Nothing to mask: write straight from the buffer.
		w.write(w.buf[w.emitted-w.base : upto-w.base])
		w.emitted = upto
		return
	}
	out := w.out[:0]
	pos := w.emitted
	for _, iv := range w.ivs {
		if iv.e <= pos {
			continue
		}
		if iv.s >= upto {
			break
		}
		s := max(iv.s, pos)
		out = append(out, w.buf[pos-w.base:s-w.base]...)
		if s != w.tokenEnd {
			out = w.token(out, iv.name)
		}
		pos = min(iv.e, upto)
		w.tokenEnd = pos
	}
	out = append(out, w.buf[pos-w.base:upto-w.base]...)
	w.emitted = upto
	w.out = out
	w.write(out)
}

func (w *Writer) token(out []byte, name string) []byte {
	if w.style == StyleName {
		if name == "" {
			name = "MASKED"
		}
		out = append(out, '[')
		out = append(out, name...)
		return append(out, ']')
	}
	return append(out, "***"...)
}

// trim forgets bytes before resolved and regions already written.
func (w *Writer) trim(resolved int64) {
	k := 0
	for k < len(w.ivs) && w.ivs[k].e <= w.emitted {
		k++
	}
	w.ivs = append(w.ivs[:0], w.ivs[k:]...)
	if drop := int(resolved - w.base); drop > 0 {
		w.buf = w.buf[:copy(w.buf, w.buf[drop:])]
		w.base = resolved
	}
}

func (w *Writer) write(b []byte) {
	if len(b) == 0 || w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	w.err = err
}
