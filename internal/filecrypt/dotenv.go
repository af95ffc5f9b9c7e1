package filecrypt

import (
	"errors"
	"fmt"
	"strings"
)

// envLine is one line of a dotenv file: a variable, or anything else
// (blank, comment) kept verbatim.
type envLine struct {
	raw     string // the line as read; rendered again only when dirty
	key     string // "" for lines that are not variables
	export  bool
	value   string
	quote   byte   // 0, '"' or '\''
	comment string // trailing " # ..." of the line, kept
	dirty   bool
}

// dotenvDoc is a dotenv file: NAME=value lines, optionally with export,
// single quotes (literal) or double quotes (with \n, \t, \", \\ escapes).
type dotenvDoc struct {
	lines []*envLine
	md    *Metadata
	nl    bool
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-')) {
			return false
		}
	}
	return true
}

func parseDotenv(data []byte) (*dotenvDoc, error) {
	lines, nl := splitLines(data)
	d := &dotenvDoc{nl: nl}
	seen := map[string]bool{}
	for i, raw := range lines {
		t := strings.TrimSpace(raw)
		if strings.HasPrefix(raw, metaLinePrefix) {
			if d.md != nil {
				return nil, fmt.Errorf("dotenv: line %d: second metadata line", i+1)
			}
			m, err := parseMetaLine(raw)
			if err != nil {
				return nil, fmt.Errorf("dotenv: line %d: %w", i+1, err)
			}
			d.md = m
			continue
		}
		if t == "" || strings.HasPrefix(t, "#") {
			d.lines = append(d.lines, &envLine{raw: raw})
			continue
		}
		l, err := parseEnvLine(t)
		if err != nil {
			return nil, fmt.Errorf("dotenv: line %d: %w", i+1, err)
		}
		if seen[l.key] {
			return nil, fmt.Errorf("dotenv: line %d: %s is set twice", i+1, l.key)
		}
		seen[l.key] = true
		l.raw = raw
		d.lines = append(d.lines, l)
	}
	return d, nil
}

func parseEnvLine(t string) (*envLine, error) {
	l := &envLine{}
	if rest, ok := strings.CutPrefix(t, "export "); ok {
		l.export = true
		t = strings.TrimLeft(rest, " \t")
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return nil, errors.New("not NAME=value")
	}
	l.key = strings.TrimRight(k, " \t")
	if !validEnvName(l.key) {
		return nil, errors.New("not a valid variable name")
	}
	v = strings.TrimLeft(v, " \t")
	var rest string
	switch {
	case strings.HasPrefix(v, "'"):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return nil, errors.New("unterminated single quote")
		}
		l.quote, l.value, rest = '\'', v[1:1+end], v[2+end:]
	case strings.HasPrefix(v, `"`):
		var b strings.Builder
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(v[i])
				}
				continue
			}
			b.WriteByte(v[i])
		}
		if i >= len(v) {
			return nil, errors.New("unterminated double quote")
		}
		l.quote, l.value, rest = '"', b.String(), v[i+1:]
	default:
		if j := strings.Index(v, " #"); j >= 0 {
			v, rest = v[:j], v[j:]
		}
		l.value = strings.TrimRight(v, " \t")
		return l, checkComment(l, rest)
	}
	return l, checkComment(l, rest)
}

func checkComment(l *envLine, rest string) error {
	if strings.TrimSpace(rest) == "" {
		return nil
	}
	if !strings.HasPrefix(strings.TrimLeft(rest, " \t"), "#") {
		return errors.New("text after the value")
	}
	l.comment = rest
	return nil
}

// plainEnvValue reports whether v can be written without quotes.
func plainEnvValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.,:/@+=[]%^~", c) >= 0) {
			return false
		}
	}
	return true
}

func (l *envLine) render() string {
	if !l.dirty {
		return l.raw
	}
	var b strings.Builder
	if l.export {
		b.WriteString("export ")
	}
	b.WriteString(l.key + "=")
	switch {
	case l.quote == '\'' && !strings.ContainsAny(l.value, "'\n\r"):
		b.WriteString("'" + l.value + "'")
	case l.quote == 0 && plainEnvValue(l.value):
		b.WriteString(l.value)
	default:
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
		b.WriteString(`"` + r.Replace(l.value) + `"`)
	}
	b.WriteString(l.comment)
	return b.String()
}

func (d *dotenvDoc) leaves() []leaf {
	var out []leaf
	for _, l := range d.lines {
		if l.key != "" {
			out = append(out, leaf{path: Path{l.key}, value: l.value, typ: TypeStr})
		}
	}
	return out
}

func envKey(p Path) (string, error) {
	if len(p) != 1 {
		return "", fmt.Errorf("%s is not a dotenv variable", p.Display())
	}
	k, ok := p[0].(string)
	if !ok || !validEnvName(k) {
		return "", fmt.Errorf("%s is not a dotenv variable", p.Display())
	}
	return k, nil
}

func (d *dotenvDoc) set(p Path, value, typ string) error {
	k, err := envKey(p)
	if err != nil {
		return err
	}
	for _, l := range d.lines {
		if l.key == k {
			if l.value != value {
				l.value, l.dirty = value, true
			}
			return nil
		}
	}
	d.lines = append(d.lines, &envLine{key: k, value: value, dirty: true})
	return nil
}

func (d *dotenvDoc) remove(p Path) error {
	k, err := envKey(p)
	if err != nil {
		return err
	}
	for i, l := range d.lines {
		if l.key == k {
			d.lines = append(d.lines[:i], d.lines[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%s does not exist", p.Display())
}

func (d *dotenvDoc) meta() (*Metadata, error) { return d.md, nil }
func (d *dotenvDoc) setMeta(m *Metadata) error {
	d.md = m
	return nil
}

func (d *dotenvDoc) marshal() ([]byte, error) {
	out := make([]string, 0, len(d.lines)+1)
	for _, l := range d.lines {
		out = append(out, l.render())
	}
	if d.md != nil {
		ml, err := metaLine(d.md)
		if err != nil {
			return nil, err
		}
		out = append(out, ml)
		return joinLines(out, true), nil
	}
	return joinLines(out, d.nl), nil
}
