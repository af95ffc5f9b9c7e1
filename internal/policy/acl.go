package policy

import (
	"slices"
	"strings"
	"time"
)

// perms is the merged permission set of one path pattern.
type perms struct {
	caps     Capability
	allowed  map[string][]string
	denied   map[string][]string
	required []string
	minWrap  time.Duration
	maxWrap  time.Duration
	// conds holds the capabilities granted only under conditions; nil for
	// a pattern without conditional rules, which Check then never visits.
	conds []condGrant
	mfa   []string // sorted MFA method names (mfa.go)
	// sources are the rules merged into this pattern, for Explain.
	sources []ruleSource
	pattern string // the rendered pattern
	// cg is the merged control group of the pattern's rules, or nil.
	cg *ControlGroup
}

// condGrant is one conditional rule: caps are granted when any of conds
// holds. set holds the rule's parameter constraints and wrapping bounds,
// which apply only while it grants (perms.forRequest): a rule whose
// condition fails is as if absent, so it cannot loosen another rule's.
type condGrant struct {
	caps  Capability
	conds []*condition
	set   *perms // nil when the rule sets none
}

// hasSettings reports whether r constrains parameters or wrapping.
func hasSettings(r *Rule) bool {
	return r.MinWrappingTTL > 0 || r.MaxWrappingTTL > 0 || len(r.AllowedParameters) > 0 ||
		len(r.DeniedParameters) > 0 || len(r.RequiredParameters) > 0
}

// holds reports whether one of g's conditions holds for rc.
func (g *condGrant) holds(rc *RequestContext) bool {
	for _, c := range g.conds {
		if ok, _ := c.eval(rc); ok {
			return true
		}
	}
	return false
}

// forRequest returns the capabilities p grants for rc and the perms whose
// parameter constraints and wrapping bounds apply: p itself (the
// unconditional rules' settings) unless a conditional rule that holds sets
// some, then a copy merging those in. Without such rules it does not
// allocate.
func (p *perms) forRequest(rc *RequestContext) (Capability, *perms) {
	if p.conds == nil {
		return p.caps, p
	}
	caps, rule := p.caps, p
	for i := range p.conds {
		g := &p.conds[i]
		if (g.caps&^caps == 0 && g.set == nil) || !g.holds(rc) {
			continue
		}
		caps |= g.caps
		if g.set != nil {
			if rule == p {
				rule = p.cloneSettings()
			}
			rule.mergeSettings(g.set)
		}
	}
	return caps, rule
}

// cloneSettings copies p with parameter maps it may merge into.
func (p *perms) cloneSettings() *perms {
	q := *p
	q.allowed = cloneParams(p.allowed)
	q.denied = cloneParams(p.denied)
	q.required = slices.Clone(p.required)
	return &q
}

func cloneParams(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// ruleSource records one rule merged into a pattern.
type ruleSource struct {
	policy  string
	pattern string // as written, before templating
	caps    Capability
	conds   []*condition
}

// effective returns the capabilities p grants for rc: the unconditional
// ones plus those of every conditional rule with a condition that holds.
// It does not allocate.
func (p *perms) effective(rc *RequestContext) Capability {
	caps := p.caps
	for i := range p.conds {
		g := &p.conds[i]
		if g.caps&^caps == 0 {
			continue // adds nothing: skip evaluating
		}
		for _, c := range g.conds {
			if ok, _ := c.eval(rc); ok {
				caps |= g.caps
				break
			}
		}
	}
	return caps
}

// possible returns the capabilities p could grant if every condition held.
func (p *perms) possible() Capability {
	caps := p.caps
	for _, g := range p.conds {
		caps |= g.caps
	}
	return caps
}

// segRule is a compiled pattern containing "+" segments.
type segRule struct {
	key   ruleKey
	parts []string
	perm  *perms
}

// ACL is a compiled set of policies. It is immutable and safe for
// concurrent use.
type ACL struct {
	// granting holds the patterns (after templating) whose rule grants
	// something other than deny, for HasAccessUnder.
	granting []string
	exact    map[string]*perms
	prefix   rnode // patterns ending in "*" without "+"; keyed without "*"
	segs     rnode // patterns with "+"; keyed by the text before the first "+"
	// anyCG is set when some rule has a control group, so ControlGroup
	// costs nothing for the (usual) ACL without one.
	anyCG bool
}

// Decision is the outcome of an ACL check.
type Decision struct {
	// Allowed is true when the matching rule grants the operation and the
	// request's parameters satisfy its constraints.
	Allowed bool
	// Sudo is true when the matching rule grants sudo. Endpoints that
	// need sudo must check it in addition to Allowed.
	Sudo bool
	// Capabilities of the matching rule (CapDeny alone for a deny rule,
	// 0 when no rule matched).
	Capabilities Capability
	// DeniedParam names the parameter that caused a denial, if any
	// ("*" when all parameters are denied). It never holds a value.
	DeniedParam string
	// Conditional is true when the matching rule grants some capability
	// only under conditions, so the decision depends on the request
	// context.
	Conditional bool
	// MFAMethods are the MFA method names the request must pass (the
	// union of the matching rules' mfa_methods); shared, read only.
	MFAMethods []string
	// ControlGroup is the control group of the matching rule when the
	// request is allowed: the caller must hold the request for approval
	// (nil for almost every rule). It is shared: do not modify it.
	ControlGroup *ControlGroup
}

// Compile merges the rules of policies into an ACL, Vault style: rules for
// the same (rendered) pattern are unioned, and a deny on a pattern wipes
// every other capability for it; allowed and denied parameter values are
// unioned, an empty value list (any value) winning; required parameters
// are unioned; the smallest minimum and largest maximum wrapping TTL win.
//
// Templated patterns are rendered with ident. A rule whose template cannot
// be resolved, or resolves to an unsafe value (empty, ".", "..", or
// containing "*", "+", "/", "..", ",", "{", "}", "\" or control
// characters), is dropped, so rendering never broadens access. With a nil
// ident every templated rule is dropped.
//
// Compile never grants root: the caller treats a token whose policy list is
// exactly ["root"] as root and does not consult an ACL for it.
func Compile(policies []*Policy, ident *Identity) (*ACL, error) {
	merged := map[string]*perms{}
	var order []string
	for _, p := range policies {
		if p == nil {
			continue
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			path, ok, err := render(r.Path, ident, "")
			if err != nil {
				return nil, &ParseError{Msg: "policy " + quoteShort(p.Name) + ": path " + quoteShort(r.Path) + ": " + err.Error()}
			}
			if !ok {
				continue
			}
			if err := validatePattern(path); err != nil {
				if r.Path == path {
					return nil, &ParseError{Msg: "policy " + quoteShort(p.Name) + ": path " + quoteShort(r.Path) + ": " + err.Error()}
				}
				continue // a rendered value made the pattern invalid: drop
			}
			cur, seen := merged[path]
			if !seen {
				cur = &perms{pattern: path}
				merged[path] = cur
				order = append(order, path)
			}
			var conds []*condition
			for j := range r.Conditions {
				c, err := compileCondition(&r.Conditions[j])
				if err != nil {
					return nil, &ParseError{Msg: "policy " + quoteShort(p.Name) + ": path " + quoteShort(r.Path) + ": condition: " + err.Error()}
				}
				conds = append(conds, c)
			}
			cur.merge(r, conds)
			cur.sources = append(cur.sources, ruleSource{policy: p.Name, pattern: r.Path, caps: r.Capabilities, conds: conds})
		}
	}
	a := &ACL{exact: map[string]*perms{}}
	for _, path := range order {
		perm := merged[path]
		if perm.possible() != 0 && perm.caps&CapDeny == 0 {
			a.granting = append(a.granting, path)
		}
		if perm.cg != nil {
			a.anyCG = true
		}
		k := newRuleKey(path)
		switch {
		case k.plus > 0:
			n := a.segs.insert(k.wc[:k.first])
			r := &segRule{key: k, parts: strings.Split(k.wc, "/"), perm: perm}
			if next := strings.Count(k.wc[:k.first], "/") + 1; next < len(r.parts) && r.parts[next] != "+" &&
				!(k.glob && next == len(r.parts)-1) {
				if n.segNext == nil {
					n.segNext = map[string][]*segRule{}
				}
				n.segNext[r.parts[next]] = append(n.segNext[r.parts[next]], r)
			} else {
				n.segs = append(n.segs, r)
			}
		case k.glob:
			a.prefix.insert(k.wc).perm = perm
		default:
			a.exact[path] = perm
		}
	}
	sortSegs(&a.segs)
	return a, nil
}

func sortSegs(n *rnode) {
	byPriority := func(x, y *segRule) int {
		switch {
		case x.key.higher(&y.key):
			return -1
		case y.key.higher(&x.key):
			return 1
		}
		return 0
	}
	slices.SortFunc(n.segs, byPriority)
	for _, rules := range n.segNext {
		slices.SortFunc(rules, byPriority)
	}
	for _, c := range n.children {
		sortSegs(c)
	}
}

// merge folds rule r, with its compiled conditions, into p following
// Vault's merge rules; a conditional rule's capabilities are kept apart,
// its other settings merge like any rule's.
func (p *perms) merge(r *Rule, conds []*condition) {
	if p.caps&CapDeny != 0 {
		return
	}
	if r.Capabilities&CapDeny != 0 {
		*p = perms{caps: CapDeny, sources: p.sources, pattern: p.pattern}
		return
	}
	// Control groups and MFA requirements only restrict: they merge
	// whatever a rule's conditions say.
	p.cg = mergeControlGroup(p.cg, r.ControlGroup)
	p.mergeMFA(r.MFAMethods)
	set := &perms{minWrap: r.MinWrappingTTL, maxWrap: r.MaxWrappingTTL,
		allowed: r.AllowedParameters, denied: r.DeniedParameters, required: r.RequiredParameters}
	if len(conds) > 0 {
		g := condGrant{caps: r.Capabilities, conds: conds}
		if hasSettings(r) {
			g.set = set.cloneSettings()
		}
		p.conds = append(p.conds, g)
		return
	}
	p.caps |= r.Capabilities
	p.mergeSettings(set)
}

// mergeSettings folds the parameter constraints and wrapping bounds of r
// into p, Vault style.
func (p *perms) mergeSettings(r *perms) {
	if r.minWrap > 0 && (p.minWrap == 0 || r.minWrap < p.minWrap) {
		p.minWrap = r.minWrap
	}
	if r.maxWrap > p.maxWrap {
		p.maxWrap = r.maxWrap
	}
	p.allowed = mergeParams(p.allowed, r.allowed)
	p.denied = mergeParams(p.denied, r.denied)
	for _, name := range r.required {
		if !slices.Contains(p.required, name) {
			p.required = append(p.required, name)
		}
	}
}

// mergeParams unions parameter constraints; an empty list (any value) for a
// key absorbs every other list for that key.
func mergeParams(dst, src map[string][]string) map[string][]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string][]string, len(src))
	}
	for k, vals := range src {
		old, ok := dst[k]
		switch {
		case !ok:
			dst[k] = slices.Clone(vals)
		case len(old) == 0 || len(vals) == 0:
			dst[k] = nil
		default:
			dst[k] = append(old, vals...)
		}
	}
	return dst
}

// lookup finds the permissions of the highest-priority pattern matching
// path. For LIST, an exact rule on path without its trailing "/" also
// matches, as in Vault.
func (a *ACL) lookup(path string, list bool) *perms {
	if p, ok := a.exact[path]; ok {
		return p
	}
	if list && len(path) > 1 && path[len(path)-1] == '/' {
		if p, ok := a.exact[path[:len(path)-1]]; ok {
			return p
		}
	}
	var best *perms
	var bestKey ruleKey
	minFirst := 0
	if n := a.prefix.longestPrefix(path); n != nil {
		best = n.perm
		bestKey = ruleKey{first: len(n.key), glob: true, wc: n.key}
		minFirst = len(n.key)
	}
	if r := bestSegment(&a.segs, path, path, minFirst); r != nil {
		if best == nil || r.key.higher(&bestKey) {
			best = r.perm
		}
	}
	return best
}

// bestSegment returns the highest-priority "+" rule matching path, visiting
// longer literal prefixes first (they have priority) and skipping those
// shorter than minFirst, which cannot beat the prefix match already found.
func bestSegment(n *rnode, rest, path string, minFirst int) *segRule {
	if rest != "" {
		if c := n.child(rest[0]); c != nil && strings.HasPrefix(rest, c.label) {
			if r := bestSegment(c, rest[len(c.label):], path, minFirst); r != nil {
				return r
			}
		}
	}
	if !n.leaf || len(n.key) < minFirst {
		return nil
	}
	var best *segRule
	for _, r := range n.segs {
		if matchSegments(r.parts, r.key.glob, path) {
			best = r
			break
		}
	}
	if n.segNext != nil {
		// The path segment after the one the first "+" matches.
		rest := path[len(n.key):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i+1:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				rest = rest[:j]
			}
			for _, r := range n.segNext[rest] {
				if matchSegments(r.parts, r.key.glob, path) {
					if best == nil || r.key.higher(&best.key) {
						best = r
					}
					break
				}
			}
		}
	}
	return best
}

// Check decides whether a request may perform op on path with the given
// top-level request parameters. path must be canonical (see CleanPath);
// anything else is denied. A LIST is checked against path with a trailing
// "/" added, so a deny on "x/*" also denies listing "x". Parameter
// constraints apply to create, read, update and patch. Check does not
// allocate unless params is non-empty or a LIST path lacks its "/".
//
// Rules with conditions grant nothing through Check: there is no request
// context to evaluate them against. Use CheckRequest.
func (a *ACL) Check(path string, op Operation, params map[string]any) Decision {
	return a.CheckRequest(path, op, params, nil, nil)
}

// CheckAliased is Check for a backend that accepts some parameters under a
// legacy name too. aliases maps each lower-case legacy name to its current
// name, and params must already hold every value under its current name
// (logical.WithFieldAliases). A rule's constraint on either name then
// applies to the parameter, whichever name the request used.
func (a *ACL) CheckAliased(path string, op Operation, params map[string]any, aliases map[string]string) Decision {
	return a.CheckRequest(path, op, params, aliases, nil)
}

// CheckRequest is CheckAliased with the request context that rule
// conditions are evaluated against. A conditional rule grants its
// capabilities when one of its conditions holds for rc; with a nil rc, or
// a field a condition needs unknown, it grants nothing. For rules without
// conditions it decides exactly as Check, at the same cost.
func (a *ACL) CheckRequest(path string, op Operation, params map[string]any, aliases map[string]string, rc *RequestContext) Decision {
	need := op.capability()
	if a == nil || need == 0 || !isCleanPath(path) {
		return Decision{}
	}
	if op == OpList && path[len(path)-1] != '/' {
		path += "/"
	}
	p := a.lookup(path, op == OpList)
	if p == nil {
		return Decision{}
	}
	caps, rule := p.forRequest(rc)
	d := Decision{Capabilities: caps, Conditional: p.conds != nil}
	if caps&CapDeny != 0 {
		return d
	}
	d.Sudo = caps&CapSudo != 0
	if caps&need == 0 {
		return d
	}
	if op != OpDelete && op != OpList {
		if len(aliases) > 0 && (len(rule.allowed) > 0 || len(rule.denied) > 0 || len(rule.required) > 0) {
			rule = rule.withAliases(aliases)
		}
		if name, ok := rule.checkParams(params); !ok {
			d.DeniedParam = name
			return d
		}
	}
	d.Allowed = true
	d.MFAMethods = p.mfa
	d.ControlGroup = p.cg
	return d
}

// Capabilities returns the sorted capability names granted on path, as
// sys/capabilities-self reports them: ["deny"] when no rule matches, the
// path is not canonical, or the matching rule denies.
//
// Capabilities granted only under conditions are not reported; see
// CapabilitiesRequest.
func (a *ACL) Capabilities(path string) []string {
	return a.CapabilitiesRequest(path, nil)
}

// CapabilitiesRequest is Capabilities for a request context: conditional
// capabilities are reported when their condition holds for rc, that is,
// what the caller could do now, from where it asks.
func (a *ACL) CapabilitiesRequest(path string, rc *RequestContext) []string {
	if a == nil || !isCleanPath(path) {
		return []string{"deny"}
	}
	p := a.lookup(path, false)
	if p == nil {
		return []string{"deny"}
	}
	caps := p.effective(rc)
	if caps == 0 || caps&CapDeny != 0 {
		return []string{"deny"}
	}
	return caps.Strings()
}

// HasAccessUnder reports whether some rule grants a capability on a path
// at or below prefix (which ends in "/", like a mount path). It answers
// "may this token see that the mount exists", not whether any particular
// request is allowed.
func (a *ACL) HasAccessUnder(prefix string) bool {
	if a == nil {
		return false
	}
	for _, pat := range a.granting {
		lit := pat
		if i := strings.IndexAny(lit, "+*"); i >= 0 {
			lit = lit[:i]
		}
		// The pattern reaches under prefix when its literal start is inside
		// the prefix, or (for globs) the prefix starts with it.
		if strings.HasPrefix(lit, prefix) || (lit != pat && strings.HasPrefix(prefix, lit)) {
			return true
		}
		if pat+"/" == prefix {
			return true
		}
	}
	return false
}

// WrappingTTLs returns the minimum and maximum response-wrapping TTLs of
// the rule matching path (zero when unset or no rule matches), from its
// rules without conditions.
func (a *ACL) WrappingTTLs(path string) (minTTL, maxTTL time.Duration) {
	return a.WrappingTTLsRequest(path, nil)
}

// WrappingTTLsRequest is WrappingTTLs with the request context: the
// bounds of a conditional rule count only while one of its conditions
// holds for rc.
func (a *ACL) WrappingTTLsRequest(path string, rc *RequestContext) (minTTL, maxTTL time.Duration) {
	if a == nil || !isCleanPath(path) {
		return 0, 0
	}
	if p := a.lookup(path, false); p != nil {
		_, rule := p.forRequest(rc)
		return rule.minWrap, rule.maxWrap
	}
	return 0, 0
}
