package filecrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlDoc is a YAML file as a yaml.v3 node tree, so comments, key order
// and anchors survive. Only a single document whose top level is a
// mapping is supported.
type yamlDoc struct{ root *yaml.Node }

func parseYAML(data []byte) (*yamlDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
			return &yamlDoc{root: &doc}, nil
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("yaml: files with more than one document are not supported")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("yaml: the top level must be a mapping")
	}
	if err := checkKeys(&doc); err != nil {
		return nil, err
	}
	quoteUnsafeBlocks(&doc)
	return &yamlDoc{root: &doc}, nil
}

// literalSafe reports whether yaml.v3 writes value as a block scalar and
// reads it back unchanged (it drops leading blank lines and whitespace).
func literalSafe(value string) bool {
	return value != "" && !strings.ContainsAny(value[:1], " \t\n\r") && !strings.Contains(value, "\r")
}

// checkKeys refuses mappings with a key that is not a scalar or that
// appears twice: a value's path must name exactly one value.
func checkKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("yaml: line %d: only scalar mapping keys are supported", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("yaml: line %d: key %q appears twice", k.Line, k.Value)
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		if err := checkKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// quoteUnsafeBlocks double-quotes block scalars that yaml.v3 would not
// write back unchanged, so a round trip never alters a value.
func quoteUnsafeBlocks(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && !literalSafe(n.Value) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteUnsafeBlocks(c)
	}
}

func (d *yamlDoc) top() *yaml.Node { return d.root.Content[0] }

var yamlTypes = map[string]string{"!!str": TypeStr, "!!int": TypeInt, "!!float": TypeFloat, "!!bool": TypeBool, "!!binary": TypeStr, "!!timestamp": TypeStr}

func (d *yamlDoc) leaves() []leaf {
	var out []leaf
	var walk func(n *yaml.Node, p Path)
	walk = func(n *yaml.Node, p Path) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if len(p) == 0 && k == MetadataKey {
					continue
				}
				walk(n.Content[i+1], p.child(k))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, p.child(i))
			}
		case yaml.ScalarNode:
			tag := n.ShortTag()
			if typ, ok := yamlTypes[tag]; ok {
				out = append(out, leaf{path: p, value: n.Value, typ: typ})
			} else if tag != "!!null" {
				// A custom tag (!Ref, !Sub): the value stays in clear, with
				// its tag, and counts in the MAC.
				out = append(out, leaf{path: p, value: tag + " " + n.Value, typ: typeTagged})
			}
		}
	}
	walk(d.top(), nil)
	return out
}

// lookup returns the node at p, creating mappings on the way when create.
func (d *yamlDoc) lookup(p Path, create bool) (*yaml.Node, error) {
	n := d.top()
	for i, s := range p {
		switch seg := s.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s is not a mapping", p[:i].Display())
			}
			var found *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == seg {
					found = n.Content[j+1]
				}
			}
			if found == nil {
				if !create {
					return nil, fmt.Errorf("%s does not exist", p[:i+1].Display())
				}
				found = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				if i == len(p)-1 {
					found = &yaml.Node{Kind: yaml.ScalarNode}
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, found)
			}
			n = found
		case int:
			if n.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("%s is not a sequence", p[:i].Display())
			}
			if seg == len(n.Content) && create && i == len(p)-1 {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode})
			}
			if seg < 0 || seg >= len(n.Content) {
				return nil, fmt.Errorf("%s does not exist", p[:i+1].Display())
			}
			n = n.Content[seg]
		}
	}
	return n, nil
}

func (d *yamlDoc) set(p Path, value, typ string) error {
	n, err := d.lookup(p, true)
	if err != nil {
		return err
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is not a value", p.Display())
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s: value is not valid UTF-8", p.Display())
	}
	n.Value = value
	n.Style = 0
	switch typ {
	case TypeStr, TypeBytes:
		n.Tag = "!!str"
		if strings.ContainsAny(value, "\n\r") {
			n.Style = yaml.DoubleQuotedStyle
			if literalSafe(value) {
				n.Style = yaml.LiteralStyle
			}
		}
	case TypeInt:
		n.Tag = "!!int"
	case TypeFloat:
		n.Tag = "!!float"
	case TypeBool:
		n.Tag = "!!bool"
	case typeTagged:
		tag, v, ok := strings.Cut(value, " ")
		if !ok || !strings.HasPrefix(tag, "!") {
			return fmt.Errorf("%s: malformed tagged value", p.Display())
		}
		n.Tag, n.Value = tag, v
	default:
		return fmt.Errorf("%s: unknown type", p.Display())
	}
	return nil
}

func (d *yamlDoc) remove(p Path) error {
	if len(p) == 0 {
		return errors.New("cannot remove the top level")
	}
	parent, err := d.lookup(p[:len(p)-1], false)
	if err != nil {
		return err
	}
	key, ok := p[len(p)-1].(string)
	if !ok || parent.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: only mapping entries can be removed", p.Display())
	}
	for j := 0; j+1 < len(parent.Content); j += 2 {
		if parent.Content[j].Value == key {
			parent.Content = append(parent.Content[:j], parent.Content[j+2:]...)
			return nil
		}
	}
	return fmt.Errorf("%s does not exist", p.Display())
}

func (d *yamlDoc) metaIndex() int {
	t := d.top()
	for j := 0; j+1 < len(t.Content); j += 2 {
		if t.Content[j].Value == MetadataKey {
			return j
		}
	}
	return -1
}

func (d *yamlDoc) meta() (*Metadata, error) {
	j := d.metaIndex()
	if j < 0 {
		return nil, nil
	}
	var m Metadata
	if err := d.top().Content[j+1].Decode(&m); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return &m, nil
}

func (d *yamlDoc) setMeta(m *Metadata) error {
	t := d.top()
	if j := d.metaIndex(); j >= 0 {
		t.Content = append(t.Content[:j], t.Content[j+2:]...)
	}
	if m == nil {
		return nil
	}
	var v yaml.Node
	if err := v.Encode(m); err != nil {
		return err
	}
	t.Content = append(t.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: MetadataKey}, &v)
	return nil
}

func (d *yamlDoc) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d.root); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
