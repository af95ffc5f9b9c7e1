package scan

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// Severity ranks findings; --fail-on compares against it.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", name, strings.Join(severityNames, ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rule describes one credential kind. Keywords (case-insensitive) gate the
// rule: Pattern runs only on the text around a keyword occurrence. The
// secret is the submatch named "secret", else submatch 1, else the match.
// Built-in rules compile their expression on first use; Pattern is nil
// until then. Rules must not be copied.
type Rule struct {
	ID          string
	Description string
	Severity    Severity
	Keywords    []string
	Pattern     *regexp.Regexp
	// MinEntropy is the least Shannon entropy (bits per byte) of the secret.
	MinEntropy float64
	// Multiline widens the search window across lines (PEM blocks, JSON).
	Multiline bool
	// Generic rules yield to a specific rule matching the same text.
	Generic bool
	// Allow suppresses findings of this rule only.
	Allow Allowlist
	// Confidence is how likely a match is a live credential before its
	// context is weighed (zero means high); see Engine.assess.
	Confidence Confidence

	// prefixed rules know a vendor's token by its prefix (ghp_, sk_live_…):
	// their findings are never taken for test material.
	prefixed bool

	// derivedFrom names the rule whose matches this one takes over when
	// their value has its shape and context (see Engine.matches); such a
	// rule has no keywords and no pattern of its own.
	derivedFrom string
	shaped      *Rule // the derived rule taking over this one's matches, set by NewEngine

	validate func(secret string) bool                               // checksum or structure check
	detect   func(data []byte, kwStart, kwEnd int) (int, int, bool) // custom matcher instead of Pattern
	// loosePlaceholders applies the stricter placeholder vocabulary of
	// generic assignments (test, fake, sample, …).
	loosePlaceholders bool
	secretGroup       int
	// anchored rules match starting at a keyword occurrence: the engine
	// tries anchor once per occurrence instead of searching a window.
	anchored     bool
	src          string // built-in pattern source, compiled by ensure
	once         sync.Once
	anchor       *regexp.Regexp
	leftBoundary bool // the byte before the keyword must not be a word byte
	span         int  // bytes an anchored single-line match may cover
	lineStart    bool // only indentation may precede the keyword on its line
	minRun       int  // the secret needs a run this long of tokenByte bytes
	needAt       bool // the token starting at the keyword must contain '@'
	userGroup    int  // a "user" submatch; a secret equal to it is a fixture
}

// BaseConfidence is the confidence of the rule's findings before their context
// is weighed: Confidence, or high when that is unset.
func (r *Rule) BaseConfidence() Confidence {
	if r.Confidence == 0 {
		return ConfidenceHigh
	}
	return r.Confidence
}

func (r *Rule) compile() error {
	if r.ID == "" {
		return fmt.Errorf("rule without id")
	}
	if r.derivedFrom != "" {
		return nil
	}
	if len(r.Keywords) == 0 {
		return fmt.Errorf("rule %s: no keywords", r.ID)
	}
	for i, k := range r.Keywords {
		if k == "" {
			return fmt.Errorf("rule %s: empty keyword", r.ID)
		}
		r.Keywords[i] = strings.ToLower(k)
	}
	if r.detect != nil {
		return nil
	}
	if r.Pattern == nil && r.src == "" {
		return fmt.Errorf("rule %s: no pattern", r.ID)
	}
	if r.Pattern != nil {
		// a pattern set by hand (config) is searched in windows
		r.src, r.anchored, r.anchor = "", false, nil
		r.setGroups(r.Pattern)
		return nil
	}
	r.leftBoundary = strings.HasPrefix(r.src, `\b`)
	if r.span == 0 {
		r.span = 512
	}
	return nil
}

// ensure compiles a built-in rule's expression on first use, so a scan
// that touches few rules (a pre-commit hook) does not pay for all of them.
// It is safe for concurrent use.
func (r *Rule) ensure() {
	if r.src == "" {
		return
	}
	r.once.Do(func() {
		if r.anchored {
			r.anchor = regexp.MustCompile(`^(?:` + r.src + `)`)
			r.setGroups(r.anchor)
			if re, err := syntax.Parse(r.src, syntax.Perl); err == nil {
				if g := findCapture(re, r.secretGroup); g != nil {
					r.minRun = minLen(g)
				}
			}
		} else {
			r.Pattern = regexp.MustCompile(r.src)
			r.setGroups(r.Pattern)
		}
	})
}

func (r *Rule) setGroups(re *regexp.Regexp) {
	r.secretGroup = 0
	r.userGroup = max(0, re.SubexpIndex("user"))
	if i := re.SubexpIndex("secret"); i > 0 {
		r.secretGroup = i
	} else if re.NumSubexp() >= 1 {
		r.secretGroup = 1
		if r.userGroup == 1 {
			r.secretGroup = 2
		}
	}
}

// clog2[c] is c*log2(c), for entropy without a logarithm per symbol.
var clog2 = func() (t [1024]float64) {
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// entropy returns the Shannon entropy of s in bits per byte:
// log2(n) - sum(c*log2(c))/n over the symbol counts c.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	sum := 0.0
	for _, c := range counts {
		if c >= len(clog2) {
			sum += float64(c) * math.Log2(float64(c))
		} else {
			sum += clog2[c]
		}
	}
	n := float64(len(s))
	return math.Log2(n) - sum/n
}

// placeholderMarks are substrings that mark a value as an example, template
// or redaction rather than a live credential.
var placeholderMarks = []string{
	"example", "changeme", "change_me", "change-me", "placeholder",
	"dummy", "redacted", "your_", "your-", "yourtoken", "yourkey", "yourpass",
	"<", ">", "${", "{{", "$(", "%(", "****", "....", "lorem",
	"insert_", "replace_", "replaceme", "notasecret", "not-a-secret", "0000000000",
	"#{", "((", "enc(", "enc[", "…",
}

// genericMarks extend placeholderMarks for generic assignments.
var genericMarks = []string{
	"test", "fake", "sample", "mock", "dummy", "secret", "password", "passwd",
	"token", "null", "none", "undefined", "true", "false", "todo", "fixme",
	"1234567", "abcdef", "qwerty", "foobar", "hunter2", "letmein", "os.getenv",
	"process.env", "getenv", "env(", "environ", "vault:", "keyward:", "ref+",
	"secretkeyref", "valuefrom", "\\(", "$env:", "s3cr3t", "secr3t", "p4ss", "t3st", "passw0rd",
	"pass", "abc123", "opensesame", "pa55w", "t0ken", "-value", "canary", "hmac-sha256:",
	// a value naming what it stands for ("encryptionKey": "encryptionKey1024")
	"apikey", "api_key", "accesskey", "access_key", "privatekey", "private_key", "encryptionkey",
	"encryption_key", "signingkey", "signing_key", "masterkey", "master_key", "authkey", "auth_key", "credential",
}

func isPlaceholder(s string, loose bool) bool {
	if s == "" {
		return true
	}
	// case matters for these: %s is a template but %sy may be a password,
	// xxxx and XXXX are filler but xXXX is random
	if hasFormatVerb(s) || strings.Contains(s, "xxxx") || strings.Contains(s, "XXXX") {
		return true
	}
	l := strings.ToLower(s)
	for _, m := range placeholderMarks {
		if strings.Contains(l, m) {
			return true
		}
	}
	if _, n := utf8.DecodeRuneInString(s); strings.Count(s, s[:n])*n == len(s) {
		return true // one character repeated: xxxxxxxx, ••••••••
	}
	if loose {
		for _, m := range genericMarks {
			if markedAt(s, l, m) {
				return true
			}
		}
		// $VAR, %VAR%, @VAR@ references
		if s[0] == '$' || (s[0] == '%' && s[len(s)-1] == '%') || (s[0] == '@' && s[len(s)-1] == '@') {
			return true
		}
	}
	return false
}

// markedAt reports whether the fixture word m occurs in s (l is s in
// lower case). A four-letter word counts only written as a word is (test,
// TEST or Test): a random value spells one in mixed case (NOEtOdOR) about
// once in a few thousand; longer words it practically never does.
func markedAt(s, l, m string) bool {
	for off := 0; ; {
		k := strings.Index(l[off:], m)
		if k < 0 {
			return false
		}
		k += off
		w := s[k : k+len(m)]
		if len(m) != 4 || w == m || w == strings.ToUpper(m) || w[1:] == m[1:] {
			return true
		}
		off = k + 1
	}
}

// hasFormatVerb finds a printf verb (%s, %v, %d, %q) not followed by a
// letter or digit.
func hasFormatVerb(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '%' || strings.IndexByte("svdq", s[i+1]) < 0 {
			continue
		}
		if i+2 == len(s) || !isWordByte(s[i+2]) || s[i+2] == '_' {
			return true
		}
	}
	return false
}

// charClasses counts which of lower, upper, digit and symbol occur in s.
func charClasses(s string) int {
	var lo, up, di, sy bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			lo = true
		case 'A' <= c && c <= 'Z':
			up = true
		case '0' <= c && c <= '9':
			di = true
		default:
			sy = true
		}
	}
	n := 0
	for _, b := range []bool{lo, up, di, sy} {
		if b {
			n++
		}
	}
	return n
}

// findCapture returns capture group n of a parsed expression.
func findCapture(re *syntax.Regexp, n int) *syntax.Regexp {
	if re.Op == syntax.OpCapture && re.Cap == n {
		return re
	}
	for _, s := range re.Sub {
		if g := findCapture(s, n); g != nil {
			return g
		}
	}
	return nil
}

// minLen is the fewest bytes (at least runes) a parsed expression matches.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0
}

// tokenByte reports whether c can be part of a credential value: anything
// but blanks, quotes, separators and brackets.
var tokenByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range []byte("'\"`,;()[]{}<>") {
		t[c] = false
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// hasRun reports whether data[from:to] holds a run of at least n token
// bytes; it is a cheap necessary condition checked before a rule's regex.
func hasRun(data []byte, from, to, n int) bool {
	run := 0
	for i := from; i < to; i++ {
		if tokenByte[data[i]] {
			if run++; run >= n {
				return true
			}
		} else {
			if data[i] == '\n' {
				return false
			}
			run = 0
		}
	}
	return false
}

// runHas reports whether the run of token bytes starting at from contains c.
func runHas(data []byte, from, to int, c byte) bool {
	for i := from; i < to && tokenByte[data[i]]; i++ {
		if data[i] == c {
			return true
		}
	}
	return false
}
