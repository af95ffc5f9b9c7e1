package watch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// A drill scope (sys/watch/drills/ID) lets a breach drill make a pattern
// real for one throw-away token without touching the server's rules:
// events of the scope's token accessor are judged by copies of the rules
// with the scope's overrides applied (off-hours business hours that
// exclude now, a stolen-token threshold of 1 with revoke-token), and
// every alert they raise carries the scope's id in Alert.Drill. The real
// rules stay as they are; whether a rule is enabled and its severity are
// the real rule's, so a drill of a disabled rule raises nothing. The real
// rules' containment never acts on a drill token: only the scope's own
// contain (revoke-token) does. Scopes
// live in memory only, expire after their TTL (at most an hour) and are
// gone at seal.
type DrillScope struct {
	ID       string                    `json:"id"`
	Accessor string                    `json:"accessor"`
	Rules    map[string]map[string]any `json:"rules"`
	Created  time.Time                 `json:"created"`
	Expires  time.Time                 `json:"expires"`
}

// Fields a drill may override. enabled and severity are not among them
// (a drill checks the rule as configured), nor paths, allowed_cidrs or
// min_history; contain may only name revoke-token, which acts on the
// drill's own token.
var drillOverrideFields = logical.Fields{
	{Name: "threshold"}, {Name: "window"}, {Name: "business_hours"}, {Name: "weekdays"}, {Name: "time_zone"},
	{Name: "contain"}, {Name: "dry_run"},
}

// MaxDrillScopes bounds the scopes in effect at once.
const MaxDrillScopes = 64

// MaxDrillTTL is the longest a scope lasts.
const MaxDrillTTL = time.Hour

var drillIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

type drillSet struct {
	byID       map[string]*DrillScope
	byAccessor map[string]*DrillScope
}

// checkDrillOverrides validates a scope's overrides against the rules in
// rs, returning an error naming the rule and field.
func checkDrillOverrides(rs *ruleSet, rules map[string]map[string]any) error {
	if len(rules) == 0 {
		return nil
	}
	for name, over := range rules {
		base, ok := rs.by[name]
		if !ok {
			return fmt.Errorf("rules: unknown rule %q", name)
		}
		if err := drillOverrideFields.Unknown(over); err != nil {
			return fmt.Errorf("rules.%s: %w (a drill may override threshold, window, business_hours, weekdays, time_zone, contain, dry_run)", name, err)
		}
		r, err := drillRule(base, over)
		if err != nil {
			return fmt.Errorf("rules.%s: %w", name, err)
		}
		if _, ok := over["contain"]; ok {
			for _, c := range r.Contain {
				if c != ActionRevokeToken {
					return fmt.Errorf("rules.%s.contain: a drill may only contain with %s, not %q", name, ActionRevokeToken, c)
				}
			}
		}
	}
	return nil
}

// SetDrill puts scope s in effect (replacing one with the same id).
func (en *Engine) SetDrill(s DrillScope) error {
	if !drillIDRE.MatchString(s.ID) {
		return fmt.Errorf("drill id %q: want letters, digits, '.', '_' or '-' (at most 64)", s.ID)
	}
	if s.Accessor == "" {
		return errors.New("accessor: required (the drill token's accessor)")
	}
	if err := checkDrillOverrides(en.rules.Load(), s.Rules); err != nil {
		return err
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return ErrSealed
	}
	now := en.opts.Now()
	cur := en.drills.Load()
	next := &drillSet{byID: map[string]*DrillScope{}, byAccessor: map[string]*DrillScope{}}
	for id, d := range cur.byID {
		if id == s.ID || !d.Expires.After(now) {
			continue
		}
		if d.Accessor == s.Accessor {
			return fmt.Errorf("accessor: already in drill %q", id)
		}
		next.byID[id], next.byAccessor[d.Accessor] = d, d
	}
	if len(next.byID) >= MaxDrillScopes {
		return fmt.Errorf("at most %d drills at once", MaxDrillScopes)
	}
	c := s
	c.Rules = maps.Clone(s.Rules)
	next.byID[c.ID], next.byAccessor[c.Accessor] = &c, &c
	en.drills.Store(next)
	return nil
}

// DeleteDrill ends scope id (no error if there is none).
func (en *Engine) DeleteDrill(id string) {
	en.mu.Lock()
	defer en.mu.Unlock()
	cur := en.drills.Load()
	d, ok := cur.byID[id]
	if !ok {
		return
	}
	next := &drillSet{byID: maps.Clone(cur.byID), byAccessor: maps.Clone(cur.byAccessor)}
	delete(next.byID, id)
	delete(next.byAccessor, d.Accessor)
	en.drills.Store(next)
}

// Drills returns the scopes in effect, by id.
func (en *Engine) Drills() []DrillScope {
	now := en.opts.Now()
	var out []DrillScope
	for _, d := range en.drills.Load().byID {
		if d.Expires.After(now) {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// drillFor returns the scope of e's token, if one is in effect, and the
// rules to judge e by.
func (en *Engine) drillFor(rs *ruleSet, e *Event) (*DrillScope, *ruleSet) {
	if e.Identity.Accessor == "" {
		return nil, rs
	}
	d := en.drills.Load().byAccessor[e.Identity.Accessor]
	if d == nil || !d.Expires.After(en.opts.Now()) {
		return nil, rs
	}
	// A drill's token is contained only as its scope says: a real rule's
	// lock-role, require-mfa or seal must not act on a drill.
	next := &ruleSet{by: make(map[string]*Rule, len(rs.by)), loc: rs.loc}
	for name, base := range rs.by {
		r := *base
		if over, ok := d.Rules[name]; ok {
			if o, err := drillRule(base, over); err == nil { // else the real rule changed under the drill: judge by it
				r = o
				r.Enabled, r.Severity = base.Enabled, base.Severity
				if _, ok := over["contain"]; !ok {
					r.Contain = nil
				}
				next.by[name] = &r
				continue
			}
		}
		r.Contain = nil
		next.by[name] = &r
	}
	return d, next
}

// drillRule is base with a drill's overrides. A drill may set
// stolen-token's threshold to 1 (one network), which a real rule may not:
// one client cannot come from two networks, so the drill plays the path
// from event to alert, containment and delivery, not the network count.
func drillRule(base *Rule, over map[string]any) (Rule, error) {
	one := false
	if base.Name == RuleStolenToken {
		if v, ok, err := logical.Int(over, "threshold"); err == nil && ok && v == 1 {
			over = maps.Clone(over)
			delete(over, "threshold")
			one = true
		}
	}
	r, err := ParseRule(*base, over)
	if err != nil {
		return Rule{}, err
	}
	if one {
		r.Threshold = 1
	}
	return r, nil
}

func newDrillSet() *drillSet {
	return &drillSet{byID: map[string]*DrillScope{}, byAccessor: map[string]*DrillScope{}}
}

var drillFields = logical.Fields{
	{Name: "accessor", Description: "The accessor of the drill's token: its events are judged by the overridden rules."},
	{Name: "rules", Description: "Overrides by rule name: threshold, window, business_hours, weekdays, time_zone, contain (revoke-token only), dry_run."},
	{Name: "ttl", Description: "How long the scope lasts (default 15m, at most 1h)."},
}

func (a *alertAPI) listDrills(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	ds := a.en.Drills()
	keys := make([]string, 0, len(ds))
	info := map[string]any{}
	for _, d := range ds {
		keys = append(keys, d.ID)
		info[d.ID] = map[string]any{"accessor": d.Accessor, "rules": slices.Sorted(maps.Keys(d.Rules)),
			"expires": d.Expires.UTC().Format(time.RFC3339)}
	}
	if len(keys) == 0 && req.Operation == logical.ListOperation {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func drillData(d *DrillScope) map[string]any {
	rules := d.Rules
	if rules == nil {
		rules = map[string]map[string]any{}
	}
	return map[string]any{"id": d.ID, "accessor": d.Accessor, "rules": rules,
		"created": d.Created.UTC().Format(time.RFC3339), "expires": d.Expires.UTC().Format(time.RFC3339)}
}

func (a *alertAPI) readDrill(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	for _, d := range a.en.Drills() {
		if d.ID == p["id"] {
			return &logical.Response{Data: drillData(&d)}, nil
		}
	}
	return nil, nil
}

func (a *alertAPI) writeDrill(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := drillFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	acc, _, err := logical.Str(req.Data, "accessor")
	if err != nil {
		return nil, err
	}
	ttl := 15 * time.Minute
	if d, ok, err := logical.Duration(req.Data, "ttl"); err != nil {
		return nil, err
	} else if ok {
		if d < time.Second || d > MaxDrillTTL {
			return nil, logical.BadRequest("ttl: %s is out of range (1s to 1h)", d)
		}
		ttl = d
	}
	rules := map[string]map[string]any{}
	if raw, ok := req.Data["rules"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, logical.BadRequest("rules: want an object of rule name to overrides")
		}
		for name, v := range m {
			over, ok := v.(map[string]any)
			if !ok {
				return nil, logical.BadRequest("rules.%s: want an object of overrides", name)
			}
			rules[name] = over
		}
	}
	now := a.en.opts.Now()
	s := DrillScope{ID: p["id"], Accessor: acc, Rules: rules, Created: now, Expires: now.Add(ttl)}
	if err := a.en.SetDrill(s); err != nil {
		if errors.Is(err, ErrSealed) {
			return nil, sealedErr(err)
		}
		return nil, logical.BadRequest("%s", err)
	}
	return &logical.Response{Data: drillData(&s)}, nil
}

func (a *alertAPI) deleteDrill(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	a.en.DeleteDrill(p["id"])
	return nil, nil
}
