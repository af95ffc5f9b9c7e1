package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Environments labels path prefixes with environment names ("prod",
// "staging"). A prefix covers itself and every path below it
// ("secret/data/prod" covers "secret/data/prod/db" but not
// "secret/data/production"); the longest covering prefix wins. It is
// immutable and safe for concurrent use; the zero value labels nothing.
type Environments struct {
	prefixes []string // without trailing "/", longest first
	names    []string
}

// NewEnvironments builds a table from prefix → environment name. Names
// must be non-empty and use the characters of a policy name.
func NewEnvironments(labels map[string]string) (*Environments, error) {
	e := &Environments{}
	for _, k := range sortedKeys(labels) {
		name := labels[k]
		if err := ValidEnvironment(name); err != nil {
			return nil, err
		}
		p := strings.TrimSuffix(strings.TrimPrefix(k, "/"), "/")
		if p == "" || !isCleanPath(p) || strings.ContainsAny(p, "*+{}") {
			return nil, fmt.Errorf("environment prefix %s: not a plain path", quoteShort(k))
		}
		if slices.Contains(e.prefixes, p) {
			return nil, fmt.Errorf("environment prefix %s given twice", quoteShort(k))
		}
		e.prefixes = append(e.prefixes, p)
		e.names = append(e.names, name)
	}
	// Longest first, so the first covering prefix is the most specific.
	idx := make([]int, len(e.prefixes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return len(e.prefixes[b]) - len(e.prefixes[a]) })
	ps, ns := make([]string, len(idx)), make([]string, len(idx))
	for i, j := range idx {
		ps[i], ns[i] = e.prefixes[j], e.names[j]
	}
	e.prefixes, e.names = ps, ns
	return e, nil
}

// ValidEnvironment checks an environment name: 1 to 64 characters of
// a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
func ValidEnvironment(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("environment name must be 1 to 64 characters")
	}
	if err := ValidName(name); err != nil {
		return fmt.Errorf("environment name %s: only a-z, 0-9, '.', '_' and '-' allowed", quoteShort(name))
	}
	return nil
}

// Lookup returns the environment of path, "" when no prefix covers it.
// It does not allocate.
func (e *Environments) Lookup(path string) string {
	if e == nil {
		return ""
	}
	for i, p := range e.prefixes {
		if strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/') {
			return e.names[i]
		}
	}
	return ""
}

// Labels returns the table as prefix → environment.
func (e *Environments) Labels() map[string]string {
	out := map[string]string{}
	if e != nil {
		for i, p := range e.prefixes {
			out[p] = e.names[i]
		}
	}
	return out
}

// IsProduction reports whether an environment name means production:
// "prod", "production", or one starting with "prod-" or "prod.".
func IsProduction(env string) bool {
	return env == "prod" || env == "production" || strings.HasPrefix(env, "prod-") || strings.HasPrefix(env, "prod.") ||
		strings.HasPrefix(env, "production-")
}

// LintEnvironments returns a warning for every rule of p that grants read
// (or list) on a path some production prefix of envs covers without a
// condition pinning the caller to that environment (environment_match, or
// environments / an "environment" claim listing production environments
// only), so a non-production identity holding the policy could read
// production secrets.
func LintEnvironments(p *Policy, envs *Environments) []string {
	if p == nil || envs == nil {
		return nil
	}
	var out []string
	for _, r := range p.Rules {
		if r.Capabilities&(CapRead|CapList) == 0 || r.Capabilities&CapDeny != 0 {
			continue
		}
		for i, prefix := range envs.prefixes {
			env := envs.names[i]
			if !IsProduction(env) || !patternOverlaps(r.Path, prefix) {
				continue
			}
			if pinnedToProduction(r.Conditions) {
				continue
			}
			out = append(out, fmt.Sprintf("policy %s: path %s grants %s on %s (environment %s) to any environment: add condition { environment_match = true }",
				quoteShort(p.Name), quoteShort(r.Path), (r.Capabilities&(CapRead|CapList)).String(), quoteShort(prefix), quoteShort(env)))
		}
	}
	return out
}

// pinnedToProduction reports whether every condition block requires a
// production caller.
func pinnedToProduction(conds []Condition) bool {
	if len(conds) == 0 {
		return false
	}
	for _, c := range conds {
		ok := c.EnvironmentMatch
		if !ok && len(c.Environments) > 0 {
			ok = true
			for _, e := range c.Environments {
				ok = ok && IsProduction(e)
			}
		}
		if vals, has := c.Claims["environment"]; !ok && has {
			ok = true
			for _, e := range vals {
				ok = ok && IsProduction(e) && !strings.Contains(e, "*")
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// patternOverlaps reports whether the pattern can match some path at or
// under prefix.
func patternOverlaps(pattern, prefix string) bool {
	pat := strings.Split(pattern, "/")
	for i, ps := range strings.Split(prefix, "/") {
		if i >= len(pat) {
			return false
		}
		s := pat[i]
		if strings.Contains(s, "{{") {
			return true // a template may render to anything here
		}
		if i == len(pat)-1 && strings.HasSuffix(s, "*") {
			return strings.HasPrefix(ps, s[:len(s)-1])
		}
		if s != "+" && s != ps {
			return false
		}
	}
	return true
}
