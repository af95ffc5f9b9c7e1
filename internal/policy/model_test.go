package policy_test

import (
	"flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/policy"
)

var long = flag.Bool("long", false, "run the model check with 5x more cases")

// refPerm and the ref* functions are a deliberately naive reference
// evaluator: a linear scan over every merged pattern, Vault's priority
// rules written out literally, and strings.Split for segment matching.
type refPerm struct {
	caps              policy.Capability
	allowed, denied   map[string][]string
	allowedN, deniedN map[string]bool // key present with "any value"
	required          []string
}

func refCompile(ps []*policy.Policy) map[string]*refPerm {
	out := map[string]*refPerm{}
	for _, p := range ps {
		for _, r := range p.Rules {
			m := out[r.Path]
			if m == nil {
				m = &refPerm{allowed: map[string][]string{}, denied: map[string][]string{}, allowedN: map[string]bool{}, deniedN: map[string]bool{}}
				out[r.Path] = m
			}
			if m.caps == policy.CapDeny {
				continue
			}
			if r.Capabilities&policy.CapDeny != 0 {
				*m = refPerm{caps: policy.CapDeny}
				continue
			}
			m.caps |= r.Capabilities
			for k, v := range r.AllowedParameters {
				m.allowedN[k] = m.allowedN[k] || len(v) == 0
				m.allowed[k] = append(m.allowed[k], v...)
			}
			for k, v := range r.DeniedParameters {
				m.deniedN[k] = m.deniedN[k] || len(v) == 0
				m.denied[k] = append(m.denied[k], v...)
			}
			m.required = append(m.required, r.RequiredParameters...)
		}
	}
	return out
}

func refMatch(pattern, path string) bool {
	glob := strings.HasSuffix(pattern, "*")
	wc := strings.TrimSuffix(pattern, "*")
	pp, wp := strings.Split(path, "/"), strings.Split(wc, "/")
	if len(pp) < len(wp) || (len(pp) > len(wp) && !glob) {
		return false
	}
	for i := range wp {
		last := i == len(wp)-1
		if wp[i] != "+" && wp[i] != pp[i] && !(glob && last && strings.HasPrefix(pp[i], wp[i])) {
			return false
		}
	}
	return true
}

// refHigher reports whether pattern a has priority over b (Vault's list).
func refHigher(a, b string) bool {
	firstWC := func(p string) int {
		wc := strings.TrimSuffix(p, "*")
		if i := strings.Index("/"+wc+"/", "/+/"); i >= 0 {
			return i
		}
		return len(wc)
	}
	plus := func(p string) (n int) {
		for _, seg := range strings.Split(strings.TrimSuffix(p, "*"), "/") {
			if seg == "+" {
				n++
			}
		}
		return n
	}
	switch {
	case firstWC(a) != firstWC(b):
		return firstWC(a) > firstWC(b)
	case strings.HasSuffix(a, "*") != strings.HasSuffix(b, "*"):
		return strings.HasSuffix(b, "*")
	case plus(a) != plus(b):
		return plus(a) < plus(b)
	case len(strings.TrimSuffix(a, "*")) != len(strings.TrimSuffix(b, "*")):
		return len(strings.TrimSuffix(a, "*")) > len(strings.TrimSuffix(b, "*"))
	}
	return strings.TrimSuffix(a, "*") > strings.TrimSuffix(b, "*")
}

func refCheck(rules map[string]*refPerm, path string, op policy.Operation, params map[string]any) (allowed bool, caps policy.Capability) {
	if op == policy.OpList && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	m, ok := rules[path]
	if !ok && op == policy.OpList {
		m, ok = rules[strings.TrimSuffix(path, "/")]
	}
	if !ok {
		best := ""
		for pat, p := range rules {
			isWild := strings.HasSuffix(pat, "*") || slices.Contains(strings.Split(pat, "/"), "+")
			if isWild && refMatch(pat, path) && (m == nil || refHigher(pat, best)) {
				m, best = p, pat
			}
		}
	}
	if m == nil {
		return false, 0
	}
	if m.caps&policy.CapDeny != 0 || m.caps&map[policy.Operation]policy.Capability{
		policy.OpCreate: policy.CapCreate, policy.OpRead: policy.CapRead, policy.OpUpdate: policy.CapUpdate,
		policy.OpPatch: policy.CapPatch, policy.OpDelete: policy.CapDelete, policy.OpList: policy.CapList}[op] == 0 {
		return false, m.caps
	}
	if op == policy.OpDelete || op == policy.OpList {
		return true, m.caps
	}
	for _, r := range m.required {
		if _, ok := params[r]; !ok {
			return false, m.caps
		}
	}
	inList := func(v any, list []string) bool { s, ok := v.(string); return ok && slices.Contains(list, s) }
	_, denyAll := m.denied["*"]
	for k, v := range params {
		if denyAll || m.deniedN[k] || inList(v, m.denied[k]) {
			return false, m.caps
		}
	}
	_, allowAll := m.allowed["*"]
	if len(m.allowed) == 0 || (len(m.allowed) == 1 && allowAll) {
		return true, m.caps
	}
	for k, v := range params {
		if _, listed := m.allowed[k]; !listed && !allowAll {
			return false, m.caps
		} else if listed && !m.allowedN[k] && !inList(v, m.allowed[k]) {
			return false, m.caps
		}
	}
	return true, m.caps
}

func randPattern(r *rand.Rand) string {
	segs := []string{"a", "b", "ab", "+"}
	n := 1 + r.IntN(4)
	var parts []string
	for range n {
		parts = append(parts, segs[r.IntN(len(segs))])
	}
	p := strings.Join(parts, "/")
	switch r.IntN(4) {
	case 0:
		p += "/*"
	case 1:
		p += "*"
	}
	return p
}

func randPath(r *rand.Rand) string {
	segs := []string{"a", "b", "ab", "abc", "ba"}
	n := 1 + r.IntN(5)
	var parts []string
	for range n {
		parts = append(parts, segs[r.IntN(len(segs))])
	}
	p := strings.Join(parts, "/")
	if r.IntN(5) == 0 {
		p += "/"
	}
	return p
}

func randPolicies(r *rand.Rand) []*policy.Policy {
	vals := []string{"v", "w", "x"}
	var ps []*policy.Policy
	for i := range 1 + r.IntN(4) {
		p := &policy.Policy{Name: "p" + strconv.Itoa(i)}
		for range 1 + r.IntN(10) {
			rule := policy.Rule{Path: randPattern(r), Capabilities: policy.Capability(r.IntN(256))}
			if r.IntN(8) != 0 {
				rule.Capabilities &^= policy.CapDeny
			} else {
				rule.Capabilities = policy.CapDeny
			}
			if r.IntN(5) == 0 {
				rule.AllowedParameters = map[string][]string{"k": vals[:r.IntN(3)]}
				if r.IntN(3) == 0 {
					rule.AllowedParameters["*"] = nil
				}
			}
			if r.IntN(5) == 0 {
				rule.DeniedParameters = map[string][]string{[]string{"k", "j", "*"}[r.IntN(3)]: vals[:r.IntN(3)]}
			}
			if r.IntN(10) == 0 {
				rule.RequiredParameters = []string{"j"}
			}
			p.Rules = append(p.Rules, rule)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestModelCheck is T12: the compiled ACL agrees with the naive reference
// evaluator on random policy sets and random paths.
func TestModelCheck(t *testing.T) {
	sets, perSet := 2000, 100
	if *long {
		sets *= 5
	}
	if testing.Short() {
		sets = 200
	}
	r := rand.New(rand.NewPCG(12, 34))
	ops := []policy.Operation{policy.OpCreate, policy.OpRead, policy.OpUpdate, policy.OpPatch, policy.OpDelete, policy.OpList}
	paramSets := []map[string]any{nil, {"k": "v"}, {"k": "w"}, {"j": "v"}, {"k": "x", "j": "w"}, {"z": "v"}}
	var disagreements, allowed int
	for range sets {
		ps := randPolicies(r)
		acl, err := policy.Compile(ps, nil)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		ref := refCompile(ps)
		for range perSet {
			path, op, params := randPath(r), ops[r.IntN(len(ops))], paramSets[r.IntN(len(paramSets))]
			wantAllowed, wantCaps := refCheck(ref, path, op, params)
			d := acl.Check(path, op, params)
			if wantAllowed {
				allowed++
			}
			if d.Allowed != wantAllowed || d.Capabilities != wantCaps || d.Sudo != (wantCaps&policy.CapSudo != 0 && wantCaps&policy.CapDeny == 0) {
				disagreements++
				if disagreements <= 5 {
					var b strings.Builder
					for _, p := range ps {
						b.WriteString(p.Format())
					}
					t.Errorf("Check(%q, %s, %v) = %+v; reference allowed=%v caps=%v\npolicies:\n%s", path, op, params, d, wantAllowed, wantCaps, b.String())
				}
			}
		}
	}
	if disagreements > 0 {
		t.Fatalf("%d disagreements in %d cases", disagreements, sets*perSet)
	}
	if allowed == 0 || allowed == sets*perSet {
		t.Fatalf("degenerate model check: %d of %d cases allowed", allowed, sets*perSet)
	}
	t.Logf("%d cases, %d allowed", sets*perSet, allowed)
}
