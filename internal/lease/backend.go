package lease

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Backend serves sys/leases/*, sys/renew* and sys/revoke* (paths relative to
// sys/). The core enforces ACLs and sudo on revoke-prefix, revoke-force and
// list before a request gets here (their routes are flagged Sudo); renew
// and revoke additionally require the caller's token to be the one that
// created the lease, or root (T13).
func (m *Manager) Backend() logical.Backend { return m }

// backend holds the handlers of the Manager's routes.
type backend struct{ m *Manager }

const backendHelp = `The lease endpoints of sys/ look up, list, renew and revoke the leases of
dynamic secrets, by id or by prefix, and report stuck revocations.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var (
	leaseIDDoc   = logical.Field{Name: "lease_id", Description: "The lease's id (or in the path: the two must agree)."}
	incrementDoc = logical.Field{Name: "increment", Type: logical.TypeDuration, Description: "The TTL to ask for, from now (the engine and max TTL may cap it)."}
	syncDoc      = logical.Field{Name: "sync", Type: logical.TypeBool, Description: "Accepted for Vault clients; revocation is always synchronous."}
	pathIDDoc    = logical.Field{Name: "url_lease_id", InPath: true, Description: "The lease's id, instead of lease_id in the body."}
	prefixDoc    = logical.Field{Name: "prefix", InPath: true, Description: "The lease id prefix: a mount, a role, or any leading part of ids."}
)

var (
	lookupDocs = logical.Fields{leaseIDDoc}
	renewDocs  = logical.Fields{pathIDDoc, leaseIDDoc, incrementDoc}
	revokeDocs = logical.Fields{pathIDDoc, leaseIDDoc, syncDoc}
	prefixDocs = logical.Fields{prefixDoc, syncDoc, {Name: "path_prefix", Description: "Accepted when it repeats the path's prefix (node-vault sends it)."}}
	forceDocs  = logical.Fields{prefixDoc}
	countDocs  = logical.Fields{{Name: "type", Description: "irrevocable to count only the leases whose revocation gave up; any other value counts all."}}
	stateDocs  = logical.Fields{{Name: "type", Description: "irrevocable (the default) or revoke_pending: the state of the leases listed."}}
)

func (b backend) routes() []logical.Route {
	write := func(h logical.Handler) ops { return ops{logical.UpdateOperation: h} }
	renew := write(func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		return b.renew(ctx, req, p["url_lease_id"])
	})
	revoke := write(func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		return b.revoke(ctx, req, p["url_lease_id"])
	})
	revokePrefix := write(b.revokePrefix)
	revokeForce := write(b.revokeForce)
	return []logical.Route{
		{Pattern: "leases/lookup", Ops: ops{logical.UpdateOperation: b.lookup, logical.ListOperation: b.list},
			Synopsis: "Read a lease's properties, or list every lease id (LIST needs sudo).", Fields: lookupDocs},
		{Pattern: "leases/lookup/{prefix*}", Sudo: true, Ops: ops{logical.ListOperation: b.list},
			Synopsis: "List the lease ids under a prefix (needs sudo).", Fields: logical.Fields{prefixDoc}},
		{Pattern: "leases/renew/{url_lease_id*}", Ops: renew, Synopsis: "Renew a lease.", Fields: renewDocs},
		{Pattern: "renew/{url_lease_id*}", Ops: renew, Synopsis: "Renew a lease (legacy path of sys/leases/renew).", Fields: renewDocs},
		{Pattern: "leases/revoke/{url_lease_id*}", Ops: revoke, Synopsis: "Revoke a lease.", Fields: revokeDocs},
		{Pattern: "revoke/{url_lease_id*}", Ops: revoke, Synopsis: "Revoke a lease (legacy path of sys/leases/revoke).", Fields: revokeDocs},
		{Pattern: "leases/revoke-prefix/{prefix*}", Sudo: true, Ops: revokePrefix, Synopsis: "Revoke every lease under a prefix (needs sudo).", Fields: prefixDocs},
		{Pattern: "revoke-prefix/{prefix*}", Sudo: true, Ops: revokePrefix, Synopsis: "Revoke every lease under a prefix (legacy path; needs sudo).", Fields: prefixDocs},
		{Pattern: "leases/revoke-force/{prefix*}", Sudo: true, Ops: revokeForce,
			Synopsis:    "Forget every lease under a prefix without revoking it at its engine (needs sudo).",
			Description: "For credentials whose engine can no longer revoke them: the leases are removed, the credentials may live on.",
			Fields:      forceDocs},
		{Pattern: "revoke-force/{prefix*}", Sudo: true, Ops: revokeForce, Synopsis: "Forget every lease under a prefix (legacy path; needs sudo).", Fields: forceDocs},
		{Pattern: "leases/tidy", Ops: write(b.tidy), Synopsis: "Requeue the revocation of expired leases that failed."},
		{Pattern: "leases/count", Ops: ops{logical.ReadOperation: b.count}, Synopsis: "Count the leases, by state.", Fields: countDocs},
		{Pattern: "leases", Sudo: true, Ops: ops{logical.ReadOperation: b.listState, logical.ListOperation: b.listState},
			Synopsis: "List the leases whose revocation is pending or gave up (needs sudo).", Fields: stateDocs},
	}
}

func (b backend) list(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	return &logical.Response{Data: map[string]any{"keys": b.m.List(p["prefix"])}}, nil
}

func (b backend) revokePrefix(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	// node-vault sends the prefix again as path_prefix: accepted only
	// when it repeats the path's.
	if err := prefixDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	prefix := p["prefix"]
	if pp, ok, err := logical.Str(req.Data, "path_prefix"); err != nil {
		return nil, err
	} else if ok && pp != prefix {
		return nil, logical.BadRequest("path_prefix %q does not match the path's prefix", pp)
	}
	if prefix == "" {
		return nil, logical.BadRequest("missing prefix")
	}
	_, err := b.m.RevokePrefix(ctx, prefix)
	return nil, err
}

func (b backend) revokeForce(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := forceDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	if p["prefix"] == "" {
		return nil, logical.BadRequest("missing prefix")
	}
	_, err := b.m.ForceRevoke(ctx, p["prefix"])
	return nil, err
}

func (b backend) tidy(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	n, err := b.m.Tidy(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"requeued": n}, Status: http.StatusAccepted}, nil
}

func (b backend) count(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	total, pending, irrevocable := b.m.Counts()
	count := total
	if t, _, _ := logical.Str(req.Data, "type"); t == "irrevocable" {
		count = irrevocable
	}
	return &logical.Response{Data: map[string]any{
		"lease_count": count, "total": total, "revoke_pending": pending, "irrevocable": irrevocable,
	}}, nil
}

// CanonicalPath maps the legacy routes (sys/renew, sys/revoke,
// sys/revoke-prefix, sys/revoke-force) to their sys/leases/ names, so the
// core authorizes them as the paths they act on.
func (*Manager) CanonicalPath(req *logical.Request) string {
	for _, legacy := range []string{"renew", "revoke", "revoke-prefix", "revoke-force"} {
		if req.Path == legacy || strings.HasPrefix(req.Path, legacy+"/") {
			return "leases/" + req.Path
		}
	}
	return ""
}

func leaseID(req *logical.Request, fromPath string) (string, error) {
	id, _, err := logical.Str(req.Data, "lease_id")
	if err != nil {
		return "", err
	}
	switch {
	case id == "":
		id = fromPath
	case fromPath != "" && id != fromPath:
		// The policy saw the path: the body must not name another lease.
		return "", logical.BadRequest("lease_id in the body differs from the one in the path")
	}
	if id == "" {
		return "", logical.BadRequest("missing lease_id")
	}
	return id, nil
}

func (b backend) lookup(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := lookupDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	id, err := leaseID(req, "")
	if err != nil {
		return nil, err
	}
	info, ok := b.m.Lookup(id)
	if !ok {
		return nil, errNotFound
	}
	data := map[string]any{
		"id":              info.ID,
		"issue_time":      info.IssueTime.UTC().Format(time.RFC3339Nano),
		"expire_time":     info.ExpireTime.UTC().Format(time.RFC3339Nano),
		"last_renewal":    nil,
		"renewable":       info.Renewable,
		"ttl":             int64(info.TTL.Round(time.Second) / time.Second),
		"revoke_state":    info.State,
		"revoke_attempts": info.Attempts,
	}
	if !info.LastRenewal.IsZero() {
		data["last_renewal"] = info.LastRenewal.UTC().Format(time.RFC3339Nano)
	}
	if info.LastError != "" {
		data["revoke_error"] = info.LastError
	}
	return &logical.Response{Data: data}, nil
}

func (b backend) renew(ctx context.Context, req *logical.Request, fromPath string) (*logical.Response, error) {
	if err := renewDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	id, err := leaseID(req, fromPath)
	if err != nil {
		return nil, err
	}
	inc, _, err := logical.Duration(req.Data, "increment")
	if err != nil {
		return nil, err
	}
	s, warnings, err := b.m.Renew(ctx, req, id, inc)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Secret: s, Warnings: warnings}, nil
}

func (b backend) revoke(ctx context.Context, req *logical.Request, fromPath string) (*logical.Response, error) {
	if err := revokeDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	id, err := leaseID(req, fromPath)
	if err != nil {
		return nil, err
	}
	return nil, b.m.Revoke(ctx, req, id)
}

// listState answers GET sys/leases?type=irrevocable|revoke_pending with the
// leases in that state, so stuck credentials are visible.
func (b backend) listState(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	state, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if state == "" {
		state = StateIrrevocable
	}
	if state != StateIrrevocable && state != StateRevokePending {
		return nil, logical.BadRequest("field \"type\" must be irrevocable or revoke_pending")
	}
	var leases []map[string]any
	for _, e := range b.m.matching("") {
		b.m.mu.Lock()
		id, mount, s, attempts, lastErr := e.ID, e.MountPath, e.State, e.Attempts, e.LastError
		b.m.mu.Unlock()
		if s == state {
			leases = append(leases, map[string]any{"lease_id": id, "mount": mount,
				"revoke_attempts": attempts, "error": lastErr})
		}
	}
	return &logical.Response{Data: map[string]any{"leases": leases, "lease_count": len(leases)}}, nil
}
