package report

import (
	"context"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Backend serves sys/reports/... (paths relative to sys/).
type Backend struct {
	*logical.Router
	gen *Generator
}

type ops = map[logical.Operation]logical.Handler

// NewBackend returns the reports backend over gen.
func NewBackend(gen *Generator) *Backend {
	b := &Backend{gen: gen}
	b.Router = logical.NewRouter(backendHelp,
		logical.Route{Pattern: "reports", Ops: ops{logical.ReadOperation: b.list, logical.ListOperation: b.list},
			Synopsis: "List the reports."},
		logical.Route{Pattern: "reports/config",
			Ops:      ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Synopsis: "Read or set the reports' settings.",
			Description: "production_patterns decide which secrets are production secrets: a pattern with a / is a " +
				"path pattern (final * a prefix match, + one segment), one without is a path segment name " +
				"(default: prod, production).",
			Fields: configFields},
		logical.Route{Pattern: "reports/rotation-policies", Ops: ops{logical.ListOperation: b.listPolicies, logical.ReadOperation: b.listPolicies},
			Synopsis: "List the rotation policies."},
		logical.Route{Pattern: "reports/rotation-policies/{name}",
			Ops: ops{logical.ReadOperation: b.readPolicy, logical.UpdateOperation: b.writePolicy,
				logical.DeleteOperation: b.deletePolicy},
			Synopsis:    "Read, write or delete a rotation policy.",
			Description: "Secrets whose path matches pattern must be rotated at least every max_age.",
			Fields:      policyFields},
		logical.Route{Pattern: "reports/{name}", Ops: ops{logical.ReadOperation: b.report},
			Synopsis:    "Build one report (JSON, or CSV with format=csv).",
			Description: "Reports: secrets, rotation-overdue, unread, orphaned, production-readers, access-map, leases-near-max, static-role-failures.",
			Fields:      reportFields},
	)
	return b
}

const backendHelp = `sys/reports builds lifecycle and compliance reports from the stores and the access index.`

var (
	configFields = logical.Fields{{Name: "production_patterns", Type: logical.TypeSlice,
		Description: "Patterns of production paths."}}
	policyFields = logical.Fields{
		{Name: "name", InPath: true, Description: "The policy's name."},
		{Name: "pattern", Description: "Path pattern of the secrets it covers (secret/data/app/*)."},
		{Name: "max_age", Description: "Longest time between rotations (720h, 30d)."},
	}
	reportFields = logical.Fields{
		{Name: "name", InPath: true, Description: "The report."},
		{Name: "format", Description: "json (default) or csv."},
		{Name: "prefix", Description: "Only secrets whose path starts with this."},
		{Name: "days", Description: "unread: days without a read (default 90)."},
		{Name: "within", Description: "leases-near-max: horizon (default 24h)."},
		{Name: "since", Description: "access-map: start of the window (RFC 3339, or a duration ago)."},
		{Name: "until", Description: "access-map: end of the window (default now)."},
	}
)

// Close implements the core's service contract; the reports hold nothing.
func (b *Backend) Close() error { return nil }

func (b *Backend) list(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	keys := append(append([]string(nil), Names...), "config", "rotation-policies/")
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

func (b *Backend) report(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	known := false
	for _, n := range Names {
		known = known || n == name
	}
	if !known {
		return nil, logical.Errorf(http.StatusNotFound, "no report %q", short(name))
	}
	params, err := ParseParams(name, req.Data, b.gen.Now())
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	r, err := b.gen.Build(ctx, name, params)
	if err != nil {
		return nil, err
	}
	if params.Format == "csv" {
		return &logical.Response{Status: http.StatusOK, ContentType: "text/csv; charset=utf-8",
			Raw: CSV(r.Columns, r.Rows)}, nil
	}
	return &logical.Response{Data: r.JSON()}, nil
}

// JSON is the report's data in the API envelope: report, generated_at,
// columns, rows (one object per row, keyed by column; times in RFC 3339,
// null when unknown), notes, and any report-specific fields.
func (r *Report) JSON() map[string]any {
	rows := make([]any, 0, len(r.Rows))
	for _, row := range r.Rows {
		o := make(map[string]any, len(row))
		for i, v := range row {
			if t, ok := v.(time.Time); ok {
				if t.IsZero() {
					v = nil
				} else {
					v = t.UTC().Format(time.RFC3339)
				}
			}
			o[r.Columns[i]] = v
		}
		rows = append(rows, o)
	}
	notes := r.Notes
	if notes == nil {
		notes = []string{}
	}
	d := map[string]any{"report": r.Name, "generated_at": r.GeneratedAt.Format(time.RFC3339),
		"columns": r.Columns, "rows": rows, "notes": notes}
	for k, v := range r.Extra {
		d[k] = v
	}
	return d
}

func (b *Backend) readConfig(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.gen.store.config(ctx)
	if err != nil {
		return nil, err
	}
	pats := c.ProductionPatterns
	if len(pats) == 0 {
		pats = DefaultProductionPatterns
	}
	return &logical.Response{Data: map[string]any{"production_patterns": pats}}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := configFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	pats, ok, err := logical.Strings(req.Data, "production_patterns")
	if err != nil {
		return nil, err
	}
	c, err := b.gen.store.config(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		if len(pats) > maxPatterns {
			return nil, logical.BadRequest("production_patterns: at most %d", maxPatterns)
		}
		for _, p := range pats {
			if err := ValidPattern(p); err != nil {
				return nil, logical.BadRequest("production_patterns: %s", err)
			}
		}
		c.ProductionPatterns = pats
	}
	return nil, b.gen.store.putConfig(ctx, c)
}

func (b *Backend) listPolicies(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	names, err := b.gen.store.s.List(ctx, policyPrefix)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": names}}, nil
}

func (b *Backend) readPolicy(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	if !policyName.MatchString(p["name"]) {
		return nil, nil
	}
	var rp RotationPolicy
	ok, err := logical.GetJSON(ctx, b.gen.store.s, policyPrefix+p["name"], &rp)
	if err != nil || !ok {
		return nil, err
	}
	return &logical.Response{Data: rp.data()}, nil
}

func (rp RotationPolicy) data() map[string]any {
	return map[string]any{"name": rp.Name, "pattern": rp.Pattern, "max_age": int64(rp.MaxAge / time.Second)}
}

// ParsePolicy reads a rotation policy's fields (name from the path).
func ParsePolicy(name string, data map[string]any) (RotationPolicy, error) {
	if !policyName.MatchString(name) {
		return RotationPolicy{}, logical.BadRequest("name: letters, digits, _ . - and at most 128 characters")
	}
	if err := logical.UnknownFields(data, "pattern", "max_age"); err != nil {
		return RotationPolicy{}, err
	}
	pat, _, err := logical.Str(data, "pattern")
	if err != nil {
		return RotationPolicy{}, err
	}
	if err := ValidPattern(pat); err != nil {
		return RotationPolicy{}, logical.BadRequest("pattern: %s", err)
	}
	raw, ok := data["max_age"]
	if !ok {
		return RotationPolicy{}, logical.BadRequest("max_age is required")
	}
	d, err := logical.ParseDuration(raw)
	if err != nil || d < time.Second {
		return RotationPolicy{}, logical.BadRequest("max_age: want a duration of at least 1s such as 720h or 30d")
	}
	return RotationPolicy{Name: name, Pattern: pat, MaxAge: d}, nil
}

func (b *Backend) writePolicy(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	rp, err := ParsePolicy(p["name"], req.Data)
	if err != nil {
		return nil, err
	}
	names, err := b.gen.store.s.List(ctx, policyPrefix)
	if err != nil {
		return nil, err
	}
	if len(names) >= maxPolicies {
		exists := false
		for _, n := range names {
			exists = exists || n == rp.Name
		}
		if !exists {
			return nil, logical.BadRequest("at most %d rotation policies", maxPolicies)
		}
	}
	return nil, logical.PutJSON(ctx, b.gen.store.s, policyPrefix+rp.Name, rp)
}

func (b *Backend) deletePolicy(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	if !policyName.MatchString(p["name"]) {
		return nil, nil
	}
	return nil, b.gen.store.s.Delete(ctx, policyPrefix+p["name"])
}
