package secretref

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// DefaultConfig is the file `keyward run` reads when it exists and no
// --config is given.
const DefaultConfig = "keyward.yaml"

// Plan is everything a job asks for: references only, no values.
type Plan struct {
	Env       []EnvRef
	EnvFrom   []EnvFrom
	Files     []FileRef
	Templates []Template
}

// Add appends o's entries to p.
func (p *Plan) Add(o Plan) {
	p.Env = append(p.Env, o.Env...)
	p.EnvFrom = append(p.EnvFrom, o.EnvFrom...)
	p.Files = append(p.Files, o.Files...)
	p.Templates = append(p.Templates, o.Templates...)
}

// Empty reports whether p asks for nothing.
func (p Plan) Empty() bool {
	return len(p.Env)+len(p.EnvFrom)+len(p.Files)+len(p.Templates) == 0
}

// Validate reports every name given twice at once: two variables of the
// same name, or two files (or templates) of the same name. A variable from
// EnvFrom may be overridden by Env, so those are checked after fetching.
func (p Plan) Validate() error {
	var errs []error
	vars := map[string]bool{}
	for _, e := range p.Env {
		if vars[e.Name] {
			errs = append(errs, fmt.Errorf("variable %s is given twice", e.Name))
		}
		vars[e.Name] = true
	}
	files := map[string]bool{}
	for _, f := range p.Files {
		if files[f.Name] {
			errs = append(errs, fmt.Errorf("file %s is given twice", f.Name))
		}
		files[f.Name] = true
	}
	for _, t := range p.Templates {
		if files[t.Dest] {
			errs = append(errs, fmt.Errorf("file %s is given twice", t.Dest))
		}
		files[t.Dest] = true
	}
	return errors.Join(errs...)
}

// config is keyward.yaml.
type config struct {
	Env       map[string]string   `yaml:"env"`
	EnvFrom   []envFromEntry      `yaml:"env_from"`
	Files     map[string]fileItem `yaml:"files"`
	Templates []templateEntry     `yaml:"templates"`
}

// envFromEntry is "PATH" or {path: PATH, prefix: P}.
type envFromEntry struct {
	Path   string `yaml:"path"`
	Prefix string `yaml:"prefix"`
}

func (e *envFromEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&e.Path)
	}
	type plain envFromEntry
	return decodeStrict(n, (*plain)(e))
}

// fileItem is "REF[:MODE]" or {ref: REF, mode: "0400"}.
type fileItem struct {
	Ref  string `yaml:"ref"`
	Mode string `yaml:"mode"`
}

func (f *fileItem) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&f.Ref)
	}
	type plain fileItem
	return decodeStrict(n, (*plain)(f))
}

// templateEntry is "IN:OUT" or {source: IN, dest: OUT, mode: "0400"}.
type templateEntry struct {
	Source string `yaml:"source"`
	Dest   string `yaml:"dest"`
	Mode   string `yaml:"mode"`
}

func (t *templateEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		p, err := ParseTemplate(s)
		if err != nil {
			return err
		}
		t.Source, t.Dest = p.Source, p.Dest
		return nil
	}
	type plain templateEntry
	return decodeStrict(n, (*plain)(t))
}

// decodeStrict decodes a mapping node, rejecting unknown keys (Node.Decode
// ignores the decoder's KnownFields setting).
func decodeStrict(n *yaml.Node, out any) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a string or a mapping", n.Line)
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// LoadConfig reads a keyward.yaml file. Template sources in it are
// relative to the file's directory.
func LoadConfig(path string) (Plan, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Plan{}, fmt.Errorf("read config: %w", err)
	}
	p, err := ParseConfig(raw)
	if err != nil {
		return Plan{}, fmt.Errorf("config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i, t := range p.Templates {
		if !filepath.IsAbs(t.Source) {
			p.Templates[i].Source = filepath.Join(dir, t.Source)
		}
	}
	return p, nil
}

// ParseConfig parses the content of a keyward.yaml file. It reports every
// bad entry at once and rejects unknown keys. It never sees a value: the
// file holds references only.
func ParseConfig(data []byte) (Plan, error) {
	var c config
	d := yaml.NewDecoder(bytes.NewReader(data))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Plan{}, fmt.Errorf("parse: %w", err)
	}
	var p Plan
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Env)) {
		e, err := ParseEnv(name + "=" + c.Env[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Env = append(p.Env, e)
	}
	for _, ef := range c.EnvFrom {
		e, err := ParseEnvFrom(ef.Path, ef.Prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.EnvFrom = append(p.EnvFrom, e)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Files)) {
		it := c.Files[name]
		spec := name + "=" + it.Ref
		if it.Mode != "" {
			if !isMode(it.Mode) {
				errs = append(errs, fmt.Errorf("file %s: invalid mode %q: want octal such as 0400", name, it.Mode))
				continue
			}
			spec += ":" + it.Mode
		}
		f, err := ParseFile(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Files = append(p.Files, f)
	}
	for _, te := range c.Templates {
		t, err := ParseTemplate(te.Source + ":" + te.Dest)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if te.Mode != "" {
			m, err := parseMode(te.Mode)
			if err != nil {
				errs = append(errs, fmt.Errorf("template %s: %w", te.Dest, err))
				continue
			}
			t.Mode = m
		}
		p.Templates = append(p.Templates, t)
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}
	return p, nil
}

func parseMode(s string) (os.FileMode, error) {
	if !isMode(s) {
		return 0, fmt.Errorf("invalid mode %q: want octal such as 0400", s)
	}
	m, _ := strconv.ParseUint(s, 8, 32)
	if m&0o400 == 0 {
		return 0, fmt.Errorf("mode %q is not readable by the owner", s)
	}
	return os.FileMode(m), nil
}
