package secretref

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Ref names one secret value: a path on the server, optionally a field of
// the secret there and, for KV version 2, a version. Its text form is
// PATH[#FIELD][@VERSION]; a Ref holds no value.
type Ref struct {
	// Path is the secret's path as written: either the API form of a KV
	// version 2 secret (secret/data/prod/db) or its logical form
	// (secret/prod/db), or any other readable path (database/creds/ro).
	Path string
	// Field selects one key of the secret's data; empty means the whole
	// data as a JSON object.
	Field string
	// Version pins a KV version 2 version; 0 means the current one.
	Version int
}

// String returns the reference's text form, which ParseRef accepts.
func (r Ref) String() string {
	s := r.Path
	if r.Field != "" || r.Version > 0 {
		s += "#" + r.Field
	}
	if r.Version > 0 {
		s += "@" + strconv.Itoa(r.Version)
	}
	return s
}

// ParseRef parses PATH[#FIELD][@VERSION]. The version, when present, is the
// decimal number after the last '@' of the part after '#' ("#password@3",
// "#@3" for the whole secret at version 3); an '@' followed by anything but
// digits is part of the field name.
func ParseRef(s string) (Ref, error) {
	path, frag, hasFrag := strings.Cut(s, "#")
	path = strings.Trim(path, "/")
	if path == "" {
		return Ref{}, fmt.Errorf("reference %q: empty path", s)
	}
	if strings.ContainsAny(path, "\x00?\n\r \t") || strings.Contains(path, "//") {
		return Ref{}, fmt.Errorf("reference %q: invalid path", s)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return Ref{}, fmt.Errorf("reference %q: invalid path", s)
		}
	}
	r := Ref{Path: path}
	if !hasFrag {
		return r, nil
	}
	if strings.ContainsRune(frag, '#') {
		return Ref{}, fmt.Errorf("reference %q: more than one '#'", s)
	}
	r.Field = frag
	if i := strings.LastIndexByte(frag, '@'); i >= 0 && i+1 < len(frag) && allDigits(frag[i+1:]) {
		v, err := strconv.Atoi(frag[i+1:])
		if err != nil || v <= 0 {
			return Ref{}, fmt.Errorf("reference %q: invalid version", s)
		}
		r.Field, r.Version = frag[:i], v
	}
	if strings.ContainsAny(r.Field, "\x00\n\r") {
		return Ref{}, fmt.Errorf("reference %q: invalid field", s)
	}
	return r, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// EnvRef injects one value as an environment variable.
type EnvRef struct {
	Name string
	Ref  Ref
}

// ParseEnv parses NAME=REF.
func ParseEnv(s string) (EnvRef, error) {
	name, ref, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return EnvRef{}, fmt.Errorf("env %q: want NAME=PATH#FIELD", s)
	}
	if !validEnvName(name) {
		return EnvRef{}, fmt.Errorf("env %q: invalid variable name", name)
	}
	r, err := ParseRef(ref)
	if err != nil {
		return EnvRef{}, fmt.Errorf("env %s: %w", name, err)
	}
	return EnvRef{Name: name, Ref: r}, nil
}

// validEnvName accepts the portable shell names: a letter or '_', then
// letters, digits and '_'.
func validEnvName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// EnvFrom injects every field of one secret, each as a variable named
// Prefix + EnvName(field).
type EnvFrom struct {
	Ref    Ref // Field is empty
	Prefix string
}

// ParseEnvFrom parses PATH[@VERSION] with an optional name prefix.
func ParseEnvFrom(s, prefix string) (EnvFrom, error) {
	r, err := ParseRef(s)
	if err != nil {
		return EnvFrom{}, fmt.Errorf("env-from: %w", err)
	}
	if r.Field != "" {
		return EnvFrom{}, fmt.Errorf("env-from %q: takes a whole secret, not a field", s)
	}
	if prefix != "" && !validEnvName(prefix) {
		return EnvFrom{}, fmt.Errorf("env-from %q: invalid prefix %q", s, prefix)
	}
	return EnvFrom{Ref: r, Prefix: prefix}, nil
}

// EnvName turns a secret's field name into a variable name: upper-cased,
// every byte that is not a letter or digit replaced by '_', and a leading
// '_' added when it would start with a digit.
func EnvName(field string) string {
	b := []byte(field)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// FileRef writes one value to a file in the secrets directory.
type FileRef struct {
	Name string
	Ref  Ref
	Mode os.FileMode // 0: 0600
}

// ParseFile parses NAME=REF[:MODE], MODE being octal permission bits such
// as 0400 or 440.
func ParseFile(s string) (FileRef, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return FileRef{}, fmt.Errorf("file %q: want NAME=PATH#FIELD[:MODE]", s)
	}
	if err := checkFileName(name); err != nil {
		return FileRef{}, fmt.Errorf("file %q: %w", name, err)
	}
	var mode os.FileMode
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && isMode(rest[i+1:]) {
		m, _ := strconv.ParseUint(rest[i+1:], 8, 32)
		mode, rest = os.FileMode(m), rest[:i]
		if mode&0o400 == 0 {
			return FileRef{}, fmt.Errorf("file %s: mode %04o is not readable by the owner", name, m)
		}
	}
	r, err := ParseRef(rest)
	if err != nil {
		return FileRef{}, fmt.Errorf("file %s: %w", name, err)
	}
	return FileRef{Name: name, Ref: r, Mode: mode}, nil
}

// isMode accepts three or four octal digits, the fourth being a leading 0.
func isMode(s string) bool {
	if len(s) == 4 && s[0] == '0' {
		s = s[1:]
	}
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

func checkFileName(n string) error {
	if n == "" || n == "." || n == ".." || len(n) > 255 || strings.ContainsAny(n, "/\\\x00\n") {
		return errors.New("want a single file name")
	}
	return nil
}

// Template renders Source (a Go text/template file read at start) into a
// file named Dest in the secrets directory.
type Template struct {
	Source string
	Dest   string
	Mode   os.FileMode // 0: 0600
}

// ParseTemplate parses IN:OUT, OUT being a file name in the secrets
// directory. The last ':' separates them.
func ParseTemplate(s string) (Template, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return Template{}, fmt.Errorf("template %q: want IN:OUT", s)
	}
	t := Template{Source: s[:i], Dest: s[i+1:]}
	if err := checkFileName(t.Dest); err != nil {
		return Template{}, fmt.Errorf("template %q: output %q: %w", s, t.Dest, err)
	}
	return t, nil
}
