package report

import (
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/policy"
)

// widen returns p with its templated rules made as broad as any rendering
// could make them: a path segment holding a template becomes "+" (the
// last one, if it ends in "*", becomes "*"), and templated deny rules are
// dropped. The reports ask "could some token read this", so a template is
// read as possibly matching anything, and never as taking access away.
func widen(p *policy.Policy) *policy.Policy {
	out := &policy.Policy{Name: p.Name}
	for _, r := range p.Rules {
		if !strings.Contains(r.Path, "{{") {
			out.Rules = append(out.Rules, r)
			continue
		}
		if r.Capabilities&policy.CapDeny != 0 {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if !strings.Contains(s, "{{") {
				continue
			}
			if i == len(segs)-1 && strings.HasSuffix(s, "*") {
				segs[i] = "*"
				segs = segs[:i+1]
				break
			}
			segs[i] = "+"
		}
		r.Path = strings.Join(segs, "/")
		out.Rules = append(out.Rules, r)
	}
	return out
}

// compiled are the stored policies (root aside), each compiled alone with
// its templates widened; unparseable ones are named in bad.
type compiled struct {
	acls map[string]*policy.ACL
	bad  []string
}

func compilePolicies(texts map[string]string) compiled {
	c := compiled{acls: map[string]*policy.ACL{}}
	for name, text := range texts {
		if name == "root" {
			continue
		}
		p, err := policy.Parse(name, text)
		if err != nil {
			c.bad = append(c.bad, name)
			continue
		}
		acl, err := policy.Compile([]*policy.Policy{widen(p)}, nil)
		if err != nil {
			c.bad = append(c.bad, name)
			continue
		}
		c.acls[name] = acl
	}
	slices.Sort(c.bad)
	return c
}

// readers returns the names of the policies that alone grant read on path.
func (c compiled) readers(path string) []string {
	var out []string
	for name, acl := range c.acls {
		if acl.Check(path, policy.OpRead, nil).Allowed {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// union compiles the named policies together (a token's view), widened;
// ok is false when one is missing or unparseable (it is then left out).
func union(texts map[string]string, names []string) (*policy.ACL, []string) {
	var ps []*policy.Policy
	var missing []string
	for _, n := range names {
		text, ok := texts[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		p, err := policy.Parse(n, text)
		if err != nil {
			missing = append(missing, n)
			continue
		}
		ps = append(ps, widen(p))
	}
	acl, err := policy.Compile(ps, nil)
	if err != nil {
		return nil, names
	}
	return acl, missing
}
