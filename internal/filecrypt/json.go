package filecrypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// jnode is a JSON value that keeps the order of object keys.
type jnode struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys  []string
	vals  []*jnode // object values (parallel to keys) or array elements
	value string   // string value, number literal, "true"/"false"
}

// jsonDoc is a JSON file whose top level is an object. It is written back
// with two-space indentation, keys in their original order.
type jsonDoc struct{ root *jnode }

// maxJSONDepth bounds nesting so a hostile file cannot exhaust the stack.
const maxJSONDepth = 1000

func parseJSON(data []byte) (*jsonDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readJSON(dec, 0)
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) { // its message quotes a byte of the file
			return nil, fmt.Errorf("json: syntax error at byte %d", se.Offset)
		}
		return nil, fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("json: data after the top-level value")
	}
	if n.kind != 'o' {
		return nil, errors.New("json: the top level must be an object")
	}
	return &jsonDoc{root: n}, nil
}

func readJSON(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &jnode{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				v, err := readJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &jnode{kind: 'a'}
			for dec.More() {
				v, err := readJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &jnode{kind: 's', value: t}, nil
	case json.Number:
		return &jnode{kind: 'n', value: t.String()}, nil
	case bool:
		v := "false"
		if t {
			v = "true"
		}
		return &jnode{kind: 'b', value: v}, nil
	case nil:
		return &jnode{kind: 'z'}, nil
	}
	return nil, errors.New("unexpected token")
}

func numberType(lit string) string {
	if strings.ContainsAny(lit, ".eE") {
		return TypeFloat
	}
	return TypeInt
}

func (d *jsonDoc) leaves() []leaf {
	var out []leaf
	var walk func(n *jnode, p Path)
	walk = func(n *jnode, p Path) {
		switch n.kind {
		case 'o':
			for i, k := range n.keys {
				if len(p) == 0 && k == MetadataKey {
					continue
				}
				walk(n.vals[i], p.child(k))
			}
		case 'a':
			for i, v := range n.vals {
				walk(v, p.child(i))
			}
		case 's':
			out = append(out, leaf{path: p, value: n.value, typ: TypeStr})
		case 'n':
			out = append(out, leaf{path: p, value: n.value, typ: numberType(n.value)})
		case 'b':
			out = append(out, leaf{path: p, value: n.value, typ: TypeBool})
		}
	}
	walk(d.root, nil)
	return out
}

func (d *jsonDoc) lookup(p Path, create bool) (*jnode, error) {
	n := d.root
	for i, s := range p {
		switch seg := s.(type) {
		case string:
			if n.kind != 'o' {
				return nil, fmt.Errorf("%s is not an object", p[:i].Display())
			}
			var found *jnode
			for j, k := range n.keys {
				if k == seg {
					found = n.vals[j]
				}
			}
			if found == nil {
				if !create {
					return nil, fmt.Errorf("%s does not exist", p[:i+1].Display())
				}
				found = &jnode{kind: 'o'}
				if i == len(p)-1 {
					found = &jnode{kind: 'z'}
				}
				n.keys = append(n.keys, seg)
				n.vals = append(n.vals, found)
			}
			n = found
		case int:
			if n.kind != 'a' {
				return nil, fmt.Errorf("%s is not an array", p[:i].Display())
			}
			if seg == len(n.vals) && create && i == len(p)-1 {
				n.vals = append(n.vals, &jnode{kind: 'z'})
			}
			if seg < 0 || seg >= len(n.vals) {
				return nil, fmt.Errorf("%s does not exist", p[:i+1].Display())
			}
			n = n.vals[seg]
		}
	}
	return n, nil
}

func (d *jsonDoc) set(p Path, value, typ string) error {
	n, err := d.lookup(p, true)
	if err != nil {
		return err
	}
	if n.kind == 'o' || n.kind == 'a' {
		return fmt.Errorf("%s is not a value", p.Display())
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s: value is not valid UTF-8", p.Display())
	}
	switch typ {
	case TypeStr, TypeBytes:
		n.kind = 's'
	case TypeInt, TypeFloat:
		var num json.Number
		if json.Unmarshal([]byte(value), &num) != nil {
			return fmt.Errorf("%s: not a number", p.Display())
		}
		n.kind = 'n'
	case TypeBool:
		if value != "true" && value != "false" {
			return fmt.Errorf("%s: not a boolean", p.Display())
		}
		n.kind = 'b'
	default:
		return fmt.Errorf("%s: unknown type", p.Display())
	}
	n.value = value
	return nil
}

func (d *jsonDoc) remove(p Path) error {
	if len(p) == 0 {
		return errors.New("cannot remove the top level")
	}
	parent, err := d.lookup(p[:len(p)-1], false)
	if err != nil {
		return err
	}
	key, ok := p[len(p)-1].(string)
	if !ok || parent.kind != 'o' {
		return fmt.Errorf("%s: only object members can be removed", p.Display())
	}
	for j, k := range parent.keys {
		if k == key {
			parent.keys = append(parent.keys[:j], parent.keys[j+1:]...)
			parent.vals = append(parent.vals[:j], parent.vals[j+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%s does not exist", p.Display())
}

func (d *jsonDoc) meta() (*Metadata, error) {
	for j, k := range d.root.keys {
		if k == MetadataKey {
			var buf bytes.Buffer
			writeJSON(&buf, d.root.vals[j], "")
			var m Metadata
			dec := json.NewDecoder(&buf)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			return &m, nil
		}
	}
	return nil, nil
}

func (d *jsonDoc) setMeta(m *Metadata) error {
	for j, k := range d.root.keys {
		if k == MetadataKey {
			d.root.keys = append(d.root.keys[:j], d.root.keys[j+1:]...)
			d.root.vals = append(d.root.vals[:j], d.root.vals[j+1:]...)
			break
		}
	}
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := readJSON(dec, 0)
	if err != nil {
		return err
	}
	d.root.keys = append(d.root.keys, MetadataKey)
	d.root.vals = append(d.root.vals, n)
	return nil
}

func (d *jsonDoc) marshal() ([]byte, error) {
	var buf bytes.Buffer
	writeJSON(&buf, d.root, "")
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func writeJSON(buf *bytes.Buffer, n *jnode, indent string) {
	switch n.kind {
	case 'o', 'a':
		open, closing := byte('{'), byte('}')
		if n.kind == 'a' {
			open, closing = '[', ']'
		}
		buf.WriteByte(open)
		if len(n.vals) == 0 {
			buf.WriteByte(closing)
			return
		}
		inner := indent + "  "
		for i, v := range n.vals {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString("\n" + inner)
			if n.kind == 'o' {
				writeJSONString(buf, n.keys[i])
				buf.WriteString(": ")
			}
			writeJSON(buf, v, inner)
		}
		buf.WriteString("\n" + indent)
		buf.WriteByte(closing)
	case 's':
		writeJSONString(buf, n.value)
	case 'n', 'b':
		buf.WriteString(n.value)
	case 'z':
		buf.WriteString("null")
	}
}
