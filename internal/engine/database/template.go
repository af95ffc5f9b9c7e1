package database

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// quoter quotes values for one database's SQL dialect.
type quoter interface {
	// Ident quotes v as an identifier (a role or account name).
	Ident(v string) string
	// Literal quotes v as a string literal.
	Literal(v string) string
	// EscapeIn escapes v for use inside an existing quoted context opened
	// by q (one of ' " `), without the surrounding quotes.
	EscapeIn(q byte, v string) (string, error)
}

// vars are the values a statement may reference.
type vars struct {
	Name       string
	Password   string
	Expiration string
	hasPass    bool
}

// placeholder kinds.
const (
	phName = iota
	phPassword
	phExpiration
)

var placeholders = []struct {
	text string
	kind int
}{
	{"{{name}}", phName},
	{"{{username}}", phName},
	{"{{password}}", phPassword},
	{"{{expiration}}", phExpiration},
}

// render substitutes the placeholders of one or more ';'-separated
// statements and returns the individual statements. Values are quoted for
// where they appear: bare, a name becomes a quoted identifier and a password
// or expiration a quoted literal; inside quotes written by the operator
// ('{{password}}', "{{name}}") the value is escaped for that quote. Quote
// tracking covers '...', "...", `...` (MySQL) and PostgreSQL $tag$ bodies;
// a value is never able to close the quote it sits in or end a statement.
func render(q quoter, stmt string, v vars) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote byte // 0, '\'', '"', '`'
	dollar := ""   // open $tag$ of a PostgreSQL dollar-quoted body
	mysqlBackslash := isMySQL(q)
	for i := 0; i < len(stmt); {
		c := stmt[i]
		if c == '{' && strings.HasPrefix(stmt[i:], "{{") {
			if ph, n, ok := matchPlaceholder(stmt[i:]); ok {
				val := ""
				switch ph {
				case phName:
					val = v.Name
				case phPassword:
					if !v.hasPass {
						return nil, errors.New("statement uses {{password}} where no password is set")
					}
					val = v.Password
				case phExpiration:
					val = v.Expiration
				}
				if dollar != "" && strings.Contains(val, "$") {
					return nil, errors.New("value contains '$' inside a dollar-quoted body")
				}
				switch {
				case quote != 0:
					esc, err := q.EscapeIn(quote, val)
					if err != nil {
						return nil, err
					}
					cur.WriteString(esc)
				case ph == phName:
					cur.WriteString(q.Ident(val))
				default:
					cur.WriteString(q.Literal(val))
				}
				i += n
				continue
			}
		}
		switch {
		case quote != 0:
			if mysqlBackslash && c == '\\' && quote != '`' && i+1 < len(stmt) {
				cur.WriteByte(c)
				cur.WriteByte(stmt[i+1])
				i += 2
				continue
			}
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '$' && !mysqlBackslash:
			if tag, ok := dollarTag(stmt[i:]); ok {
				if dollar == "" {
					dollar = tag
				} else if tag == dollar {
					dollar = ""
				}
				cur.WriteString(tag)
				i += len(tag)
				continue
			}
		case c == ';' && dollar == "":
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			i++
			continue
		}
		cur.WriteByte(c)
		i++
	}
	if quote != 0 || dollar != "" {
		return nil, errors.New("statement has an unterminated quote")
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out, nil
}

func matchPlaceholder(s string) (kind, n int, ok bool) {
	for _, p := range placeholders {
		if strings.HasPrefix(s, p.text) {
			return p.kind, len(p.text), true
		}
	}
	return 0, 0, false
}

// dollarTag matches a PostgreSQL dollar-quote tag ($$ or $tag$) at s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s) && j < 64; j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return "", false
}

// renderAll renders a list of statements (each may hold several).
func renderAll(q quoter, stmts []string, v vars) ([]string, error) {
	var out []string
	for i, s := range stmts {
		r, err := render(q, s, v)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		out = append(out, r...)
	}
	return out, nil
}

// expirationFormat is how {{expiration}} is written (PostgreSQL accepts it
// for VALID UNTIL).
const expirationFormat = "2006-01-02 15:04:05-0700"

// DefaultUsernameTemplate builds v-<display>-<role>-<random>-<unix>.
const DefaultUsernameTemplate = `v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-{{random 20}}-{{unix_time}}`

// usernameInput is what a username template sees.
type usernameInput struct {
	DisplayName string
	RoleName    string
}

const randomChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int) (string, error) {
	if n <= 0 || n > 256 {
		return "", errors.New("random: length must be 1..256")
	}
	out := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		rand.Read(buf)            // never fails (Go 1.24+); see docs/architecture.md
		if b := buf[0]; b < 248 { // 248 = 4*62: reject the partial range
			out[i] = randomChars[int(b)%len(randomChars)]
			i++
		}
	}
	return string(out), nil
}

// truncateRunes shortens s to at most n bytes, on a character boundary.
func truncateBytes(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func truncateChars(s string, n int) string {
	if n <= 0 {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// parseUsernameTemplate parses a username template (Go text/template with
// truncate, random, unix_time, lowercase, uppercase, replace, printf).
func parseUsernameTemplate(src string, now func() time.Time) (*template.Template, error) {
	if src == "" {
		src = DefaultUsernameTemplate
	}
	if len(src) > 4096 {
		return nil, errors.New("username_template: too long")
	}
	funcs := template.FuncMap{
		"truncate":  func(n int, s string) string { return truncateChars(s, n) },
		"random":    randomString,
		"unix_time": func() int64 { return now().Unix() },
		"lowercase": strings.ToLower,
		"uppercase": strings.ToUpper,
		"replace":   func(old, repl, s string) string { return strings.ReplaceAll(s, old, repl) },
	}
	t, err := template.New("username").Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, errors.New("username_template: invalid template")
	}
	return t, nil
}

// makeUsername renders t and fits the result into limit bytes (0: none).
func makeUsername(t *template.Template, in usernameInput, limit int) (string, error) {
	var b strings.Builder
	if err := t.Execute(&limitWriter{b: &b, n: 1024}, in); err != nil {
		return "", errors.New("username_template: render failed")
	}
	name := truncateBytes(b.String(), limit)
	if strings.TrimSpace(name) == "" || strings.ContainsRune(name, 0) {
		return "", errors.New("username_template: produced an empty or invalid name")
	}
	return name, nil
}

type limitWriter struct {
	b *strings.Builder
	n int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.n {
		return 0, errors.New("username too long")
	}
	return w.b.Write(p)
}
