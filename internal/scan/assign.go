package scan

// This file reads the syntaxes a credential is assigned in, for the
// generic rules: given the identifier around a keyword, it finds the value
// assigned to it, or says there is none. It knows
//
//	key = value, key: value, key := value, key => value    properties, INI, dotenv, YAML, TOML, HCL, code
//	"key": "value", ['key'] = 'value', \"key\": \"value\"  JSON, dicts, hashes, escaped JSON
//	:key => "value"                                        Ruby symbols
//	key: type = "value", var key string = "value"          TypeScript, Kotlin, Rust, Python, Go
//	<key>value</key>, <key><![CDATA[value]]></key>         XML elements; key="value" is the first form
//	key="Password" value="…", name="password">…</          XML name/value pairs
//	f("KEY", "value"), putenv("KEY=value")                 setenv, os.Setenv, System.setProperty, define…
//	variable "db_password" { default = "value" }           Terraform
//	export KEY=value, ENV KEY=value, ENV KEY value         shell, Dockerfile
//	--key=value, --key value, -key value                   command-line flags
//	mysql -pvalue, sshpass -p value                        clients that take a password after -p
//
// Every function here reads at most a line or two past the keyword, so the
// cost per keyword occurrence is bounded.

// valueForm says how a value was written, which decides how much of it
// must look like a secret (valueOK).
type valueForm uint8

const (
	unquotedValue valueForm = iota // password=Xk9#q…, --password Xk9…
	quotedValue                    // password = "…", <password>…</password>
	pairValue                      // os.Setenv("DB_PASSWORD", "…"), <add key="Password" value="…"/>
)

func byteAt(d []byte, i int) byte {
	if i < 0 || i >= len(d) {
		return 0
	}
	return d[i]
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// hasFoldAt is hasAt for a lower-case s, ignoring the case of d.
func hasFoldAt(d []byte, p int, s string) bool {
	if p < 0 || p+len(s) > len(d) {
		return false
	}
	for k := 0; k < len(s); k++ {
		if lower(d[p+k]) != s[k] {
			return false
		}
	}
	return true
}

// lineBegin returns where the line holding i starts, if that is within
// 512 bytes.
func lineBegin(d []byte, i int) (int, bool) {
	for k := i; k > 0 && i-k < 512; k-- {
		if d[k-1] == '\n' {
			return k, true
		}
	}
	return 0, i < 512
}

// detectAssignment finds the value assigned to the identifier around a
// keyword occurrence and returns the value's range.
func detectAssignment(d []byte, kwStart, kwEnd int, password bool) (int, int, bool) {
	i := kwStart
	for i > 0 && kwStart-i < 64 && isIdentByte(d[i-1]) {
		i--
	}
	j := kwEnd
	for j < len(d) && j-kwEnd < 64 && isIdentByte(d[j]) {
		j++
	}
	var vs, ve int
	var form valueForm
	var ok, command bool
	switch {
	case password && lower(d[kwStart]) == 'm': // the mysql and mariadb keywords: only a client's command line
		if !mysqlClient(d[i:j]) {
			return 0, 0, false
		}
		vs, ve, form, ok = commandPassword(d, j, false)
		command = true
	case password && j-i == 7 && hasFoldAt(d, i, "sshpass"):
		vs, ve, form, ok = commandPassword(d, j, true)
		command = true
	default:
		vs, ve, form, ok = assignedValue(d, i, j)
	}
	if !ok || ve-vs < 8 || ve-vs > 200 {
		return 0, 0, false
	}
	if !valueOK(string(d[vs:ve]), form, password) || !command && !identOK(string(d[i:j]), password) {
		return 0, 0, false
	}
	return vs, ve, true
}

var mysqlClients = []string{
	"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlpump", "mysqlshow", "mysqlsh",
	"mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-check",
}

func mysqlClient(name []byte) bool {
	for _, c := range mysqlClients {
		if string(name) == c {
			return true
		}
	}
	return false
}

// commandPassword finds the password a command line gives a client after
// -p: attached (mysql -pXk9…, -p'Xk9…'), or, when separate is set, also as
// the next word (sshpass -p Xk9…). p is the end of the command's name.
func commandPassword(d []byte, p int, separate bool) (int, int, valueForm, bool) {
	if !isBlank(byteAt(d, p)) {
		return 0, 0, 0, false
	}
	end := min(len(d), p+512)
	for p < end {
		p = skipBlank(d, p)
		if p >= end {
			break
		}
		switch d[p] {
		case '\n', '\r', '|', ';', '&', '<', '>':
			return 0, 0, 0, false // the command ends
		}
		if d[p] == '-' && byteAt(d, p+1) == 'p' {
			v := p + 2
			if c := byteAt(d, v); c != 0 && !isBlank(c) && c != '\n' && c != '\r' {
				return shellWord(d, v)
			}
			if separate {
				return shellWord(d, skipBlank(d, v))
			}
		}
		p = skipShellWord(d, p)
	}
	return 0, 0, 0, false
}

// shellWord returns the word of a command line starting at p: quoted, or
// up to a blank or a shell operator.
func shellWord(d []byte, p int) (int, int, valueForm, bool) {
	if c := byteAt(d, p); c == '\'' || c == '"' {
		vs, ve, _, ok := quotedAt(d, p)
		return vs, ve, quotedValue, ok
	}
	k := p
	for k < len(d) && k-p < 256 && !isBlank(d[k]) && d[k] != '\n' && d[k] != '\r' && d[k] != ';' && d[k] != '|' && d[k] != '&' && d[k] != '<' && d[k] != '>' && d[k] != '"' && d[k] != '\'' {
		k++
	}
	return p, k, unquotedValue, k > p
}

func skipShellWord(d []byte, p int) int {
	for p < len(d) && !isBlank(d[p]) && d[p] != '\n' {
		if c := d[p]; c == '\'' || c == '"' {
			if _, ve, _, ok := quotedAt(d, p); ok {
				p = ve
			}
		}
		p++
	}
	return p
}

// assignedValue finds the value assigned to the identifier d[i:j].
func assignedValue(d []byte, i, j int) (int, int, valueForm, bool) {
	pre, post := byteAt(d, i-1), byteAt(d, j)
	switch pre {
	case '<':
		if post == '>' {
			return xmlElement(d, i, j)
		}
	case '"', '\'', '`':
		if post == pre || post == '\\' && byteAt(d, j+1) == pre {
			if vs, ve, form, ok := namedValue(d, i, j); ok {
				return vs, ve, form, true
			}
		}
	case ':':
		if i >= 2 && (isIdentByte(d[i-2]) || d[i-2] == ':') {
			return 0, 0, 0, false // a field of a colon-separated record, or a scope (a::b)
		}
		// else a Ruby symbol, :password => "…", checked at the operator
	case '/':
		return 0, 0, 0, false // a path
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
	p0 := p
	p = skipBlank(d, p)
	var op byte // '=', ':', '>' for =>, ' ' for a blank
	switch {
	case hasAt(d, p, "||="):
		p, op = p+3, '='
	case hasAt(d, p, "=>"):
		p, op = p+2, '>'
	case hasAt(d, p, ":="), hasAt(d, p, "?="):
		p, op = p+2, '='
	case hasAt(d, p, "=="), hasAt(d, p, "!="):
		return 0, 0, 0, false
	case p < len(d) && d[p] == '=':
		p, op = p+1, '='
	case p < len(d) && d[p] == ':':
		p, op = p+1, ':'
	case p > p0 && pre != '"' && pre != '\'':
		// a value after blanks: a flag's (--password Xk9…), Dockerfile's
		// ENV KEY value, or Go's var key string = "…"
		switch {
		case d[i] == '-':
			op = ' '
		case dockerLegacyEnv(d, i):
			op = ' '
		case (hasAt(d, p, "string") || hasAt(d, p, "[]byte")) && isBlank(byteAt(d, i-1)) && isBlank(byteAt(d, p+6)):
			k := skipBlank(d, p+6) // both type names are six bytes
			if byteAt(d, k) != '=' || byteAt(d, k+1) == '=' {
				return 0, 0, 0, false
			}
			p, op = k+1, '='
		default:
			return 0, 0, 0, false
		}
	default:
		return 0, 0, 0, false
	}
	if pre == ':' && op != '>' {
		return 0, 0, 0, false
	}
	if op == ':' {
		if k, ok := typeAnnotation(d, p); ok { // dbPass: string = "…"
			p, op = k, '='
		}
	}
	p = skipBlank(d, p)
	if p >= len(d) {
		return 0, 0, 0, false
	}
	vs, ve, quoted, ok := valueAt(d, p)
	if !ok {
		return 0, 0, 0, false
	}
	if quoted {
		return vs, ve, quotedValue, true
	}
	if !statementEnd(d, i, j, ve, op) {
		return 0, 0, 0, false
	}
	return vs, ve, unquotedValue, true
}

// valueAt reads a value starting at p: quoted in any of the usual ways
// (with Python's and C#'s string prefixes, triple quotes, escaped quotes
// inside a JSON string), or bare up to a blank or a separator.
func valueAt(d []byte, p int) (int, int, bool, bool) {
	// string prefixes: Python r"" b"" u"" f"", C# @""
	if c := d[p]; (c == 'r' || c == 'b' || c == 'u' || c == 'f' || c == '@') && p+1 < len(d) && (d[p+1] == '"' || d[p+1] == '\'') {
		p++
	}
	switch c := d[p]; {
	case c == '\\' || c == '"' || c == '\'' || c == '`':
		vs, ve, _, ok := quotedAt(d, p)
		return vs, ve, true, ok
	}
	k := p
	for k < len(d) && k-p < 256 && !bareEnd[d[k]] {
		k++
	}
	return p, k, false, true
}

// bareEnd are the bytes that end a bare value. An opening parenthesis
// does too: what precedes it is a call (os.Getenv(…)), and valueOK
// refuses bare values with brackets anyway.
var bareEnd = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n,;()]}\"'<") {
		t[c] = true
	}
	return t
}()

// quotedAt reads a quoted string starting at p ("…", '…', `…`, """…""",
// \"…\") on one line and returns its contents' range.
func quotedAt(d []byte, p int) (int, int, valueForm, bool) {
	switch {
	case d[p] == '\\' && p+1 < len(d) && (d[p+1] == '"' || d[p+1] == '\''):
		vs := p + 2
		k := indexOnLine(d, vs, []byte{'\\', d[p+1]})
		return vs, k, quotedValue, k >= 0
	case hasAt(d, p, `"""`), hasAt(d, p, "'''"):
		vs := p + 3
		k := indexOnLine(d, vs, d[p:p+3])
		return vs, k, quotedValue, k >= 0
	case d[p] == '"' || d[p] == '\'' || d[p] == '`':
		q := d[p]
		vs := p + 1
		k := vs
		for k < len(d) && k-vs < 256 && d[k] != q && d[k] != '\n' {
			if d[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(d) || d[k] != q {
			return 0, 0, 0, false
		}
		return vs, k, quotedValue, true
	}
	return 0, 0, 0, false
}

// statementEnd reports whether a bare value ending at ve ends what assigns
// it: `x = a + b` and `password: foo bar` are not assignments of a, foo.
// The name is d[i:j] and op the operator.
func statementEnd(d []byte, i, j, ve int, op byte) bool {
	r := skipBlank(d, ve)
	if r >= len(d) {
		return true
	}
	switch c := d[r]; {
	case c == '\n' || c == '\r' || c == ',' || c == ';' || c == '#' || hasAt(d, r, "//"):
		return true
	case r > ve && d[i] == '-':
		return true // --password=Xk9… --host db, --password Xk9… --host db
	case r > ve && op == '=' && envLine(d, i, j):
		return true // PGPASSWORD=Xk9… psql, ENV A=1 B=2
	case (c == '"' || c == '\'') && r == ve:
		// putenv("DB_PASSWORD=Xk9…"), "Server=db;Password=Xk9…", but not
		// a URL's query (?token=…), which is as often a nonce as a key
		return i > 0 && d[i-1] != '?' && d[i-1] != '&' && insideString(d, i, c)
	}
	return false
}

// envLine reports whether the assignment of d[i:j] is an environment
// assignment on a shell or Dockerfile line: after export, ENV, ARG, env,
// declare -x or set, or an upper-case name starting the line.
func envLine(d []byte, i, j int) bool {
	ls, ok := lineBegin(d, i)
	if !ok {
		return false
	}
	k := skipBlank(d, ls)
	if k == i {
		for _, c := range d[i:j] {
			if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
				return false
			}
		}
		return true
	}
	for _, w := range []string{"export ", "env ", "arg ", "env\t", "declare -x ", "set ", "readonly "} {
		if hasFoldAt(d, k, w) {
			return true
		}
	}
	return false
}

// dockerLegacyEnv reports whether the name at i follows ENV at the start
// of its line: Dockerfile's ENV KEY value.
func dockerLegacyEnv(d []byte, i int) bool {
	// cheap first: ENV and blanks right before the name (most names
	// followed by a blank are words in prose)
	k := i
	for k > 0 && isBlank(d[k-1]) {
		k--
	}
	if k == i || !hasFoldAt(d, k-3, "env") {
		return false
	}
	ls, ok := lineBegin(d, k-3)
	return ok && skipBlank(d, ls) == k-3
}

// insideString reports whether i is inside a string quoted with q that
// opened earlier on its line.
func insideString(d []byte, i int, q byte) bool {
	ls, ok := lineBegin(d, i)
	if !ok {
		return false
	}
	n := 0
	for k := ls; k < i; k++ {
		if d[k] == '\\' {
			k++
			continue
		}
		if d[k] == q {
			n++
		}
	}
	return n%2 == 1
}

// typeAnnotation skips a type between a name's colon and its = (dbPass:
// string = "…", pw: &str = "…") and returns where the value starts.
func typeAnnotation(d []byte, p int) (int, bool) {
	k := skipBlank(d, p)
	s := k
	if c := byteAt(d, k); c == '&' || c == '*' {
		k++
	}
	for k < len(d) && k-s < 40 && (isWordByte(d[k]) || d[k] == '.' || d[k] == '<' || d[k] == '>' || d[k] == '[' || d[k] == ']' || d[k] == '?') {
		k++
	}
	if k == s {
		return 0, false
	}
	k = skipBlank(d, k)
	if byteAt(d, k) == '=' && byteAt(d, k+1) != '=' && byteAt(d, k+1) != '>' {
		return k + 1, true
	}
	return 0, false
}

// xmlElement reads <key>value</key> or <key><![CDATA[value]]></key>, the
// element closing on the same line; d[i:j] is the key.
func xmlElement(d []byte, i, j int) (int, int, valueForm, bool) {
	p := j + 1
	var vs, ve int
	if hasAt(d, p, "<![CDATA[") {
		vs = p + 9
		k := indexOnLine(d, vs, []byte("]]"))
		if k < 0 || byteAt(d, k+2) != '>' {
			return 0, 0, 0, false
		}
		ve, p = k, k+3
	} else {
		vs = p
		k := vs
		for k < len(d) && k-vs < 256 && d[k] != '<' && d[k] != '\n' {
			k++
		}
		ve, p = k, k
	}
	if !hasAt(d, p, "</") || !hasAt(d, p+2, string(d[i:j])) || byteAt(d, p+2+j-i) != '>' {
		return 0, 0, 0, false
	}
	for vs < ve && isBlank(d[vs]) {
		vs++
	}
	for ve > vs && isBlank(d[ve-1]) {
		ve--
	}
	return vs, ve, quotedValue, true
}

// namedValue reads the forms where the key is itself a quoted string,
// d[i:j] inside the quotes: a call f("KEY", "value"), an XML name/value
// pair (key="Password" value="…", name="password">…</…>) or a Terraform
// variable's default.
func namedValue(d []byte, i, j int) (int, int, valueForm, bool) {
	p := j + 1 // after the closing quote
	before := byteAt(d, i-2)
	switch before {
	case '=': // an attribute's value: the pair's value follows in the same tag
		k := skipBlank(d, p)
		if byteAt(d, k) == '>' {
			vs := k + 1
			e := vs
			for e < len(d) && e-vs < 256 && d[e] != '<' && d[e] != '\n' {
				e++
			}
			if !hasAt(d, e, "</") {
				return 0, 0, 0, false
			}
			return vs, e, pairValue, true
		}
		for k = p; k < len(d) && k-p < 256 && d[k] != '>' && d[k] != '\n'; k++ {
			if isBlank(d[k]) && hasFoldAt(d, k+1, "value") {
				m := skipBlank(d, k+6)
				if byteAt(d, m) != '=' {
					continue
				}
				m = skipBlank(d, m+1)
				if c := byteAt(d, m); c == '"' || c == '\'' {
					vs, ve, _, ok := quotedAt(d, m)
					return vs, ve, pairValue, ok
				}
			}
		}
	case '(', '[', ',', ' ', '\t':
		k := skipBlank(d, p)
		switch byteAt(d, k) {
		case ',': // f("KEY", "value")
			k = skipBlank(d, k+1)
			if c := byteAt(d, k); c == '"' || c == '\'' || c == '`' {
				vs, ve, _, ok := quotedAt(d, k)
				return vs, ve, pairValue, ok
			}
		case '{': // variable "db_password" { … default = "value" }
			if !hasAt(d, i-10, "variable ") {
				return 0, 0, 0, false
			}
			for m := k + 1; m < len(d) && m-k < 512 && d[m] != '}'; m++ {
				if (d[m-1] == '\n' || isBlank(d[m-1])) && hasAt(d, m, "default") {
					n := skipBlank(d, m+7)
					if byteAt(d, n) != '=' {
						continue
					}
					n = skipBlank(d, n+1)
					if byteAt(d, n) == '"' {
						vs, ve, _, ok := quotedAt(d, n)
						return vs, ve, quotedValue, ok
					}
					return 0, 0, 0, false
				}
			}
		}
	}
	return 0, 0, 0, false
}

func skipBlank(d []byte, p int) int {
	for p < len(d) && (d[p] == ' ' || d[p] == '\t') {
		p++
	}
	return p
}

func hasAt(d []byte, p int, s string) bool {
	return p >= 0 && p+len(s) <= len(d) && string(d[p:p+len(s)]) == s
}

func indexOnLine(d []byte, from int, q []byte) int {
	for k := from; k+len(q) <= len(d) && k-from < 256; k++ {
		if d[k] == '\n' {
			return -1
		}
		if d[k] == q[0] && string(d[k:k+len(q)]) == string(q) {
			return k
		}
	}
	return -1
}
