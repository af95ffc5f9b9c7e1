package watch

import (
	"context"
	"fmt"
	"slices"
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
	// AuthRole returns an auth method's role or user at path
	// ("auth/jwt/role/deploy") as its read answers, nil when missing.
	AuthRole(ctx context.Context, path string) (map[string]any, error)
}

// rolePath reports whether a write to e's path changes an auth role or
// user: MOUNT/role/NAME, MOUNT/roles/NAME or MOUNT/users/NAME under auth/.
func rolePath(e *Event) bool {
	if !strings.HasPrefix(e.Mount, "auth/") || e.Mount == "auth/token/" || !strings.HasPrefix(e.Path, e.Mount) {
		return false
	}
	kind, name, ok := strings.Cut(strings.TrimPrefix(e.Path, e.Mount), "/")
	return ok && name != "" && !strings.Contains(name, "/") && (kind == "role" || kind == "roles" || kind == "users")
}

func asList(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return strings.Split(x, ",")
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, i := range x {
			if s, ok := i.(string); ok && s != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	case map[string]any:
		out := make([]string, 0, len(x))
		for k := range x {
			out = append(out, k)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// roleWidening lists what a role's new fields allow that the old did not:
// a bound_* or *bound_cidrs constraint removed (cleared) or loosened (a
// value the old list did not allow; a bound_claims key dropped or given
// more values), and policies added. Bound lists are allowlists: fewer
// entries narrow.
func roleWidening(before, after map[string]any) []string {
	var out []string
	for k, v := range before {
		if !strings.HasPrefix(k, "bound_") && !strings.HasSuffix(k, "bound_cidrs") {
			continue
		}
		old, cur := asList(v), asList(after[k])
		switch {
		case len(old) > 0 && len(cur) == 0:
			out = append(out, k+" removed")
		case len(old) > 0 && !isMap(v) && !subset(cur, old):
			out = append(out, k+" loosened")
		default:
			// A bound_claims map that lost keys, or kept keys with more values.
			if om, ok := v.(map[string]any); ok {
				if cm, ok := after[k].(map[string]any); ok {
					for ck, ov := range om {
						if _, still := cm[ck]; !still {
							out = append(out, k+"."+ck+" removed")
						} else if len(asList(cm[ck])) > len(asList(ov)) {
							out = append(out, k+"."+ck+" widened")
						}
					}
				}
			}
		}
	}
	for _, k := range []string{"token_policies", "policies"} {
		old := map[string]bool{}
		for _, p := range asList(before[k]) {
			old[p] = true
		}
		for _, p := range asList(after[k]) {
			if !old[p] {
				out = append(out, k+" added "+p)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// roleChange judges a write to an auth role or user against the copy the
// engine held (read at its last login or change) and keeps the new one;
// logins cache their role so the first change to a role in use is judged.
func (en *Engine) roleChange(rs *ruleSet, o *observed) *match {
	e := &o.e
	r := rs.rule(RulePolicyWidening)
	if r == nil || en.opts.Inspect == nil || e.Result != ResultOK {
		return nil
	}
	ctx := context.Background()
	if e.Type == TypeLogin && e.Identity.Role != "" && e.Mount != "" {
		if en.roles == nil {
			en.roles = map[string]map[string]any{}
		}
		for _, kind := range []string{"role/", "users/"} {
			p := e.Mount + kind + e.Identity.Role
			if _, ok := en.roles[p]; ok {
				break
			}
			if data, err := en.opts.Inspect.AuthRole(ctx, p); err == nil && data != nil {
				if len(en.roles) >= maxWindows {
					clear(en.roles)
				}
				en.roles[p] = data
				break
			}
		}
		return nil
	}
	if !rolePath(e) || (e.Operation != "create" && e.Operation != "update" && e.Operation != "patch") {
		return nil
	}
	after, err := en.opts.Inspect.AuthRole(ctx, e.Path)
	if err != nil {
		en.opts.Logger.Error("watch: role not read; policy-widening skips this change", "err", err)
		return nil
	}
	if en.roles == nil {
		en.roles = map[string]map[string]any{}
	}
	before, known := en.roles[e.Path]
	en.roles[e.Path] = after
	if !known || after == nil {
		return nil
	}
	found := roleWidening(before, after)
	if len(found) == 0 {
		return nil
	}
	return &match{rule: r, group: "widen|" + e.Path + "|" + who(&e.Identity), summary: "an auth role change widened access",
		evidence: map[string]string{"role": e.Path, "changes": strings.Join(found, "; ")}}
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

func isMap(v any) bool { _, ok := v.(map[string]any); return ok }

// subset reports whether every entry of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
