package scan

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// genericRules detect credentials by the name they are assigned to:
// password = "…", API_TOKEN: …, "client_secret": "…", <password>…</password>,
// os.Setenv("DB_PASSWORD", "…"), --password=…, mysql -p…. They are scored
// by entropy and character classes and yield to specific rules.
// assign.go reads the syntaxes; this file judges names and values.
func genericRules() []*Rule {
	return []*Rule{
		{
			ID: "generic-password", Description: "Password assigned in code or configuration", Severity: SeverityHigh,
			Keywords: []string{"pass", "pwd", "mysql", "mariadb"}, Generic: true, loosePlaceholders: true, Confidence: ConfidenceMedium,
			detect: func(d []byte, s, e int) (int, int, bool) { return detectAssignment(d, s, e, true) },
		},
		{
			ID: "generic-secret", Description: "Secret, token or API key assigned in code or configuration", Severity: SeverityMedium,
			Keywords: []string{
				"secret", "token", "credential",
				"apikey", "api_key", "api-key", "api.key", "accesskey", "access_key", "access-key",
				"privatekey", "private_key", "private-key", "authkey", "auth_key", "auth-key",
				"signing_key", "signing-key", "signingkey", "encryption_key", "encryption-key", "encryptionkey",
				"master_key", "master-key", "masterkey",
			},
			Generic: true, loosePlaceholders: true, Confidence: ConfidenceMedium,
			detect: func(d []byte, s, e int) (int, int, bool) { return detectAssignment(d, s, e, false) },
		},
	}
}

func isIdentByte(c byte) bool { return identBytes[c] }

var identBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '_' || c == '-' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
	}
	return t
}()

// denySuffixes end identifiers that name something about a secret rather
// than the secret itself.
var denySuffixes = []string{
	"file", "path", "url", "uri", "name", "type", "len", "length", "size", "count", "field", "header",
	"prefix", "env", "var", "ttl", "expiry", "expires", "expiration", "policy", "mode", "format", "regex",
	"pattern", "hint", "label", "id", "enabled", "required", "min", "max", "endpoint", "hash", "hashed",
	"digest", "reset", "confirm", "confirmation", "question", "prompt", "placeholder", "ref", "arn",
	"dir", "key_id", "keyid", "version", "provider", "store", "manager", "source", "kind", "index",
	"position", "pos", "end", "start", "validator", "strength", "rule", "rules", "message",
	"error", "err", "changed", "updated", "created", "at", "timeout", "cmd", "command", "template",
	"helper", "method", "location", "backend", "reader", "writer", "service", "client", "generator",
	"class", "option", "options", "param", "params", "parameter", "config", "schema", "list", "map",
	"policies", "roles", "role", "scopes", "scope", "audience", "issuer", "user", "username", "email",
	"host", "port", "address", "addr", "status", "state", "accessor", "limit", "uses",
	"encryption", "algorithm", "algo", "cipher", "scheme", "age", "less", "char", "chars", "validators",
	"hasher", "hashers", "changer", "input", "widget", "magic", "salt", "nonce", "iv",
}

// uiWords mark an identifier, wherever they are in it, as the key of a
// user interface's text (translation files, form definitions), not of a
// credential.
var uiWords = map[string]bool{
	"label": true, "lbl": true, "title": true, "tooltip": true, "caption": true, "heading": true, "button": true,
	"btn": true, "msg": true, "forgot": true, "forgotten": true, "mandatory": true, "repeat": true,
	"invalid": true, "advice": true, "show": true, "hide": true, "txt": true, "desc": true, "description": true,
}

// denyContains are words that contain a keyword without naming a secret;
// they are matched on the identifier lower-cased with separators removed,
// so passThrough and pass_through go too.
var denyContains = []string{
	"bypass", "compass", "passthrough", "passthru", "passenger", "passive", "passport", "passage",
	"tokeniz", "secretary", "pwdlastset", "passed", "passes", "passing", "surpass", "classpath",
	"trespass", "overpass", "underpass", "impass", "passover",
}

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

// words splits an identifier into lower-case words at separators and
// camelCase humps: DB_PASSWORD, dbPassword, db-password and DBPassword all
// give db, password.
func words(ident string) []string {
	var out []string
	start := -1
	for k := 0; k <= len(ident); k++ {
		var c byte
		if k < len(ident) {
			c = ident[k]
		}
		alnum := isWordByte(c) && c != '_'
		if start >= 0 && (!alnum ||
			'A' <= c && c <= 'Z' && ('a' <= ident[k-1] && ident[k-1] <= 'z' ||
				k+1 < len(ident) && 'A' <= ident[k-1] && ident[k-1] <= 'Z' && 'a' <= ident[k+1] && ident[k+1] <= 'z')) {
			out = append(out, strings.ToLower(ident[start:k]))
			start = -1
		}
		if alnum && start < 0 {
			start = k
		}
	}
	return out
}

// passwordWord reports whether one word of an identifier names a password:
// password, passwd, passphrase, pass and pwd on their own or ending a
// run-together word (dbpassword, rootpass), and password or passwd
// starting one whose rest is not a word about the password (passwords,
// but not passwordhint). Look-alikes (bypass, compass) are refused
// earlier, by denyContains.
func passwordWord(w string) bool {
	for _, t := range []string{"password", "passwd", "passphrase", "passcode", "pass", "pwd"} {
		if strings.HasSuffix(w, t) {
			return true
		}
	}
	for _, t := range []string{"password", "passwd"} {
		if rest, ok := strings.CutPrefix(w, t); ok {
			return rest == "s" || len(rest) > 2 && !denied(rest)
		}
	}
	return false
}

// identOK reports whether an identifier names the credential itself (for
// the password rule, a password) rather than something about one
// (password_policy, tokenType) or a word that merely contains a keyword
// (bypass, passport, tokenizer).
func identOK(ident string, password bool) bool {
	if denied(lastWord(ident)) {
		return false
	}
	var buf [64]byte
	flat := buf[:0]
	for i := 0; i < len(ident) && len(flat) < len(buf); i++ {
		if c := ident[i]; c != '_' && c != '-' && c != '.' {
			flat = append(flat, lower(c))
		}
	}
	l := string(flat)
	for _, d := range denyContains {
		if strings.Contains(l, d) {
			return false
		}
	}
	if strings.HasSuffix(l, "keyid") {
		return false
	}
	ws := words(ident)
	if len(ws) > 1 && denied(ws[len(ws)-1]) {
		return false
	}
	for _, w := range ws {
		if uiWords[w] {
			return false // LABEL_PASSWORD, FORGOT_PASSWORD, SHOW_PWD_TOOLTIP: a user interface's text
		}
	}
	if !password {
		return true
	}
	for _, w := range ws {
		if passwordWord(w) {
			return true
		}
	}
	return false
}

func valueOK(v string, form valueForm, password bool) bool {
	quoted := form != unquotedValue
	if len(v) < 8 || len(v) > 200 {
		return false
	}
	if !password && awsSecretShaped([]byte(v)) {
		return true // may start with / or +, unquoted; Engine.matches weighs it
	}
	if strings.Contains(v, "://") || strings.Count(v, " ") > 1 || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	// what a value starts with tells paths, references, templates, YAML
	// tags and anchors, comments and redactions from passwords that merely
	// contain symbols
	switch v[0] {
	case '/', '$', '{', '[', '<', '\\':
		return false
	case '~', '.':
		if !quoted || len(v) > 1 && (v[1] == '/' || v[1] == '.' || v[1] == '\\') {
			return false
		}
	case '%', '&', '*', '#', '(', '@', '!':
		if !quoted {
			return false
		}
	}
	if strings.HasPrefix(v, "C:\\") {
		return false
	}
	classes := charClasses(v)
	h := entropy(v)
	if constantName(v) || lowerWords(v) || capitalWord(v) || prose(v) {
		return false
	}
	if !password && strings.Contains(v, " ") {
		return false // tokens and keys have no spaces; prose does
	}
	if form == pairValue {
		// two strings side by side are as often a translation table
		// ("password", "Kennwort") as a setting: ask for a value that is
		// plainly not a word
		if classes < 3 || strings.Contains(v, " ") || !ascii(v) {
			return false
		}
	}
	if !quoted {
		if strings.ContainsAny(v, "(){}[]<>") {
			return false
		}
		identLike := true
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !(c == '_' || c == '.' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
				identLike = false
				break
			}
		}
		if identLike {
			if !strings.ContainsAny(v, "0123456789") || classes < 3 || len(v) < 10 || h < 3.2 || !dottedSegmentsMixed(v) {
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

// dottedSegmentsMixed reports whether a dotted value starts with a part
// holding an upper-case letter: Ab3.xY-9kQ may be a password;
// cfg.Database.Password1, ed25519.PrivateKey, com.example.App and
// db1.prod.internal are names.
func dottedSegmentsMixed(v string) bool {
	first, _, _ := strings.Cut(v, ".")
	return strings.ContainsFunc(first, func(r rune) bool { return 'A' <= r && r <= 'Z' })
}

// capitalWord matches a single capitalised word in any script (Kennwort,
// Contraseña): a translation or a label, not a password.
func capitalWord(v string) bool {
	r, n := utf8.DecodeRuneInString(v)
	if !unicode.IsUpper(r) {
		return false
	}
	for _, c := range v[n:] {
		if !unicode.IsLower(c) {
			return false
		}
	}
	return true
}

// prose matches text rather than a secret: any letter outside ASCII
// (Şifrəni Təkrarla, 2FAトークン: passwords and keys are ASCII in practice,
// translations are not), or words of letters separated by a blank that
// read as a sentence, capitalised or ending in its punctuation (Huidig
// wachtwoord, Toista salasanasi.). A lower-case pair (uss enterprise) may
// be a password.
func prose(v string) bool {
	for _, r := range v {
		if r >= 0x80 && unicode.IsLetter(r) {
			return true
		}
	}
	if !strings.Contains(v, " ") {
		return false
	}
	for w := range strings.FieldsSeq(v) {
		w = strings.TrimRight(w, ".?!:;,")
		if w == "" || strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }) {
			return false
		}
	}
	r, _ := utf8.DecodeRuneInString(v)
	return unicode.IsUpper(r) || strings.ContainsAny(v[len(v)-1:], ".?!:")
}

func ascii(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
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
