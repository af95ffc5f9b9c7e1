package filecrypt

import (
	"fmt"
	"strings"
)

// iniLine is one line of an INI file: a section header, a key = value
// entry, or anything else (blank, comment) kept verbatim.
type iniLine struct {
	raw     string
	section string // the section the line is in
	header  bool
	key     string // "" unless an entry
	lead    string // "key = " as written, up to the value
	value   string
	dirty   bool
}

// iniDoc is an INI file: [section] headers and key = value entries
// (values taken literally, surrounding spaces trimmed), ';' and '#'
// comment lines. Entries before the first header have a one-element path.
type iniDoc struct {
	lines []*iniLine
	md    *Metadata
	nl    bool
}

func parseINI(data []byte) (*iniDoc, error) {
	lines, nl := splitLines(data)
	d := &iniDoc{nl: nl}
	section := ""
	seen := map[[2]string]bool{}
	sections := map[string]bool{}
	for i, raw := range lines {
		t := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(raw, metaLinePrefix):
			if d.md != nil {
				return nil, fmt.Errorf("ini: line %d: second metadata line", i+1)
			}
			m, err := parseMetaLine(raw)
			if err != nil {
				return nil, fmt.Errorf("ini: line %d: %w", i+1, err)
			}
			d.md = m
		case t == "" || t[0] == ';' || t[0] == '#':
			d.lines = append(d.lines, &iniLine{raw: raw, section: section})
		case t[0] == '[':
			if !strings.HasSuffix(t, "]") || len(t) < 3 {
				return nil, fmt.Errorf("ini: line %d: malformed section header", i+1)
			}
			section = strings.TrimSpace(t[1 : len(t)-1])
			if sections[section] {
				return nil, fmt.Errorf("ini: line %d: section %q appears twice", i+1, section)
			}
			sections[section] = true
			d.lines = append(d.lines, &iniLine{raw: raw, section: section, header: true})
		default:
			j := strings.IndexByte(raw, '=')
			if j < 0 {
				return nil, fmt.Errorf("ini: line %d: not key = value", i+1)
			}
			key := strings.TrimSpace(raw[:j])
			if key == "" {
				return nil, fmt.Errorf("ini: line %d: empty key", i+1)
			}
			if seen[[2]string{section, key}] {
				return nil, fmt.Errorf("ini: line %d: key %q is set twice", i+1, key)
			}
			seen[[2]string{section, key}] = true
			rest := raw[j+1:]
			value := strings.TrimSpace(rest)
			lead := raw[:j+1] + rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
			d.lines = append(d.lines, &iniLine{raw: raw, section: section, key: key, lead: lead, value: value})
		}
	}
	return d, nil
}

func iniPath(section, key string) Path {
	if section == "" {
		return Path{key}
	}
	return Path{section, key}
}

func iniKey(p Path) (section, key string, err error) {
	var ok1, ok2 bool
	switch len(p) {
	case 1:
		key, ok1 = p[0].(string)
		ok2 = true
	case 2:
		section, ok1 = p[0].(string)
		key, ok2 = p[1].(string)
	}
	if !ok1 || !ok2 || key == "" || strings.ContainsAny(key, "=\n\r") || strings.ContainsAny(section, "[]\n\r") ||
		strings.TrimSpace(key) != key || strings.TrimSpace(section) != section || len(p) == 2 && section == "" {
		return "", "", fmt.Errorf("%s is not an INI entry", p.Display())
	}
	return section, key, nil
}

func (d *iniDoc) leaves() []leaf {
	var out []leaf
	for _, l := range d.lines {
		if l.key != "" {
			out = append(out, leaf{path: iniPath(l.section, l.key), value: l.value, typ: TypeStr})
		}
	}
	return out
}

func (d *iniDoc) set(p Path, value, typ string) error {
	section, key, err := iniKey(p)
	if err != nil {
		return err
	}
	if strings.ContainsAny(value, "\n\r") || strings.TrimSpace(value) != value {
		return fmt.Errorf("%s: INI values cannot hold line breaks or surrounding spaces", p.Display())
	}
	last := -1 // the last line of the section
	for i, l := range d.lines {
		if l.section != section {
			continue
		}
		if l.key == key {
			if l.value != value {
				l.value, l.dirty = value, true
			}
			return nil
		}
		if l.key != "" || l.header {
			last = i
		}
	}
	nl := &iniLine{section: section, key: key, lead: key + " = ", value: value, dirty: true}
	if last < 0 && section != "" {
		d.lines = append(d.lines, &iniLine{raw: "[" + section + "]", section: section, header: true}, nl)
		return nil
	}
	d.lines = append(d.lines[:last+1], append([]*iniLine{nl}, d.lines[last+1:]...)...)
	return nil
}

func (d *iniDoc) remove(p Path) error {
	section, key, err := iniKey(p)
	if err != nil {
		return err
	}
	for i, l := range d.lines {
		if l.section == section && l.key == key {
			d.lines = append(d.lines[:i], d.lines[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%s does not exist", p.Display())
}

func (d *iniDoc) meta() (*Metadata, error) { return d.md, nil }
func (d *iniDoc) setMeta(m *Metadata) error {
	d.md = m
	return nil
}

func (d *iniDoc) marshal() ([]byte, error) {
	out := make([]string, 0, len(d.lines)+1)
	for _, l := range d.lines {
		if l.dirty {
			out = append(out, l.lead+l.value)
		} else {
			out = append(out, l.raw)
		}
	}
	if d.md != nil {
		ml, err := metaLine(d.md)
		if err != nil {
			return nil, err
		}
		return joinLines(append(out, ml), true), nil
	}
	return joinLines(out, d.nl), nil
}
