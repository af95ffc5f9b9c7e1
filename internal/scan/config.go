package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// Allowlist suppresses findings by path glob, by a regular expression
// matched against the secret, or by exact secret value.
type Allowlist struct {
	Paths   []string
	Regexes []*regexp.Regexp
	Values  []string
}

func (a Allowlist) allowsSecret(s string) bool {
	for _, v := range a.Values {
		if v == s {
			return true
		}
	}
	for _, re := range a.Regexes {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// AllowsPath reports whether p (slash-separated, relative) matches one of
// the path globs.
func (a Allowlist) AllowsPath(p string) bool {
	for _, g := range a.Paths {
		if globMatch(g, p) {
			return true
		}
	}
	return false
}

// globMatch matches slash paths against a glob with *, ?, [...] and **.
// A pattern without a slash matches the base name at any depth. It follows
// .gitignore-style path globs, which is what users write in a scan
// configuration; it decides what is scanned, never what is allowed.
func globMatch(pattern, p string) bool {
	p = strings.TrimPrefix(filepath.ToSlash(p), "./")
	if !strings.Contains(pattern, "/") {
		ok, _ := path.Match(pattern, path.Base(p))
		return ok
	}
	re, err := globRegexp(strings.TrimPrefix(pattern, "/"))
	if err != nil {
		return false
	}
	return re.MatchString(p)
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
				if i+1 < len(pattern) && pattern[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			cls := pattern[i+1 : i+j]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(cls, `\`, `\\`) + "]")
			i += j
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("(?:/.*)?$")
	return regexp.Compile(b.String())
}

// Config is a rules file: custom rules, overrides of built-in rules,
// disabled rules and a global allowlist. Keys are the same in TOML and YAML.
type Config struct {
	// Disable lists rule IDs to turn off.
	Disable []string `toml:"disable" yaml:"disable"`
	// NoBuiltin starts from an empty ruleset instead of the built-in one.
	NoBuiltin bool         `toml:"no_builtin" yaml:"no_builtin"`
	Rules     []RuleConfig `toml:"rules" yaml:"rules"`
	Allow     AllowConfig  `toml:"allow" yaml:"allow"`
}

// RuleConfig adds a rule, or overrides fields of the built-in rule with
// the same ID (a built-in keeps its pattern unless Regex is set).
type RuleConfig struct {
	ID          string      `toml:"id" yaml:"id"`
	Description string      `toml:"description" yaml:"description"`
	Severity    string      `toml:"severity" yaml:"severity"`
	Confidence  string      `toml:"confidence" yaml:"confidence"`
	Keywords    []string    `toml:"keywords" yaml:"keywords"`
	Regex       string      `toml:"regex" yaml:"regex"`
	SecretGroup string      `toml:"secret_group" yaml:"secret_group"`
	Entropy     *float64    `toml:"entropy" yaml:"entropy"`
	Multiline   bool        `toml:"multiline" yaml:"multiline"`
	Allow       AllowConfig `toml:"allow" yaml:"allow"`
}

// AllowConfig is the file form of an Allowlist.
type AllowConfig struct {
	Paths   []string `toml:"paths" yaml:"paths"`
	Regexes []string `toml:"regexes" yaml:"regexes"`
	Values  []string `toml:"values" yaml:"values"`
}

func (a AllowConfig) compile(where string) (Allowlist, error) {
	out := Allowlist{Paths: a.Paths, Values: a.Values}
	var errs []error
	for i, r := range a.Regexes {
		re, err := regexp.Compile(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: allow regex %d: %w", where, i+1, err))
			continue
		}
		out.Regexes = append(out.Regexes, re)
	}
	for i, g := range a.Paths {
		if _, err := globRegexp(g); err != nil {
			errs = append(errs, fmt.Errorf("%s: allow path %d: %w", where, i+1, err))
		}
	}
	return out, errors.Join(errs...)
}

// LoadConfig reads a rules file; the format follows the extension (.toml,
// .yaml or .yml).
func LoadConfig(name string) (*Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	format := "toml"
	if ext := strings.ToLower(filepath.Ext(name)); ext == ".yaml" || ext == ".yml" {
		format = "yaml"
	}
	c, err := ParseConfig(b, format)
	if err != nil {
		return nil, fmt.Errorf("rules file %s: %w", name, err)
	}
	return c, nil
}

// ParseConfig parses a rules file in format "toml" or "yaml". Unknown keys
// are errors so typos don't silently disable protection.
func ParseConfig(b []byte, format string) (*Config, error) {
	var c Config
	switch format {
	case "toml":
		md, err := toml.Decode(string(b), &c)
		if err != nil {
			return nil, fmt.Errorf("parse toml: %w", err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			return nil, fmt.Errorf("unknown key %q", u[0].String())
		}
	case "yaml":
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parse yaml: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown rules format %q", format)
	}
	return &c, nil
}

// Build returns the ruleset and global allowlist the config describes.
func (c *Config) Build() ([]*Rule, Allowlist, error) {
	var errs []error
	var rules []*Rule
	byID := map[string]*Rule{}
	if c == nil {
		c = &Config{}
	}
	if !c.NoBuiltin {
		for _, r := range BuiltinRules() {
			rules = append(rules, r)
			byID[r.ID] = r
		}
	}
	for i, rc := range c.Rules {
		where := fmt.Sprintf("rule %d (%s)", i+1, rc.ID)
		if rc.ID == "" {
			errs = append(errs, fmt.Errorf("rule %d: missing id", i+1))
			continue
		}
		r, exists := byID[rc.ID]
		if !exists {
			if rc.Regex == "" {
				errs = append(errs, fmt.Errorf("%s: missing regex", where))
				continue
			}
			r = &Rule{ID: rc.ID, Severity: SeverityHigh, MinEntropy: 0}
			rules = append(rules, r)
			byID[rc.ID] = r
		}
		if rc.Description != "" {
			r.Description = rc.Description
		}
		if r.Description == "" {
			r.Description = rc.ID
		}
		if rc.Severity != "" {
			s, err := ParseSeverity(rc.Severity)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			r.Severity = s
		}
		if rc.Confidence != "" {
			c, err := ParseConfidence(rc.Confidence)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			r.Confidence = c
		}
		if len(rc.Keywords) > 0 {
			r.Keywords = append([]string(nil), rc.Keywords...)
		}
		if rc.Regex != "" {
			re, err := regexp.Compile(rc.Regex)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: regex: %w", where, err))
				continue
			}
			if rc.SecretGroup != "" && re.SubexpIndex(rc.SecretGroup) < 0 {
				errs = append(errs, fmt.Errorf("%s: regex has no group %q", where, rc.SecretGroup))
			}
			r.Pattern, r.detect, r.validate, r.src, r.anchored, r.derivedFrom = re, nil, nil, "", false, ""
			if len(r.Keywords) == 0 {
				if lit, _ := re.LiteralPrefix(); len(lit) >= 3 {
					r.Keywords = []string{lit}
				} else {
					errs = append(errs, fmt.Errorf("%s: keywords are required when the regex has no literal prefix", where))
				}
			}
		}
		if rc.Entropy != nil {
			r.MinEntropy = *rc.Entropy
		}
		if rc.Multiline {
			r.Multiline = true
		}
		al, err := rc.Allow.compile(where)
		if err != nil {
			errs = append(errs, err)
		}
		r.Allow.Paths = append(r.Allow.Paths, al.Paths...)
		r.Allow.Regexes = append(r.Allow.Regexes, al.Regexes...)
		r.Allow.Values = append(r.Allow.Values, al.Values...)
	}
	disabled := map[string]bool{}
	for _, id := range c.Disable {
		if _, ok := byID[id]; !ok {
			errs = append(errs, fmt.Errorf("disable: unknown rule %q", id))
		}
		disabled[id] = true
	}
	kept := rules[:0]
	for _, r := range rules {
		if !disabled[r.ID] {
			kept = append(kept, r)
		}
	}
	allow, err := c.Allow.compile("allow")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, Allowlist{}, err
	}
	return kept, allow, nil
}
