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
	mfa      []string // sorted MFA method names (mfa.go)
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
	// MFAMethods are the MFA method names the request must pass (the
	// union of the matching rules' mfa_methods); shared, read only.
	MFAMethods []string
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
				cur = &perms{}
				merged[path] = cur
				order = append(order, path)
			}
			cur.merge(r)
		}
	}
	a := &ACL{exact: map[string]*perms{}}
	for _, path := range order {
		perm := merged[path]
		if perm.caps != 0 && perm.caps&CapDeny == 0 {
			a.granting = append(a.granting, path)
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

// merge folds rule r into p following Vault's merge rules.
func (p *perms) merge(r *Rule) {
	if p.caps&CapDeny != 0 {
		return
	}
	if r.Capabilities&CapDeny != 0 {
		*p = perms{caps: CapDeny}
		return
	}
	p.caps |= r.Capabilities
	if r.MinWrappingTTL > 0 && (p.minWrap == 0 || r.MinWrappingTTL < p.minWrap) {
		p.minWrap = r.MinWrappingTTL
	}
	if r.MaxWrappingTTL > p.maxWrap {
		p.maxWrap = r.MaxWrappingTTL
	}
	p.mergeMFA(r.MFAMethods)
	p.allowed = mergeParams(p.allowed, r.AllowedParameters)
	p.denied = mergeParams(p.denied, r.DeniedParameters)
	for _, name := range r.RequiredParameters {
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
func (a *ACL) Check(path string, op Operation, params map[string]any) Decision {
	return a.CheckAliased(path, op, params, nil)
}

// CheckAliased is Check for a backend that accepts some parameters under a
// legacy name too. aliases maps each lower-case legacy name to its current
// name, and params must already hold every value under its current name
// (logical.WithFieldAliases). A rule's constraint on either name then
// applies to the parameter, whichever name the request used.
func (a *ACL) CheckAliased(path string, op Operation, params map[string]any, aliases map[string]string) Decision {
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
	d := Decision{Capabilities: p.caps}
	if p.caps&CapDeny != 0 {
		return d
	}
	d.Sudo = p.caps&CapSudo != 0
	if p.caps&need == 0 {
		return d
	}
	if op != OpDelete && op != OpList {
		rule := p
		if len(aliases) > 0 && (len(p.allowed) > 0 || len(p.denied) > 0 || len(p.required) > 0) {
			rule = p.withAliases(aliases)
		}
		if name, ok := rule.checkParams(params); !ok {
			d.DeniedParam = name
			return d
		}
	}
	d.Allowed = true
	d.MFAMethods = p.mfa
	return d
}

// Capabilities returns the sorted capability names granted on path, as
// sys/capabilities-self reports them: ["deny"] when no rule matches, the
// path is not canonical, or the matching rule denies.
func (a *ACL) Capabilities(path string) []string {
	if a == nil || !isCleanPath(path) {
		return []string{"deny"}
	}
	p := a.lookup(path, false)
	if p == nil || p.caps == 0 || p.caps&CapDeny != 0 {
		return []string{"deny"}
	}
	return p.caps.Strings()
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
// the rule matching path (zero when unset or no rule matches).
func (a *ACL) WrappingTTLs(path string) (minTTL, maxTTL time.Duration) {
	if a == nil || !isCleanPath(path) {
		return 0, 0
	}
	if p := a.lookup(path, false); p != nil {
		return p.minWrap, p.maxWrap
	}
	return 0, 0
}
