package watch

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// alertRoutes serve sys/watch/rules, sys/watch/alerts and
// sys/watch/canaries (paths relative to sys/).
func alertRoutes(en *Engine) []logical.Route {
	a := &alertAPI{en: en}
	ops := func(m map[logical.Operation]logical.Handler) map[logical.Operation]logical.Handler { return m }
	return []logical.Route{
		{Pattern: "watch/rules", Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: a.listRules, logical.ReadOperation: a.listRules}),
			Synopsis: "List the detection rules."},
		{Pattern: "watch/rules/{name}", Ops: ops(map[logical.Operation]logical.Handler{
			logical.ReadOperation: a.readRule, logical.UpdateOperation: a.writeRule, logical.CreateOperation: a.writeRule,
			logical.DeleteOperation: a.deleteRule}),
			Synopsis:    "Read, tune or reset one detection rule.",
			Description: "A write changes only the fields it names; a delete returns the rule to its default.",
			Fields:      ruleFields},
		{Pattern: "watch/alerts", Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: a.listAlerts, logical.ReadOperation: a.listAlerts}),
			Synopsis: "List alerts, newest first.", Fields: alertListFields},
		{Pattern: "watch/alerts/{id}/ack", Ops: ops(map[logical.Operation]logical.Handler{logical.UpdateOperation: a.ack, logical.CreateOperation: a.ack}),
			Synopsis: "Acknowledge an alert: its escalation stops."},
		{Pattern: "watch/alerts/{id}/resolve", Ops: ops(map[logical.Operation]logical.Handler{logical.UpdateOperation: a.resolve, logical.CreateOperation: a.resolve}),
			Synopsis: "Resolve an alert: a new occurrence opens a new alert."},
		{Pattern: "watch/alerts/{id}", Ops: ops(map[logical.Operation]logical.Handler{logical.ReadOperation: a.readAlert}),
			Synopsis: "Read one alert."},
		{Pattern: "watch/drills", Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: a.listDrills, logical.ReadOperation: a.listDrills}),
			Sudo: true, Synopsis: "List the breach-drill scopes in effect."},
		{Pattern: "watch/drills/{id}", Ops: ops(map[logical.Operation]logical.Handler{
			logical.ReadOperation: a.readDrill, logical.UpdateOperation: a.writeDrill, logical.CreateOperation: a.writeDrill,
			logical.DeleteOperation: a.deleteDrill}),
			Sudo: true, Synopsis: "Start, read or end a breach-drill scope.",
			Description: "Events of the scope's token are judged by copies of the rules with the scope's overrides; its alerts carry drill=ID. The real rules are not changed.",
			Fields:      drillFields},
		{Pattern: "watch/locks", Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: a.listLocks, logical.ReadOperation: a.listLocks}),
			Sudo: true, Synopsis: "List the auth roles and users locked by lock-role containment."},
		{Pattern: "watch/locks/{id}", Ops: ops(map[logical.Operation]logical.Handler{logical.ReadOperation: a.readLock, logical.DeleteOperation: a.deleteLock}),
			Sudo: true, Synopsis: "Read a role lock, or lift it before it lapses."},
		{Pattern: "watch/canaries", Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: a.listCanaries, logical.ReadOperation: a.listCanaries}),
			Sudo: true, Synopsis: "List the canary secrets."},
		{Pattern: "watch/canaries/{path*}", Ops: ops(map[logical.Operation]logical.Handler{
			logical.ReadOperation: a.readCanary, logical.UpdateOperation: a.writeCanary, logical.CreateOperation: a.writeCanary,
			logical.DeleteOperation: a.deleteCanary}),
			Sudo: true, Synopsis: "Register, read or remove a canary secret.",
			Description: "Any read of a registered path raises a critical alert. The mark lives here, not in the secret.",
			Fields:      canaryFields},
	}
}

type alertAPI struct{ en *Engine }

var alertListFields = logical.Fields{
	{Name: "status", Description: "open, acknowledged or resolved."},
	{Name: "severity", Description: "Lowest severity listed."},
	{Name: "rule", Description: "Only this rule's alerts."},
	{Name: "drill", Description: "Only the alerts of this drill scope."},
}

var canaryFields = logical.Fields{
	{Name: "type", Description: "aws, database-url, token, generic or database-role."},
	{Name: "note", Description: "Free text for responders."},
}

func sealedErr(err error) error {
	if errors.Is(err, ErrSealed) {
		return logical.Errorf(http.StatusServiceUnavailable, "%s", err)
	}
	return err
}

func (a *alertAPI) listRules(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	info := map[string]any{}
	for _, n := range Rules {
		r, _ := a.en.Rule(n)
		info[n] = map[string]any{"enabled": r.Enabled, "severity": r.Severity.String()}
	}
	return &logical.Response{Data: map[string]any{"keys": slices.Clone(Rules), "key_info": info}}, nil
}

func (a *alertAPI) readRule(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	r, ok := a.en.Rule(p["name"])
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: r.Map()}, nil
}

func (a *alertAPI) writeRule(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	base, ok := a.en.Rule(p["name"])
	if !ok {
		return nil, logical.BadRequest("unknown rule %q (the rules are %s)", p["name"], strings.Join(Rules, ", "))
	}
	r, err := ParseRule(base, req.Data)
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	if err := a.en.SetRule(ctx, r); err != nil {
		return nil, sealedErr(err)
	}
	return &logical.Response{Data: r.Map()}, nil
}

func (a *alertAPI) deleteRule(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	if _, ok := DefaultRule(p["name"]); !ok {
		return nil, logical.BadRequest("unknown rule %q", p["name"])
	}
	return nil, sealedErr(a.en.ResetRule(ctx, p["name"]))
}

func (a *alertAPI) listAlerts(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := alertListFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	var f AlertFilter
	if s, _, err := logical.Str(req.Data, "status"); err != nil {
		return nil, err
	} else if s != "" {
		f.Status = AlertStatus(s)
		if f.Status != AlertOpen && f.Status != AlertAcknowledged && f.Status != AlertResolved {
			return nil, logical.BadRequest("status %q: want open, acknowledged or resolved", s)
		}
	}
	if s, _, err := logical.Str(req.Data, "severity"); err != nil {
		return nil, err
	} else if s != "" {
		if f.Severity, err = ParseSeverity(s); err != nil {
			return nil, logical.BadRequest("%s", err)
		}
	}
	if s, _, err := logical.Str(req.Data, "rule"); err != nil {
		return nil, err
	} else if s != "" {
		if _, ok := DefaultRule(s); !ok {
			return nil, logical.BadRequest("unknown rule %q", s)
		}
		f.Rule = s
	}
	if s, _, err := logical.Str(req.Data, "drill"); err != nil {
		return nil, err
	} else {
		f.Drill = s
	}
	list, err := a.en.Alerts(f)
	if err != nil {
		return nil, sealedErr(err)
	}
	keys := make([]string, 0, len(list))
	info := make(map[string]any, len(list))
	for _, al := range list {
		keys = append(keys, al.ID)
		info[al.ID] = map[string]any{"rule": al.Rule, "severity": al.Severity.String(), "status": string(al.Status),
			"summary": al.Summary, "count": al.Count, "last_seen": al.LastSeen.UTC().Format(time.RFC3339),
			"identity": identityName(&al.Identity), "accessor": al.Identity.Accessor, "drill": al.Drill}
	}
	if len(keys) == 0 && req.Operation == logical.ListOperation {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func identityName(id *Identity) string {
	switch {
	case id.DisplayName != "":
		return id.DisplayName
	case id.Role != "":
		return id.AuthMount + id.Role
	}
	return who(id)
}

func alertData(al *Alert) map[string]any {
	m := map[string]any{"id": al.ID, "rule": al.Rule, "severity": al.Severity.String(), "status": string(al.Status),
		"group_key": al.GroupKey, "summary": al.Summary, "evidence": al.Evidence, "count": al.Count,
		"first_seen": al.FirstSeen.UTC().Format(time.RFC3339Nano), "last_seen": al.LastSeen.UTC().Format(time.RFC3339Nano),
		"identity": al.Identity, "actions": al.Actions}
	if al.Drill != "" {
		m["drill"] = al.Drill
	}
	if al.Actions == nil {
		m["actions"] = []Action{}
	}
	if al.AckedBy != "" {
		m["acknowledged_by"], m["acknowledged_at"] = al.AckedBy, al.AckedAt.UTC().Format(time.RFC3339Nano)
	}
	if al.ResolvedBy != "" {
		m["resolved_by"], m["resolved_at"] = al.ResolvedBy, al.ResolvedAt.UTC().Format(time.RFC3339Nano)
	}
	return m
}

func (a *alertAPI) readAlert(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	al, ok := a.en.Alert(p["id"])
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: alertData(&al)}, nil
}

// actor names who made req from its identity: display name and entity or
// accessor, never the token.
func actor(req *logical.Request) string {
	t := req.Token
	if t == nil {
		return "unknown"
	}
	name := t.DisplayName
	if name == "" {
		name = "token"
	}
	switch {
	case t.EntityID != "":
		return name + " (entity " + t.EntityID + ")"
	case t.Accessor != "":
		return name + " (accessor " + t.Accessor + ")"
	}
	return name
}

func (a *alertAPI) ack(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return a.change(ctx, req, p, a.en.Acknowledge)
}

func (a *alertAPI) resolve(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return a.change(ctx, req, p, a.en.Resolve)
}

func (a *alertAPI) change(ctx context.Context, req *logical.Request, p logical.Params,
	f func(context.Context, string, string) (Alert, error)) (*logical.Response, error) {
	if len(req.Data) > 0 {
		if err := (logical.Fields{}).Unknown(req.Data); err != nil {
			return nil, err
		}
	}
	al, err := f(ctx, p["id"], actor(req))
	switch {
	case errors.Is(err, ErrNoAlert):
		return nil, logical.Errorf(http.StatusNotFound, "no alert %q", p["id"])
	case errors.Is(err, ErrSealed):
		return nil, sealedErr(err)
	case err != nil:
		return nil, logical.BadRequest("%s", err)
	}
	return &logical.Response{Data: alertData(&al)}, nil
}

func (a *alertAPI) listCanaries(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	cs := a.en.Canaries()
	keys := make([]string, 0, len(cs))
	info := map[string]any{}
	for _, c := range cs {
		keys = append(keys, c.Path)
		info[c.Path] = map[string]any{"type": c.Type, "created": c.Created.UTC().Format(time.RFC3339), "note": c.Note}
	}
	if len(keys) == 0 && req.Operation == logical.ListOperation {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (a *alertAPI) readCanary(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	path, err := CleanCanaryPath(p["path"])
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	for _, c := range a.en.Canaries() {
		if c.Path == path {
			return &logical.Response{Data: map[string]any{"path": c.Path, "type": c.Type, "note": c.Note,
				"created": c.Created.UTC().Format(time.RFC3339)}}, nil
		}
	}
	return nil, nil
}

func (a *alertAPI) writeCanary(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := canaryFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	path, err := CleanCanaryPath(p["path"])
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	typ, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = "generic"
	}
	if !slices.Contains(CanaryTypes, typ) {
		return nil, logical.BadRequest("type %q: want one of %s", typ, strings.Join(CanaryTypes, ", "))
	}
	note, _, err := logical.Str(req.Data, "note")
	if err != nil {
		return nil, err
	}
	if len(note) > 1024 {
		return nil, logical.BadRequest("note: longer than 1024 bytes")
	}
	if err := a.en.AddCanary(ctx, Canary{Path: path, Type: typ, Note: note, Created: a.en.opts.Now()}); err != nil {
		return nil, sealedErr(err)
	}
	return nil, nil
}

func (a *alertAPI) deleteCanary(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	path, err := CleanCanaryPath(p["path"])
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	return nil, sealedErr(a.en.RemoveCanary(ctx, path))
}
