package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"unicode/utf8"
)

// Errors returned by decodeBody and parseQuery. The HTTP layer maps each to a
// status; none of them carries any byte of the body, which may hold secrets.
var (
	errBodyTooLarge  = errors.New("request body too large")
	errTooDeep       = errors.New("request body is nested too deeply")
	errTooManyValues = errors.New("request body has too many JSON values")
	errMalformedJSON = errors.New("malformed JSON request body")
	errNotObject     = errors.New("request body must be a JSON object")
	errInvalidUTF8   = errors.New("request body is not valid UTF-8")
	errInvalidQuery  = errors.New("malformed query string or not valid UTF-8")
	// A body that breaks off, or whose chunked framing is broken, is the
	// client's error (400), and so is one that stops arriving before the
	// listener's read timeout (408).
	errBodyRead    = errors.New("malformed or truncated request body")
	errBodyTimeout = errors.New("timed out reading the request body")
	// errBusy: the in-flight body budget has no room for this body now.
	errBusy = errors.New("too many request bodies in flight; retry later")
)

// bodyBudget bounds the bytes of request bodies held at once, across all
// requests and listeners. It is safe for concurrent use.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// bodyClaim is one request's share of a budget: what its body buffer
// holds, and what decoding the bytes read so far may hold (decodeCost). A
// nil budget never refuses (tests of the decoder alone).
type bodyClaim struct {
	budget *bodyBudget
	n      int64
}

// grow takes n more bytes, reporting false (and taking nothing) when the
// budget has no room for them.
func (c *bodyClaim) grow(n int64) bool {
	if c == nil || c.budget == nil {
		return true
	}
	if c.budget.used.Add(n) > c.budget.max {
		c.budget.used.Add(-n)
		return false
	}
	c.n += n
	return true
}

// ensure grows c to total bytes if it holds less, reporting false (and
// taking nothing) when the budget has no room.
func (c *bodyClaim) ensure(total int64) bool {
	if c == nil || total <= c.n {
		return true
	}
	return c.grow(total - c.n)
}

// release gives back everything c took.
func (c *bodyClaim) release() {
	if c.n != 0 {
		c.budget.used.Add(-c.n)
		c.n = 0
	}
}

// firstBuffer bounds the body buffer allocated before any byte arrives,
// whatever length the request announces; the buffer then grows (at most
// doubling) only once full, so it holds at most about twice what the
// client sent.
const firstBuffer = 1 << 10

// Decoding a body holds more than its bytes: json.Decoder copies the body
// into its own buffer, which grows by doubling (all of its generations
// together reach up to four times the body), strings are copied (and
// unescaped) out of it, and every value costs an interface, a map or slice
// slot and its header. Measured with runtime.MemStats around
// unmarshalObject (Go 1.25, amd64), the bytes allocated were at most 5.0
// per body byte for one large string (3.1 to 5.0 as the doubling lands),
// 4.7 for multibyte text, 3.5 for escapes, plus about 70 to 150 bytes per
// value for small keys, numbers and empty objects.
// TestDecodeCostCoversAllocation keeps these numbers honest. A body is
// charged its buffer plus decodeCost of what it sent, with a margin.
const (
	decodePerByte  = 6
	decodePerValue = 160
)

// decodeCost is what decoding n body bytes holding v JSON values may
// allocate, on top of the body's own buffer.
func decodeCost(n, v int64) int64 { return decodePerByte*n + decodePerValue*v }

// maxBodyCost is what one body of maxBytes may hold from the budget at
// most: its buffer and its decoding, with at most maxValues values (and no
// more values than bytes: each takes at least one).
func maxBodyCost(maxBytes int64, maxValues int) int64 {
	return maxBytes + decodeCost(maxBytes, min(int64(maxValues), maxBytes))
}

// limits bounds what decodeBody accepts.
type limits struct {
	maxBytes  int64 // total body size
	maxDepth  int   // nesting of arrays and objects
	maxValues int   // object keys plus values of any kind, containers included
}

// limitScanner is a lexical JSON scanner that counts nesting depth and values
// as bytes stream past, without building anything. For valid JSON its counts
// are exact; for invalid JSON they may be anything, which is harmless because
// encoding/json rejects such input afterwards. It never allocates.
type limitScanner struct {
	lim       limits
	depth     int
	values    int
	inString  bool
	escape    bool
	inLiteral bool // inside a number, true, false or null
}

// scan feeds p to the scanner and reports the first limit exceeded. State
// lives in locals inside the loop and is stored back on return.
func (s *limitScanner) scan(p []byte) error {
	depth, values := s.depth, s.values
	inString, escape, inLiteral := s.inString, s.escape, s.inLiteral
	maxDepth, maxValues := s.lim.maxDepth, s.lim.maxValues
	defer func() {
		s.depth, s.values = depth, values
		s.inString, s.escape, s.inLiteral = inString, escape, inLiteral
	}()
	for i := 0; i < len(p); i++ {
		c := p[i]
		if inString {
			if escape { // c is the escaped byte
				escape = false
				continue
			}
			// Skip plain string bytes quickly.
			j := bytes.IndexAny(p[i:], `"\`)
			if j < 0 {
				return nil
			}
			i += j
			if p[i] == '\\' {
				escape = true
			} else {
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString, inLiteral = true, false
			values++
		case '[', '{':
			inLiteral = false
			values++
			depth++
			if depth > maxDepth {
				return errTooDeep
			}
		case ']', '}':
			inLiteral = false
			if depth > 0 {
				depth--
			}
			continue
		case ' ', '\t', '\n', '\r', ',', ':':
			inLiteral = false
			continue
		default:
			if inLiteral {
				continue
			}
			inLiteral = true
			values++
		}
		if values > maxValues {
			return errTooManyValues
		}
	}
	return nil
}

// decodeBody reads a JSON object from r within lim. sizeHint is the
// Content-Length when known (-1 otherwise) and caps the buffer's growth.
// Limits are checked while reading, so a hostile body is rejected after at
// most a few kilobytes past the limit and before any Go value is built. An
// empty or all-whitespace body, or a JSON null, yields nil data. Numbers
// decode as json.Number. r should already be capped (http.MaxBytesReader)
// at the largest limit the body may get; reading more than lim.maxBytes
// returns errBodyTooLarge as well.
//
// raise, when not nil, is asked once, when the body outgrows lim (by its
// announced length or by what arrived), for the larger limits it may have
// (a request whose token the core knows); it reports false to keep lim.
//
// The claim grows with the body as it arrives: the buffer before it is
// allocated, and the cost of decoding (decodeCost) with every read. A body
// that no longer fits the in-flight budget is refused with errBusy, before
// it is decoded. Announcing a length claims nothing beyond firstBuffer.
// The caller releases claim.
func decodeBody(r io.Reader, sizeHint int64, lim limits, claim *bodyClaim, raise func() (limits, bool)) (map[string]any, error) {
	sc := limitScanner{lim: lim}
	// tooLarge reports whether a body of n bytes is over the limit, once
	// raise has had its say.
	tooLarge := func(n int64) bool {
		if n <= lim.maxBytes {
			return false
		}
		if raise != nil {
			if full, ok := raise(); ok {
				lim, sc.lim = full, full
			}
			raise = nil
		}
		return n > lim.maxBytes
	}
	if tooLarge(sizeHint) {
		return nil, errBodyTooLarge
	}
	capacity := int64(512)
	if sizeHint > 0 {
		capacity = min(sizeHint+1, firstBuffer)
	}
	// held is what the body holds with a buffer of c bytes: the buffer up
	// to the limit (the one byte past it that detects an oversized body is
	// not worth refusing a body for) and the decoding of what was read.
	held := func(c int64, read []byte) int64 {
		return min(c, lim.maxBytes) + decodeCost(int64(len(read)), int64(sc.values))
	}
	if !claim.ensure(held(capacity, nil)) {
		return nil, errBusy
	}
	buf := make([]byte, 0, capacity)
	for {
		if len(buf) == cap(buf) {
			// Grow geometrically, never past the announced length or the
			// limit (+1 to detect overflow).
			next := int64(cap(buf)) * 2
			if sizeHint >= int64(len(buf)) {
				next = min(next, sizeHint+1)
			}
			next = min(next, lim.maxBytes+1) // > cap: len(buf) is within lim
			if !claim.ensure(held(next, buf)) {
				return nil, errBusy
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			if serr := sc.scan(buf[len(buf) : len(buf)+n]); serr != nil {
				return nil, serr
			}
			buf = buf[:len(buf)+n]
			if tooLarge(int64(len(buf))) {
				return nil, errBodyTooLarge
			}
			if !claim.ensure(held(int64(cap(buf)), buf)) {
				return nil, errBusy
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
	}
	return unmarshalObject(buf)
}

// bodyError maps an error from reading a request body. Every such error is
// the client's doing (a broken, cut-off or stalled body, one over the
// limit), so none of them is an internal error.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return errBodyTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errBodyTimeout
	}
	return errBodyRead
}

// unmarshalObject decodes b, which has passed the limit scanner.
func unmarshalObject(b []byte) (map[string]any, error) {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] != '{' && trimmed[0] != 'n' {
		if !json.Valid(trimmed) {
			return nil, errMalformedJSON
		}
		return nil, errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errMalformedJSON
	}
	if len(bytes.TrimLeft(trimmed[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errMalformedJSON
	}
	if !validText(trimmed) {
		return nil, errInvalidUTF8
	}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return t, nil
	}
	return nil, errNotObject
}

// validText reports whether JSON text b is valid UTF-8 and every \u escape
// of a UTF-16 surrogate is one half of a pair in the right order.
// encoding/json silently turns both kinds of damage into U+FFFD, which
// would store and compare something other than what the client sent, so
// such bodies are refused instead. A backslash can only stand in a string
// of valid JSON, so the scan needs no string state.
func validText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return true
		}
		if b[i+1] != 'u' {
			b = b[i+2:] // "\\" and the other one-letter escapes
			continue
		}
		r, ok := hex4(b[i+2:])
		if !ok {
			return true // malformed: encoding/json has refused it already
		}
		b = b[i+6:]
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return false // low half first, or alone
		case r >= 0xd800 && r <= 0xdbff:
			if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
				return false
			}
			if lo, ok := hex4(b[2:]); !ok || lo < 0xdc00 || lo > 0xdfff {
				return false
			}
			b = b[6:]
		}
	}
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
