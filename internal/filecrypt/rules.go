package filecrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"gopkg.in/yaml.v3"
)

// RulesFile is the name of the creation rules file, looked up from a
// file's directory towards the root.
const RulesFile = ".keyward-encrypt.yaml"

// Rules are the creation rules of one RulesFile.
type Rules struct {
	// Dir is the directory of the rules file; path_regex matches paths
	// relative to it, with forward slashes.
	Dir   string
	Rules []Rule
}

// Rule says how files whose path matches PathRegex are encrypted. Key
// groups are given as key_groups, or as age/transit on the rule itself
// (one group).
type Rule struct {
	PathRegex         string         `yaml:"path_regex"`
	EncryptedRegex    string         `yaml:"encrypted_regex"`
	UnencryptedSuffix string         `yaml:"unencrypted_suffix"`
	ShamirThreshold   int            `yaml:"shamir_threshold"`
	KeyGroups         []ruleGroup    `yaml:"key_groups"`
	Age               []string       `yaml:"age"`
	Transit           []ruleTransit  `yaml:"transit"`
	re                *regexp.Regexp `yaml:"-"`
}

type ruleGroup struct {
	Age     []string      `yaml:"age"`
	Transit []ruleTransit `yaml:"transit"`
}

type ruleTransit struct {
	Address string `yaml:"address"`
	Mount   string `yaml:"mount"`
	Key     string `yaml:"key"`
}

func (g ruleGroup) group() Group {
	var out Group
	for _, t := range g.Transit {
		out.Transit = append(out.Transit, TransitKey{Address: t.Address, Mount: t.Mount, Key: t.Key})
	}
	for _, a := range g.Age {
		out.Age = append(out.Age, AgeKey{Recipient: a})
	}
	return out
}

// ParseRules parses a rules file's contents, reporting every problem.
func ParseRules(data []byte) ([]Rule, error) {
	var f struct {
		CreationRules []Rule `yaml:"creation_rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", RulesFile, err)
	}
	var errs []error
	for i := range f.CreationRules {
		r := &f.CreationRules[i]
		re, err := regexp.Compile(r.PathRegex)
		if err != nil {
			errs = append(errs, fmt.Errorf("creation rule %d: path_regex: %w", i+1, err))
		}
		r.re = re
		if r.EncryptedRegex != "" {
			if _, err := regexp.Compile(r.EncryptedRegex); err != nil {
				errs = append(errs, fmt.Errorf("creation rule %d: encrypted_regex: %w", i+1, err))
			}
		}
		if len(r.KeyGroups) > 0 && len(r.Age)+len(r.Transit) > 0 {
			errs = append(errs, fmt.Errorf("creation rule %d: give key_groups or age/transit, not both", i+1))
		}
		for _, g := range append(r.KeyGroups, ruleGroup{Transit: r.Transit}) {
			for _, t := range g.Transit {
				if t.Address == "" || t.Key == "" {
					errs = append(errs, fmt.Errorf("creation rule %d: a transit key needs address and key", i+1))
				}
			}
		}
		if n := len(r.groups()); r.ShamirThreshold > n || r.ShamirThreshold < 0 {
			errs = append(errs, fmt.Errorf("creation rule %d: shamir_threshold %d does not fit %d key group(s)", i+1, r.ShamirThreshold, n))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", RulesFile, errors.Join(errs...))
	}
	return f.CreationRules, nil
}

func (r Rule) groups() []Group {
	if len(r.KeyGroups) > 0 {
		out := make([]Group, len(r.KeyGroups))
		for i, g := range r.KeyGroups {
			out[i] = g.group()
		}
		return out
	}
	if len(r.Age)+len(r.Transit) == 0 {
		return nil
	}
	return []Group{ruleGroup{Age: r.Age, Transit: r.Transit}.group()}
}

// Settings turns the rule into encryption settings.
func (r Rule) Settings() Settings {
	return Settings{Groups: r.groups(), Threshold: r.ShamirThreshold, EncryptedRegex: r.EncryptedRegex, UnencryptedSuffix: r.UnencryptedSuffix}
}

// FindRules looks for RulesFile in dir and its parents. It returns nil,
// nil when there is none.
func FindRules(dir string) (*Rules, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for {
		p := filepath.Join(dir, RulesFile)
		data, err := os.ReadFile(p)
		if err == nil {
			rules, err := ParseRules(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			return &Rules{Dir: dir, Rules: rules}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, nil
		}
		dir = parent
	}
}

// For returns the first rule whose path_regex matches file (relative to
// the rules' directory), or false.
func (rs *Rules) For(file string) (Rule, bool) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return Rule{}, false
	}
	rel, err := filepath.Rel(rs.Dir, abs)
	if err != nil {
		return Rule{}, false
	}
	rel = filepath.ToSlash(rel)
	for _, r := range rs.Rules {
		if r.re != nil && r.re.MatchString(rel) {
			return r, true
		}
	}
	return Rule{}, false
}
