package watch

import (
	"context"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/policy"
)

// RulePolicyWidening is the detector of policy changes that widen access.
const RulePolicyWidening = "policy-widening"

// Inspector reads the objects that grant access, so a change can be
// compared before and after: events carry no request data. The node
// implements it through the core's policy store.
type Inspector interface {
	// ACLPolicies returns every ACL policy's text by name.
	ACLPolicies(ctx context.Context) (map[string]string, error)
}

// policyName is the ACL policy a write to path changes ("" when none):
// sys/policies/acl/NAME or sys/policy/NAME.
func policyName(path string) string {
	for _, p := range []string{"sys/policies/acl/", "sys/policy/"} {
		if name, ok := strings.CutPrefix(path, p); ok && name != "" && !strings.Contains(name, "/") {
			return strings.ToLower(name)
		}
	}
	return ""
}

// widening lists what the policy after grants that before did not: sudo
// on a path, a new glob path ("*" or "+"), capabilities added to a path,
// and deny rules removed. Unparseable text counts as granting nothing.
func widening(before, after string) []string {
	caps := func(text string) map[string]policy.Capability {
		m := map[string]policy.Capability{}
		if text == "" {
			return m
		}
		p, err := policy.Parse("x", text)
		if err != nil {
			return m
		}
		for _, r := range p.Rules {
			m[r.Path] |= r.Capabilities
		}
		return m
	}
	b, a := caps(before), caps(after)
	var out []string
	for path, c := range a {
		old, had := b[path]
		switch {
		case c&policy.CapDeny != 0:
		case c&policy.CapSudo != 0 && old&policy.CapSudo == 0:
			out = append(out, "sudo granted on "+path)
		case !had && strings.ContainsAny(path, "*+"):
			out = append(out, "glob path granted: "+path)
		case had && old&policy.CapDeny == 0 && c&^old != 0:
			out = append(out, "capabilities added on "+path+": "+strings.Join((c&^old).Strings(), ","))
		}
	}
	for path, c := range b {
		if c&policy.CapDeny != 0 && a[path]&policy.CapDeny == 0 {
			out = append(out, "deny removed on "+path)
		}
	}
	sort.Strings(out)
	return out
}

// policyChange judges a successful write to an ACL policy: it compares
// the policy with the copy the engine held and keeps the new one.
func (en *Engine) policyChange(rs *ruleSet, o *observed) *match {
	e := &o.e
	r := rs.rule(RulePolicyWidening)
	name := policyName(e.Path)
	if r == nil || name == "" || en.opts.Inspect == nil || e.Result != ResultOK {
		return nil
	}
	ctx := context.Background()
	if en.policies == nil {
		// First change since unseal: the snapshot is taken now, after the
		// write, so this one change is judged against an empty policy
		// when it created the policy, and not at all when it updated one.
		all, err := en.opts.Inspect.ACLPolicies(ctx)
		if err != nil {
			en.opts.Logger.Error("watch: policies not read; policy-widening skips this change", "err", err)
			return nil
		}
		en.policies = all
		if e.Operation != "create" {
			return nil
		}
		en.policies[name] = ""
	}
	all, err := en.opts.Inspect.ACLPolicies(ctx)
	if err != nil {
		en.opts.Logger.Error("watch: policies not read; policy-widening skips this change", "err", err)
		return nil
	}
	before, after := en.policies[name], all[name]
	en.policies = all
	found := widening(before, after)
	if len(found) == 0 {
		return nil
	}
	ev := map[string]string{"policy": name, "path": e.Path, "changes": strings.Join(found, "; ")}
	return &match{rule: r, group: "widen|" + name + "|" + who(&e.Identity), summary: "a policy change widened access", evidence: ev}
}
