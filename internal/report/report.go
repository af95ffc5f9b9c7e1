package report

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// Report is one built report: a table, notes on what it could not see,
// and for the access map two extra views.
type Report struct {
	Name        string
	GeneratedAt time.Time
	Columns     []string
	Rows        [][]any
	Notes       []string
	// Extra holds report-specific JSON fields (the access map's
	// by_identity and by_secret).
	Extra map[string]any
}

// Names are the reports, in the order sys/reports lists them.
var Names = []string{
	"secrets", "rotation-overdue", "unread", "orphaned", "production-readers",
	"access-map", "leases-near-max", "static-role-failures",
}

// Generator builds reports from a source and the service's settings.
type Generator struct {
	Source Source
	Now    func() time.Time
	store  store
}

// NewGenerator returns a generator over src, keeping its config and
// rotation policies in s.
func NewGenerator(src Source, s logical.Storage, now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	return &Generator{Source: src, Now: now, store: store{s}}
}

// Build builds report name with p.
func (g *Generator) Build(ctx context.Context, name string, p Params) (*Report, error) {
	now := g.Now().UTC()
	r := &Report{Name: name, GeneratedAt: now}
	var err error
	switch name {
	case "secrets":
		err = g.secrets(ctx, r, p, now)
	case "rotation-overdue":
		err = g.overdue(ctx, r, p, now)
	case "unread":
		err = g.unread(ctx, r, p, now)
	case "orphaned":
		err = g.orphaned(ctx, r, p)
	case "production-readers":
		err = g.productionReaders(ctx, r, p)
	case "access-map":
		g.accessMap(ctx, r, p)
	case "leases-near-max":
		g.leases(r, p, now)
	case "static-role-failures":
		err = g.staticFailures(ctx, r)
	default:
		return nil, logical.Errorf(http.StatusNotFound, "no report %q", short(name))
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (g *Generator) secretsOf(ctx context.Context, r *Report, p Params) ([]secret, error) {
	secs, truncated, err := inventory(ctx, g.Source, p.Prefix)
	if err != nil {
		return nil, err
	}
	if truncated {
		r.Notes = append(r.Notes, fmt.Sprintf("inventory truncated at %d secrets: narrow it with prefix", MaxSecrets))
	}
	return secs, nil
}

const noHistory = "kv v1 keeps no history: creation and rotation times unknown"

func days(d time.Duration) int64 { return int64(d / (24 * time.Hour)) }

func (g *Generator) secrets(ctx context.Context, r *Report, p Params, now time.Time) error {
	r.Columns = []string{"mount", "path", "kv_version", "created_time", "current_version", "last_rotation",
		"age_days", "days_since_rotation", "note"}
	secs, err := g.secretsOf(ctx, r, p)
	if err != nil {
		return err
	}
	for _, s := range secs {
		if s.KVVersion == 1 {
			r.Rows = append(r.Rows, []any{s.Mount, s.Path, 1, nil, nil, nil, nil, nil, noHistory})
			continue
		}
		r.Rows = append(r.Rows, []any{s.Mount, s.Path, 2, s.Created, s.CurrentVersion, s.Rotated,
			days(now.Sub(s.Created)), days(now.Sub(s.Rotated)), ""})
	}
	return nil
}

// rotationRule finds the rule that bounds s's age: its own
// rotation_period custom metadata first, else the strictest matching
// rotation policy. ok is false when none applies; a malformed
// rotation_period is reported in bad.
func rotationRule(s secret, pols []RotationPolicy) (rule string, maxAge time.Duration, ok bool, bad bool) {
	if v, has := s.Custom["rotation_period"]; has {
		d, err := logical.ParseDuration(v)
		if err == nil && d > 0 {
			return "custom_metadata:rotation_period", d, true, false
		}
		bad = true
	}
	for _, pol := range pols {
		if watch.MatchPath(pol.Pattern, s.Path) && (!ok || pol.MaxAge < maxAge) {
			rule, maxAge, ok = "rotation_policy:"+pol.Name, pol.MaxAge, true
		}
	}
	return rule, maxAge, ok, bad
}

func (g *Generator) overdue(ctx context.Context, r *Report, p Params, now time.Time) error {
	r.Columns = []string{"mount", "path", "kv_version", "rule", "max_age_seconds", "last_rotation", "due",
		"overdue_seconds", "status"}
	pols, err := g.store.policies(ctx)
	if err != nil {
		return err
	}
	secs, err := g.secretsOf(ctx, r, p)
	if err != nil {
		return err
	}
	for _, s := range secs {
		rule, maxAge, ok, bad := rotationRule(s, pols)
		if bad {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: rotation_period is not a duration; ignored", s.Path))
		}
		if !ok {
			continue
		}
		secs := int64(maxAge / time.Second)
		if s.KVVersion == 1 || s.Rotated.IsZero() {
			r.Rows = append(r.Rows, []any{s.Mount, s.Path, s.KVVersion, rule, secs, nil, nil, nil, "unknown"})
			continue
		}
		due := s.Rotated.Add(maxAge)
		if !now.After(due) {
			continue
		}
		r.Rows = append(r.Rows, []any{s.Mount, s.Path, 2, rule, secs, s.Rotated, due,
			int64(now.Sub(due) / time.Second), "overdue"})
	}
	if hasUnknown(r.Rows, 8) {
		r.Notes = append(r.Notes, "status unknown: "+noHistory)
	}
	return nil
}

func hasUnknown(rows [][]any, col int) bool {
	return slices.ContainsFunc(rows, func(row []any) bool { return row[col] == "unknown" })
}

func (g *Generator) accessIndex(r *Report) *watch.AccessIndex {
	x := g.Source.Access()
	if x == nil {
		r.Notes = append(r.Notes, "access events are off (watch { disable = true }): no reads are known")
		return nil
	}
	if since := x.Since(); !since.IsZero() {
		r.Notes = append(r.Notes, "reads counted since "+since.UTC().Format(time.RFC3339))
	} else {
		r.Notes = append(r.Notes, "no reads counted yet")
	}
	if n := x.Evicted(); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d paths evicted from the access index at its cap since the server started", n))
	}
	return x
}

func (g *Generator) unread(ctx context.Context, r *Report, p Params, now time.Time) error {
	r.Columns = []string{"mount", "path", "kv_version", "created_time", "last_read", "reads"}
	secs, err := g.secretsOf(ctx, r, p)
	if err != nil {
		return err
	}
	x := g.accessIndex(r)
	cutoff := now.Add(-time.Duration(p.Days) * 24 * time.Hour)
	for _, s := range secs {
		var a watch.SecretAccess
		if x != nil {
			a, _ = x.Get(s.Path)
		}
		if !a.Last.IsZero() && !a.Last.Before(cutoff) {
			continue
		}
		if s.KVVersion == 2 && s.Created.After(cutoff) {
			continue // younger than the window: not stale yet
		}
		var created any
		if s.KVVersion == 2 {
			created = s.Created
		}
		r.Rows = append(r.Rows, []any{s.Mount, s.Path, s.KVVersion, created, a.Last, a.Reads})
	}
	return nil
}

func (g *Generator) orphaned(ctx context.Context, r *Report, p Params) error {
	r.Columns = []string{"mount", "path", "kv_version"}
	secs, err := g.secretsOf(ctx, r, p)
	if err != nil {
		return err
	}
	c := compilePolicies(g.Source.Policies())
	for _, n := range c.bad {
		r.Notes = append(r.Notes, "policy "+n+" could not be compiled and was left out")
	}
	for _, s := range secs {
		if len(c.readers(s.Path)) == 0 {
			r.Rows = append(r.Rows, []any{s.Mount, s.Path, s.KVVersion})
		}
	}
	return nil
}

// roleLists are where each auth method type keeps its roles.
var roleLists = map[string]string{"jwt": "role/", "oidc": "role/", "approle": "role/", "userpass": "users/", "cert": "certs/"}

func (g *Generator) productionReaders(ctx context.Context, r *Report, p Params) error {
	r.Columns = []string{"auth_mount", "auth_type", "role", "policies", "granting_policies", "secrets", "paths"}
	r.Notes = append(r.Notes, "tokens are not enumerated: only auth roles and the policies their tokens get")
	cfg, err := g.store.config(ctx)
	if err != nil {
		return err
	}
	secs, err := g.secretsOf(ctx, r, p)
	if err != nil {
		return err
	}
	var prod []secret
	for _, s := range secs {
		if IsProduction(cfg.ProductionPatterns, s.Path) {
			prod = append(prod, s)
		}
	}
	texts := g.Source.Policies()
	single := compilePolicies(texts)
	for _, m := range g.Source.Mounts() {
		list, ok := roleLists[m.Type]
		if !m.Auth || !ok {
			continue
		}
		names, err := listKeys(ctx, g.Source, m.Path, list)
		if err != nil {
			return fmt.Errorf("list %s%s: %w", m.Path, list, err)
		}
		slices.Sort(names)
		for _, name := range names {
			resp, err := g.Source.Read(ctx, m.Path, logical.ReadOperation, list+name)
			if err != nil || resp == nil {
				r.Notes = append(r.Notes, fmt.Sprintf("%s%s%s could not be read", m.Path, list, name))
				continue
			}
			pols, _, _ := logical.Strings(resp.Data, "token_policies")
			if noDef, _, _ := logical.Bool(resp.Data, "token_no_default_policy"); !noDef && !slices.Contains(pols, "default") {
				pols = append(pols, "default")
			}
			slices.Sort(pols)
			acl, missing := union(texts, pols)
			for _, n := range missing {
				r.Notes = append(r.Notes, fmt.Sprintf("%s%s: policy %s does not exist or does not compile", m.Path, name, n))
			}
			var paths []string
			granting := map[string]bool{}
			for _, s := range prod {
				if acl == nil || !acl.Check(s.Path, "read", nil).Allowed {
					continue
				}
				paths = append(paths, s.Path)
				for _, n := range single.readers(s.Path) {
					if slices.Contains(pols, n) {
						granting[n] = true
					}
				}
			}
			if len(paths) == 0 {
				continue
			}
			gp := make([]string, 0, len(granting))
			for n := range granting {
				gp = append(gp, n)
			}
			slices.Sort(gp)
			r.Rows = append(r.Rows, []any{m.Path, m.Type, name, pols, gp, int64(len(paths)), paths})
		}
	}
	return nil
}

// identityName is a readable name for an identity key: the entity's name
// from the identity store for "entity:ID" (the id itself when the entity is
// gone), the role or display name after the prefix otherwise.
func (g *Generator) identityName(ctx context.Context, key string, cache map[string]string) string {
	if n, ok := cache[key]; ok {
		return n
	}
	kind, rest, _ := strings.Cut(key, ":")
	name := rest
	if kind == "entity" {
		if resp, err := g.Source.Read(ctx, "identity/", logical.ReadOperation, "entity/id/"+rest); err == nil && resp != nil {
			if n, ok := resp.Data["name"].(string); ok && n != "" {
				name = n
			}
		}
	}
	cache[key] = name
	return name
}

func (g *Generator) accessMap(ctx context.Context, r *Report, p Params) {
	r.Columns = []string{"identity", "name", "path", "reads", "first_read", "last_read"}
	r.Notes = append(r.Notes, "a pair is listed when its first and last read bracket part of the window; reads counts all of them, inside the window or not")
	x := g.accessIndex(r)
	names := map[string]string{}
	byID := map[string][]string{}
	bySecret := map[string][]string{}
	if x != nil {
		for _, a := range x.Snapshot() {
			if p.Prefix != "" && !strings.HasPrefix(a.Path, p.Prefix) {
				continue
			}
			if a.ReadersDropped > 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: %d readers not kept (at most %d per path)", a.Path, a.ReadersDropped, watch.MaxReaders))
			}
			keys := make([]string, 0, len(a.Readers))
			for k := range a.Readers {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				ra := a.Readers[k]
				if ra.Last.Before(p.Since) || ra.First.After(p.Until) {
					continue
				}
				r.Rows = append(r.Rows, []any{k, g.identityName(ctx, k, names), a.Path, ra.Reads, ra.First, ra.Last})
				byID[k] = append(byID[k], a.Path)
				bySecret[a.Path] = append(bySecret[a.Path], k)
			}
		}
	}
	slices.SortFunc(r.Rows, func(a, b []any) int {
		for _, i := range []int{1, 2, 0} { // name, path, key
			if c := strings.Compare(a[i].(string), b[i].(string)); c != 0 {
				return c
			}
		}
		return 0
	})
	for _, v := range byID {
		slices.Sort(v)
	}
	r.Extra = map[string]any{"by_identity": byID, "by_secret": bySecret,
		"since": timeOrNil(p.Since), "until": p.Until.UTC().Format(time.RFC3339)}
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (g *Generator) leases(r *Report, p Params, now time.Time) {
	r.Columns = []string{"lease_id", "mount", "path", "issue_time", "expire_time", "max_expire", "seconds_to_max", "state"}
	ls := g.Source.Leases()
	if ls == nil {
		r.Notes = append(r.Notes, "no lease manager is running")
	}
	for _, l := range ls {
		if l.MaxExpire.IsZero() || l.MaxExpire.Sub(now) > p.Within {
			continue
		}
		path := l.Path
		if !strings.HasPrefix(path, l.MountPath) {
			path = l.MountPath + path
		}
		if p.Prefix != "" && !strings.HasPrefix(path, p.Prefix) {
			continue
		}
		r.Rows = append(r.Rows, []any{l.ID, l.MountPath, path, l.IssueTime, l.ExpireTime, l.MaxExpire,
			int64(l.MaxExpire.Sub(now) / time.Second), l.State})
	}
	slices.SortFunc(r.Rows, func(a, b []any) int { return a[5].(time.Time).Compare(b[5].(time.Time)) })
}

// maxErrorLen bounds the last rotation error shown per role.
const maxErrorLen = 200

func (g *Generator) staticFailures(ctx context.Context, r *Report) error {
	r.Columns = []string{"mount", "role", "db_name", "username", "failed_rotations", "last_rotation", "next_rotation", "last_error"}
	for _, m := range g.Source.Mounts() {
		if m.Auth || m.Type != "database" {
			continue
		}
		names, err := listKeys(ctx, g.Source, m.Path, "static-roles")
		if err != nil {
			return fmt.Errorf("list %sstatic-roles: %w", m.Path, err)
		}
		slices.Sort(names)
		for _, name := range names {
			resp, err := g.Source.Read(ctx, m.Path, logical.ReadOperation, "static-roles/"+name)
			if err != nil || resp == nil {
				r.Notes = append(r.Notes, fmt.Sprintf("%sstatic-roles/%s could not be read", m.Path, name))
				continue
			}
			d := resp.Data
			failures, _, _ := logical.Int(d, "failed_rotations")
			if failures == 0 {
				continue
			}
			db, _, _ := logical.Str(d, "db_name")
			user, _, _ := logical.Str(d, "username")
			lastErr, _, _ := logical.Str(d, "last_rotation_error")
			if len(lastErr) > maxErrorLen {
				lastErr = lastErr[:maxErrorLen] + "..."
			}
			r.Rows = append(r.Rows, []any{m.Path, name, db, user, int64(failures),
				parseTime3339(d["last_vault_rotation"]), parseTime3339(d["next_rotation"]), lastErr})
		}
	}
	return nil
}
