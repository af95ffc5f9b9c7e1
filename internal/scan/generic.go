package scan

import "strings"

// genericRules detect credentials by the name they are assigned to:
// password = "…", API_TOKEN: …, "client_secret": "…". They are scored by
// entropy and character classes and yield to specific rules.
func genericRules() []*Rule {
	return []*Rule{
		{
			ID: "generic-password", Description: "Password assigned in code or configuration", Severity: SeverityHigh,
			Keywords: []string{"pass", "pwd"}, Generic: true, loosePlaceholders: true,
			detect: func(d []byte, s, e int) (int, int, bool) { return detectAssignment(d, s, e, true) },
		},
		{
			ID: "generic-secret", Description: "Secret, token or API key assigned in code or configuration", Severity: SeverityMedium,
			Keywords: []string{"secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key", "privatekey", "private_key", "authkey", "auth_key", "credential", "signing_key", "encryption_key", "master_key"},
			Generic:  true, loosePlaceholders: true,
			detect: func(d []byte, s, e int) (int, int, bool) { return detectAssignment(d, s, e, false) },
		},
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// denySuffixes end identifiers that name something about a secret rather
// than the secret itself.
var denySuffixes = []string{
	"file", "path", "url", "uri", "name", "type", "len", "length", "size", "count", "field", "header",
	"prefix", "env", "var", "ttl", "expiry", "expires", "expiration", "policy", "mode", "format", "regex",
	"pattern", "hint", "label", "id", "enabled", "required", "min", "max", "endpoint", "hash", "hashed",
	"digest", "reset", "confirm", "confirmation", "question", "prompt", "placeholder", "ref", "arn",
	"dir", "key_id", "keyid", "version", "provider", "store", "manager", "source", "kind", "index",
	"position", "pos", "end", "start", "validator", "strength", "policy", "rule", "rules", "message",
	"error", "err", "changed", "updated", "created", "at", "timeout", "cmd", "command", "template",
	"helper", "method", "location", "backend", "reader", "writer", "service", "client", "generator",
	"class", "option", "options", "param", "params", "parameter", "config", "schema", "list", "map",
	"policies", "roles", "role", "scopes", "scope", "audience", "issuer", "user", "username", "email",
	"host", "port", "address", "addr", "status", "state", "accessor", "count", "limit", "uses",
	"encryption", "algorithm", "algo", "cipher", "scheme",
}

var denyContains = []string{
	"bypass", "compass", "passthrough", "passthru", "passenger", "passive", "passport", "passage",
	"tokeniz", "secretary", "pwdlastset", "passed", "passes", "passing", "surpass", "classpath",
}

var flattener = strings.NewReplacer("_", "", "-", "", ".", "")

var denySuffix = func() map[string]bool {
	m := map[string]bool{}
	for _, d := range denySuffixes {
		m[d] = true
	}
	return m
}()

// lastWord returns the last word of an identifier: the part after the
// last separator or camelCase hump (passwordFile -> File).
func lastWord(ident string) string {
	i := len(ident) - 1
	for i > 0 {
		c := ident[i]
		if c == '_' || c == '-' || c == '.' {
			break
		}
		if 'A' <= c && c <= 'Z' && 'a' <= ident[i-1] && ident[i-1] <= 'z' {
			return ident[i:]
		}
		i--
	}
	if i > 0 || ident[0] == '_' || ident[0] == '-' || ident[0] == '.' {
		return ident[i+1:]
	}
	return ""
}

// denied looks a word up in denySuffix ignoring case, without allocating.
func denied(w string) bool {
	var buf [24]byte
	if w == "" || len(w) > len(buf) {
		return false
	}
	for i := 0; i < len(w); i++ {
		buf[i] = lower(w[i])
	}
	return denySuffix[string(buf[:len(w)])]
}

func identOK(ident string, password bool) bool {
	if denied(lastWord(ident)) {
		return false
	}
	l := strings.ToLower(ident)
	for _, d := range denyContains {
		if strings.Contains(l, d) {
			return false
		}
	}
	if strings.HasSuffix(l, "key_id") || strings.HasSuffix(l, "keyid") {
		return false
	}
	if password {
		flat := flattener.Replace(l)
		return strings.Contains(flat, "password") || strings.Contains(flat, "passwd") ||
			strings.Contains(flat, "passphrase") || strings.HasSuffix(flat, "pass") ||
			strings.HasSuffix(flat, "pwd") || strings.Contains(l, "pass_") || strings.Contains(l, "_pass")
	}
	return true
}

// detectAssignment finds `ident <op> value` around a keyword occurrence and
// returns the value's range.
func detectAssignment(d []byte, kwStart, kwEnd int, password bool) (int, int, bool) {
	// identifier around the keyword
	i := kwStart
	for i > 0 && kwStart-i < 64 && isIdentByte(d[i-1]) {
		i--
	}
	j := kwEnd
	for j < len(d) && j-kwEnd < 64 && isIdentByte(d[j]) {
		j++
	}
	if i > 0 && (d[i-1] == ':' || d[i-1] == '/') {
		return 0, 0, false // a field of a colon-separated record or a path
	}
	p := j
	// closing quote or bracket of a quoted key: "password": / ['password'] / \"password\":
	if p < len(d) && d[p] == '\\' && p+1 < len(d) && (d[p+1] == '"' || d[p+1] == '\'') {
		p += 2
	} else if p < len(d) && (d[p] == '"' || d[p] == '\'' || d[p] == '`') {
		p++
	}
	if p < len(d) && d[p] == ']' {
		p++
	}
	p = skipBlank(d, p)
	// operator
	switch {
	case hasAt(d, p, "||="):
		p += 3
	case hasAt(d, p, ":="), hasAt(d, p, "=>"), hasAt(d, p, "?="):
		p += 2
	case hasAt(d, p, "=="), hasAt(d, p, "!="):
		return 0, 0, false
	case p < len(d) && (d[p] == '=' || d[p] == ':'):
		p++
	default:
		return 0, 0, false
	}
	p = skipBlank(d, p)
	if p >= len(d) {
		return 0, 0, false
	}
	// quoted value
	if c := d[p]; (c == 'r' || c == 'b' || c == 'u' || c == 'f') && p+1 < len(d) && (d[p+1] == '"' || d[p+1] == '\'') {
		p++
	}
	var vs, ve int
	quoted := false
	switch {
	case d[p] == '\\' && p+1 < len(d) && (d[p+1] == '"' || d[p+1] == '\''):
		q := []byte{'\\', d[p+1]}
		vs = p + 2
		k := indexOnLine(d, vs, q)
		if k < 0 {
			return 0, 0, false
		}
		ve, quoted = k, true
	case d[p] == '"' || d[p] == '\'' || d[p] == '`':
		q := d[p]
		vs = p + 1
		k := vs
		for k < len(d) && k-vs < 256 && d[k] != q && d[k] != '\n' {
			if d[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(d) || d[k] != q {
			return 0, 0, false
		}
		ve, quoted = k, true
	default:
		vs = p
		k := p
		for k < len(d) && k-vs < 256 {
			c := d[k]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == ')' || c == ']' || c == '}' || c == '"' || c == '\'' || c == '<' {
				break
			}
			k++
		}
		ve = k
		// an unquoted value must end the statement: `x = a + b` is code
		r := skipBlank(d, k)
		if r < len(d) && d[r] != '\n' && d[r] != '\r' && d[r] != ',' && d[r] != ';' && d[r] != '#' && !hasAt(d, r, "//") {
			return 0, 0, false
		}
	}
	if ve-vs < 8 || ve-vs > 200 {
		return 0, 0, false
	}
	v := string(d[vs:ve])
	if !valueOK(v, quoted, password) || !identOK(string(d[i:j]), password) {
		return 0, 0, false
	}
	return vs, ve, true
}

func skipBlank(d []byte, p int) int {
	for p < len(d) && (d[p] == ' ' || d[p] == '\t') {
		p++
	}
	return p
}

func hasAt(d []byte, p int, s string) bool {
	return p+len(s) <= len(d) && string(d[p:p+len(s)]) == s
}

func indexOnLine(d []byte, from int, q []byte) int {
	for k := from; k+len(q) <= len(d) && k-from < 256; k++ {
		if d[k] == '\n' {
			return -1
		}
		if d[k] == q[0] && d[k+1] == q[1] {
			return k
		}
	}
	return -1
}

func valueOK(v string, quoted, password bool) bool {
	if len(v) < 8 || len(v) > 200 {
		return false
	}
	if strings.Contains(v, "://") || strings.Count(v, " ") > 1 || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	switch v[0] {
	case '/', '~', '.', '$', '%', '{', '[', '<', '&', '*', '#', '(', '@', '!', '\\':
		if !quoted || v[0] != '!' && v[0] != '@' && v[0] != '#' && v[0] != '*' && v[0] != '&' && v[0] != '(' {
			return false
		}
	}
	if strings.HasPrefix(v, "C:\\") || strings.HasPrefix(v, "./") {
		return false
	}
	classes := charClasses(v)
	h := entropy(v)
	if constantName(v) || lowerWords(v) {
		return false
	}
	if !password && strings.Contains(v, " ") {
		return false // tokens and keys have no spaces; prose does
	}
	if !quoted {
		if strings.ContainsAny(v, "(){}[]<>") {
			return false
		}
		identLike := true
		dotted := strings.Contains(v, ".")
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !(c == '_' || c == '.' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
				identLike = false
				break
			}
		}
		if identLike {
			if dotted || !strings.ContainsAny(v, "0123456789") || classes < 3 || len(v) < 10 || h < 3.2 {
				return false
			}
		}
		if classes < 3 {
			return false
		}
	}
	if password {
		return classes >= 2 && h >= 2.6
	}
	return classes >= 2 && h >= 3.0
}

// constantName matches values like KEYWARD_FILE_DB_PASS: an environment
// variable or constant name, not a secret.
func constantName(v string) bool {
	if !strings.Contains(v, "_") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c == '_' || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}

// lowerWords matches values like kw.child or my-service-name: lower-case
// words joined by separators.
func lowerWords(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c == '_' || c == '.' || c == '-' || ('a' <= c && c <= 'z')) {
			return false
		}
	}
	return true
}
