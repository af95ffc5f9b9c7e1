package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// DefaultMinLen is the default Options.MinLen: derived forms shorter than
// this many bytes are not registered, and Check rejects shorter values.
const DefaultMinLen = 6

// Secret is a value to mask. Name is not secret: it appears in errors and,
// with StyleName, in place of the value.
type Secret struct {
	Name  string
	Value string
}

// ErrTooShort reports secret values shorter than the minimum length. It names
// the secrets, never their values. Masking a very short value wrecks the log
// and turns it into an oracle (every "a" in the output becomes "***"), so
// callers refuse to start unless the user explicitly allows it.
type ErrTooShort struct {
	Names  []string // names of the short secrets, "#i" for unnamed ones
	MinLen int
}

func (e *ErrTooShort) Error() string {
	return fmt.Sprintf("mask: %d secret value(s) shorter than %d bytes: %s",
		len(e.Names), e.MinLen, strings.Join(e.Names, ", "))
}

// Check returns an *ErrTooShort if any value is shorter than DefaultMinLen.
func Check(secrets []Secret) error { return Options{}.Check(secrets) }

// Check returns an *ErrTooShort if any value is shorter than o.MinLen.
func (o Options) Check(secrets []Secret) error {
	minLen := o.minLen()
	var short []string
	for i, s := range secrets {
		if len(s.Value) < minLen {
			n := s.Name
			if n == "" {
				n = fmt.Sprintf("#%d", i)
			}
			short = append(short, n)
		}
	}
	if short != nil {
		return &ErrTooShort{Names: short, MinLen: minLen}
	}
	return nil
}

// pattern is one byte string to mask and the name of the secret it came from.
type pattern struct {
	s    string
	name string
}

// deriver collects the forms of every secret, each once.
type deriver struct {
	minLen int
	seen   map[string]bool
	out    []pattern
}

// derive returns every form of every secret worth matching. The raw value of
// each secret is always registered, even below minLen (the caller let it
// through Check); derived forms and fragments shorter than minLen are not,
// because they would mask ordinary text (M3/M4 in CI-IDENTITY.md).
func derive(secrets []Secret, minLen int) []pattern {
	d := &deriver{minLen: minLen, seen: map[string]bool{}}
	for _, s := range secrets {
		// Surrounding white space (the final newline of a PEM file) is not
		// secret: masking it would join the lines around the value.
		if t := strings.TrimSpace(s.Value); t != "" {
			d.addAlways(t, s.Name)
		} else if s.Value != "" {
			d.addAlways(s.Value, s.Name)
		}
		d.secret(s.Name, s.Value, 0)
	}
	return d.out
}

func (d *deriver) addAlways(p, name string) {
	if p == "" || d.seen[p] {
		return
	}
	d.seen[p] = true
	d.out = append(d.out, pattern{p, name})
}

func (d *deriver) add(p, name string) {
	if len(p) >= d.minLen {
		d.addAlways(p, name)
	}
}

// secret registers v, its line-ending variants and lines, its JSON string
// fields, and the encodings of each.
func (d *deriver) secret(name, v string, depth int) {
	if v == "" {
		return
	}
	variants := []string{v}
	if t := strings.TrimSpace(v); t != v {
		variants = append(variants, t)
	}
	// GitHub registers a value with its surrounding quotes removed.
	if len(v) > 8 && v[0] == '"' && v[len(v)-1] == '"' {
		variants = append(variants, v[1:len(v)-1])
	}
	if strings.ContainsAny(v, "\r\n") {
		lf := strings.ReplaceAll(strings.TrimSpace(v), "\r\n", "\n")
		variants = append(variants, lf, strings.ReplaceAll(lf, "\n", "\r\n"))
		// Tools print multi-line values (PEM keys, JSON) line by line.
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			d.add(strings.TrimSpace(line), name)
		}
	}
	for _, x := range variants {
		d.encodings(name, x)
	}
	if depth < 4 {
		d.jsonFields(name, v, depth)
	}
}

func (d *deriver) encodings(name, x string) {
	// A value with surrounding white space is registered trimmed (by
	// secret); forms that leave it unchanged are skipped with it.
	skip := ""
	if t := strings.TrimSpace(x); t != x && t != "" {
		skip = x
	}
	add := func(p, name string) {
		if p != skip {
			d.add(p, name)
		}
	}
	add(x, name)
	b := []byte(x)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString(b), name)
		add(enc.WithPadding(base64.NoPadding).EncodeToString(b), name)
		for a := range 3 {
			add(stableBase64(enc, b, a), name)
		}
	}
	// `base64` wraps its output at 76 columns, `openssl base64` at 64: the
	// lines of a wrapped encoding of x alone. A last line shorter than
	// sampleMin is left out: it is a short fragment, and registering it
	// would slow every scan (see matcher).
	full := base64.StdEncoding.EncodeToString(b)
	for _, width := range []int{76, 64} {
		for i := 0; len(full) > width && i < len(full); i += width {
			if line := full[i:min(i+width, len(full))]; len(line) >= sampleMin {
				add(line, name)
			}
		}
	}
	// base64 of base64 (`base64 -w0 | base64 -w0`, M1): the inner form at
	// every alignment, then at every alignment again.
	add(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(b))), name)
	for a := range 3 {
		inner := []byte(stableBase64(base64.StdEncoding, b, a))
		for c := range 3 {
			add(stableBase64(base64.StdEncoding, inner, c), name)
		}
	}
	add(hex.EncodeToString(b), name)
	add(strings.ToUpper(hex.EncodeToString(b)), name)
	add(url.QueryEscape(x), name)
	add(lowerPercent(url.QueryEscape(x)), name)
	add(url.PathEscape(x), name)
	add(jsonEscape(x, true), name)
	add(jsonEscape(x, false), name)
	add(strings.ReplaceAll(jsonEscape(x, false), "/", `\/`), name) // PHP, Ruby and others escape "/"
	var xb bytes.Buffer
	_ = xml.EscapeText(&xb, b) // writes to a bytes.Buffer never fail
	add(xb.String(), name)
	add(xmlEntities.Replace(x), name)
	// Shell forms: inside '...', backslash-escaped bare word, inside "...",
	// and the Jenkins $$ form (M9).
	add(strings.ReplaceAll(x, "'", `'\''`), name)
	add(backslashEscape(x, " \t\n!\"#$&'()*,;<=>?[\\]^`{|}~"), name)
	add(backslashEscape(x, "\\\"$`"), name)
	add(strings.ReplaceAll(x, "$", "$$"), name)
}

var xmlEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// stableBase64 returns the base64 characters that depend only on x when x
// starts at byte offset a (mod 3) of the encoded data: the characters whose
// 6 bits all fall inside x. They appear in the encoding of any data holding
// x at such an offset, whatever surrounds it.
func stableBase64(enc *base64.Encoding, x []byte, a int) string {
	buf := make([]byte, a+len(x))
	copy(buf[a:], x)
	s := enc.WithPadding(base64.NoPadding).EncodeToString(buf)
	first := (8*a + 5) / 6
	last := 8 * (a + len(x)) / 6
	if last <= first {
		return ""
	}
	return s[first:last]
}

// lowerPercent lower-cases the hex digits of %XX escapes, as some encoders
// write them.
func lowerPercent(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

func jsonEscape(x string, html bool) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(html)
	if err := e.Encode(x); err != nil {
		return ""
	}
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

func backslashEscape(x, special string) string {
	var b strings.Builder
	for i := range len(x) {
		if strings.IndexByte(special, x[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(x[i])
	}
	return b.String()
}

// jsonFields registers every string inside a JSON object or array value as a
// secret of its own (M2: a job prints one field of a structured secret).
func (d *deriver) jsonFields(name, v string, depth int) {
	t := strings.TrimSpace(v)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return
	}
	var walk func(path string, x any)
	walk = func(path string, x any) {
		switch x := x.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if len(x) >= d.minLen {
				d.secret(path, x, depth+1)
			}
		}
	}
	walk(name, doc)
}
