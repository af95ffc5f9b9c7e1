package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Explanation says why an ACL allows or denies one request.
type Explanation struct {
	Allowed bool
	Sudo    bool
	// Pattern is the (rendered) pattern whose rule decided; "" when no rule
	// matches the path.
	Pattern string
	// Capabilities are those the rule grants in this request context.
	Capabilities []string
	// DeniedParam names the parameter that caused a denial, if any.
	DeniedParam string
	// Reason is one sentence for people.
	Reason string
	// Rules are the policy rules merged into Pattern, in compile order.
	Rules []RuleExplanation
}

// RuleExplanation is one policy rule merged into the deciding pattern.
type RuleExplanation struct {
	Policy       string
	Pattern      string // as written, templates unrendered
	Capabilities []string
	// Conditions has one result per condition block; empty for a rule
	// without conditions.
	Conditions []ConditionResult
	// Applies is true when the rule contributes its capabilities in this
	// request context (always, for a rule without conditions).
	Applies bool
}

// ConditionResult is the outcome of one condition block.
type ConditionResult struct {
	Holds bool
	// Failure describes the first field that did not hold, naming the
	// request's values (address, time, environment) but never a secret.
	Failure string
}

// Explain decides the request like CheckRequest and says why: which
// pattern matched, which policies' rules were merged into it, which
// conditions held and which failed.
func (a *ACL) Explain(path string, op Operation, params map[string]any, rc *RequestContext) Explanation {
	var e Explanation
	need := op.capability()
	switch {
	case a == nil:
		e.Reason = "no policies"
		return e
	case need == 0:
		e.Reason = fmt.Sprintf("unknown operation %s", quoteShort(string(op)))
		return e
	case !isCleanPath(path):
		e.Reason = "path is not canonical"
		return e
	}
	lp := path
	if op == OpList && lp[len(lp)-1] != '/' {
		lp += "/"
	}
	p := a.lookup(lp, op == OpList)
	if p == nil {
		e.Reason = "no rule matches the path"
		return e
	}
	d := a.CheckRequest(path, op, params, nil, rc)
	e.Allowed, e.Sudo, e.Pattern, e.DeniedParam = d.Allowed, d.Sudo, p.pattern, d.DeniedParam
	if d.Capabilities != 0 {
		e.Capabilities = d.Capabilities.Strings()
	}
	var failures []string
	for _, src := range p.sources {
		re := RuleExplanation{Policy: src.policy, Pattern: src.pattern, Capabilities: src.caps.Strings(), Applies: len(src.conds) == 0}
		for _, c := range src.conds {
			ok, field := c.eval(rc)
			cr := ConditionResult{Holds: ok}
			if !ok {
				cr.Failure = c.explainFailure(field, rc)
			} else {
				re.Applies = true
			}
			re.Conditions = append(re.Conditions, cr)
		}
		if !re.Applies && src.caps&need != 0 {
			for _, cr := range re.Conditions {
				failures = append(failures, fmt.Sprintf("policy %s: %s", quoteShort(src.policy), cr.Failure))
			}
		}
		e.Rules = append(e.Rules, re)
	}
	switch {
	case p.caps&CapDeny != 0:
		var by []string
		for _, src := range p.sources {
			if src.caps&CapDeny != 0 {
				by = append(by, quoteShort(src.policy))
			}
		}
		e.Reason = fmt.Sprintf("denied: pattern %s is denied by policy %s", quoteShort(p.pattern), strings.Join(by, ", "))
	case e.Allowed:
		var by []string
		for _, re := range e.Rules {
			if re.Applies && contains(re.Capabilities, capNameFor(op)) {
				by = append(by, quoteShort(re.Policy))
			}
		}
		e.Reason = fmt.Sprintf("allowed: pattern %s grants %s (policy %s)", quoteShort(p.pattern), capNameFor(op), strings.Join(by, ", "))
	case d.DeniedParam != "":
		e.Reason = fmt.Sprintf("denied: parameter %s is not permitted by pattern %s", quoteShort(d.DeniedParam), quoteShort(p.pattern))
	case p.possible()&need != 0:
		e.Reason = fmt.Sprintf("denied: pattern %s grants %s only under conditions, and none held: %s", quoteShort(p.pattern), capNameFor(op), strings.Join(failures, "; "))
	default:
		e.Reason = fmt.Sprintf("denied: pattern %s does not grant %s", quoteShort(p.pattern), capNameFor(op))
	}
	return e
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// capNameFor is the capability name op needs.
func capNameFor(op Operation) string {
	if s := op.capability().Strings(); len(s) == 1 {
		return s[0]
	}
	return string(op)
}

// Access is how a set of policies could let a caller perform a request,
// as far as can be told without a caller: who-can answers.
type Access string

const (
	AccessNone        Access = ""
	AccessAllowed     Access = "allowed"
	AccessConditional Access = "conditional"
	AccessTemplate    Access = "possibly, via template"
)

// Reach reports how policies together could allow op on path: allowed
// outright, allowed when a rule's conditions hold, possibly through a
// templated rule (for an identity whose values render to a matching path),
// or not at all. The returned strings name the contributing rules as
// "policy: pattern". Templated rules are judged alone: a deny elsewhere in
// the set may still win for a particular identity.
func Reach(policies []*Policy, path string, op Operation) (Access, []string, error) {
	need := op.capability()
	if need == 0 {
		return AccessNone, nil, fmt.Errorf("unknown operation %s", quoteShort(string(op)))
	}
	if !isCleanPath(path) {
		return AccessNone, nil, fmt.Errorf("path is not canonical")
	}
	acl, err := Compile(policies, nil)
	if err != nil {
		return AccessNone, nil, err
	}
	lp := path
	if op == OpList && lp[len(lp)-1] != '/' {
		lp += "/"
	}
	if p := acl.lookup(lp, op == OpList); p != nil && p.caps&CapDeny == 0 {
		var via []string
		for _, src := range p.sources {
			if src.caps&need != 0 {
				via = append(via, src.policy+": "+src.pattern)
			}
		}
		if p.caps&need != 0 {
			return AccessAllowed, via, nil
		}
		if p.possible()&need != 0 {
			return AccessConditional, via, nil
		}
	} else if p != nil {
		return AccessNone, nil, nil // an untemplated deny wins for everyone
	}
	var via []string
	for _, pol := range policies {
		if pol == nil {
			continue
		}
		for _, r := range pol.Rules {
			if r.Capabilities&need == 0 || r.Capabilities&CapDeny != 0 || !strings.Contains(r.Path, "{{") {
				continue
			}
			if templateCouldMatch(r.Path, lp) {
				via = append(via, pol.Name+": "+r.Path)
			}
		}
	}
	if len(via) > 0 {
		return AccessTemplate, via, nil
	}
	return AccessNone, nil, nil
}

// templateCouldMatch reports whether some safe rendering of the templated
// pattern matches path. A template stands for one or more characters
// (values may contain "/", never "*", "+", ",", "{", "}" or "\").
func templateCouldMatch(pattern, path string) bool {
	var b strings.Builder
	b.WriteString("^")
	rest := pattern
	for rest != "" {
		if i := strings.Index(rest, "{{"); i == 0 {
			j := strings.Index(rest, "}}")
			if j < 0 {
				return false
			}
			b.WriteString(`[^*+,{}\\]+`)
			rest = rest[j+2:]
			continue
		}
		c := rest[0]
		switch {
		case c == '*' && len(rest) == 1:
			b.WriteString(".*")
		case c == '+' && (b.Len() == 1 || strings.HasSuffix(b.String(), "/")) && (len(rest) == 1 || rest[1] == '/'):
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
		rest = rest[1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return false
	}
	return re.MatchString(path)
}
