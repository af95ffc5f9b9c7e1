package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// PathError reports a request path that is not canonical. Its message names
// only the path (truncated) and the reason, never other request content.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string {
	return "invalid path " + quoteShort(e.Path) + ": " + e.Reason
}

// maxShown bounds how much of a caller-supplied string an error repeats.
const maxShown = 64

// quoteShort quotes s for an error message, escaping unprintable runes and
// truncating after about maxShown bytes so errors never echo long content.
func quoteShort(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if b.Len() > maxShown {
			b.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || !unicode.IsPrint(r):
			b.WriteString(`\u`)
			const hex = "0123456789abcdef"
			b.WriteByte(hex[r>>12&0xf])
			b.WriteByte(hex[r>>8&0xf])
			b.WriteByte(hex[r>>4&0xf])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CleanPath checks that p, an already percent-decoded request path with the
// /v1/ prefix removed, is canonical, and returns it with at most one leading
// "/" removed. It never rewrites a path into a different one: anything that
// a normalising step could change (".", "..", "//", backslashes, encoded
// separators, control characters, invalid or overlong UTF-8, Unicode dot
// look-alikes, invisible format characters) is rejected with a *PathError
// instead. A single trailing "/" is kept, as Vault uses it for LIST and
// directory paths.
//
// CleanPath is idempotent on success and does not allocate then.
func CleanPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if reason := pathProblem(p); reason != "" {
		return "", &PathError{Path: p, Reason: reason}
	}
	return p, nil
}

// CleanRawPath percent-decodes rawEscaped (the still-escaped request path,
// /v1/ prefix removed) exactly once and then applies CleanPath. An encoded
// slash or backslash (%2F, %5C, any case) is refused: decoding it would make
// a separator that a proxy routing on the raw path never saw. A decoded
// path that still contains an encoded dot, slash, backslash or NUL (double
// encoding such as "%252e%252e") is rejected by CleanPath's rules.
func CleanRawPath(rawEscaped string) (string, error) {
	if strings.IndexByte(rawEscaped, '%') < 0 {
		return CleanPath(rawEscaped)
	}
	b := make([]byte, 0, len(rawEscaped))
	for i := 0; i < len(rawEscaped); i++ {
		c := rawEscaped[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(rawEscaped) {
			return "", &PathError{Path: rawEscaped, Reason: "truncated percent escape"}
		}
		hi, ok1 := unhex(rawEscaped[i+1])
		lo, ok2 := unhex(rawEscaped[i+2])
		if !ok1 || !ok2 {
			return "", &PathError{Path: rawEscaped, Reason: "malformed percent escape"}
		}
		if c := hi<<4 | lo; c == '/' || c == '\\' {
			// A separator a proxy routing on the raw path never saw.
			return "", &PathError{Path: rawEscaped, Reason: "encoded slash or backslash"}
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return CleanPath(string(b))
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isCleanPath reports whether CleanPath(p) would return p unchanged.
func isCleanPath(p string) bool {
	return (p == "" || p[0] != '/') && pathProblem(p) == ""
}

// pathProblem returns why p (leading slash already removed) is not
// canonical, or "" if it is. It does not allocate.
func pathProblem(p string) string {
	if p == "" {
		return "empty path"
	}
	if !utf8.ValidString(p) {
		// Also covers overlong encodings such as "\xc0\xae" for '.'.
		return "invalid utf-8"
	}
	for _, r := range p {
		switch {
		case r == '\\':
			return "backslash"
		case unicode.IsControl(r):
			return "control character"
		case r >= 0x80 && unicode.Is(unicode.Cf, r):
			// Invisible format characters (zero-width, bidi overrides)
			// that normalisers may drop, e.g. ".\u200b." becoming "..".
			return "format character"
		}
	}
	if hasEncodedSeparator(p) {
		return "encoded dot or separator"
	}
	start := 0
	for start <= len(p) {
		end := strings.IndexByte(p[start:], '/')
		last := end < 0
		if last {
			end = len(p)
		} else {
			end += start
		}
		seg := p[start:end]
		if seg == "" {
			// Only a single trailing slash may produce an empty segment.
			if !(last && start == len(p) && start > 0) {
				return "empty path segment"
			}
		} else if onlyDots(seg) {
			return "dot segment"
		}
		if last {
			break
		}
		start = end + 1
	}
	return ""
}

// hasEncodedSeparator reports whether p contains a percent escape of '.',
// '/', '\' or NUL, which means the path was encoded more than once.
func hasEncodedSeparator(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		a, b := p[i+1], p[i+2]
		switch {
		case a == '2' && (b == 'e' || b == 'E' || b == 'f' || b == 'F'),
			a == '5' && (b == 'c' || b == 'C'),
			a == '0' && b == '0':
			return true
		}
	}
	return false
}

// onlyDots reports whether seg consists solely of '.' and characters that
// look like or normalise to dots, so that "..", "．．" or "\u2024\u2024"
// can never act as a parent reference anywhere downstream.
func onlyDots(seg string) bool {
	for _, r := range seg {
		switch r {
		case '.', '\u2024', '\u2025', '\u2026', '\uFE52', '\uFF0E', '\u3002', '\uFF61', '\u00B7', '\u2027':
		default:
			return false
		}
	}
	return true
}
