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
// list before a request gets here; renew and revoke additionally require
// the caller's token to be the one that created the lease, or root (T13).
func (m *Manager) Backend() logical.Backend { return backend{m} }

type backend struct{ m *Manager }

func isWrite(op logical.Operation) bool {
	return op == logical.UpdateOperation || op == logical.CreateOperation
}

func (b backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	p, op := req.Path, req.Operation
	switch {
	case p == "leases/lookup" && isWrite(op):
		return b.lookup(req)
	case strings.HasPrefix(p, "leases/lookup/") || p == "leases/lookup":
		if op != logical.ListOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		keys := b.m.List(strings.TrimPrefix(strings.TrimPrefix(p, "leases/lookup"), "/"))
		return &logical.Response{Data: map[string]any{"keys": keys}}, nil
	case p == "leases/renew" || p == "renew" || strings.HasPrefix(p, "leases/renew/") || strings.HasPrefix(p, "renew/"):
		if !isWrite(op) {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.renew(ctx, req, idFromPath(p, "leases/renew", "renew"))
	case p == "leases/revoke" || strings.HasPrefix(p, "leases/revoke/") || strings.HasPrefix(p, "revoke/"):
		if !isWrite(op) {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.revoke(ctx, req, idFromPath(p, "leases/revoke", "revoke"))
	case strings.HasPrefix(p, "leases/revoke-prefix/") || strings.HasPrefix(p, "revoke-prefix/"):
		if !isWrite(op) {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data, "sync"); err != nil {
			return nil, err
		}
		prefix := idFromPath(p, "leases/revoke-prefix", "revoke-prefix")
		if prefix == "" {
			return nil, logical.BadRequest("missing prefix")
		}
		_, err := b.m.RevokePrefix(ctx, prefix)
		return nil, err
	case strings.HasPrefix(p, "leases/revoke-force/") || strings.HasPrefix(p, "revoke-force/"):
		if !isWrite(op) {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data); err != nil {
			return nil, err
		}
		prefix := idFromPath(p, "leases/revoke-force", "revoke-force")
		if prefix == "" {
			return nil, logical.BadRequest("missing prefix")
		}
		_, err := b.m.ForceRevoke(ctx, prefix)
		return nil, err
	case p == "leases/tidy":
		if !isWrite(op) {
			return nil, logical.ErrUnsupportedOperation
		}
		n, err := b.m.Tidy(ctx)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"requeued": n}, Status: http.StatusAccepted}, nil
	case p == "leases/count":
		if op != logical.ReadOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		total, pending, irrevocable := b.m.Counts()
		count := total
		if t, _, _ := logical.Str(req.Data, "type"); t == "irrevocable" {
			count = irrevocable
		}
		return &logical.Response{Data: map[string]any{
			"lease_count": count, "total": total, "revoke_pending": pending, "irrevocable": irrevocable,
		}}, nil
	case p == "leases" || p == "leases/":
		if op != logical.ReadOperation && op != logical.ListOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.listState(req)
	}
	return nil, logical.Errorf(http.StatusNotFound, "unsupported path %q", "sys/"+p)
}

// CanonicalPath maps the legacy routes (sys/renew, sys/revoke,
// sys/revoke-prefix, sys/revoke-force) to their sys/leases/ names, so the
// core authorizes them as the paths they act on.
func (backend) CanonicalPath(req *logical.Request) string {
	for _, legacy := range []string{"renew", "revoke", "revoke-prefix", "revoke-force"} {
		if req.Path == legacy || strings.HasPrefix(req.Path, legacy+"/") {
			return "leases/" + req.Path
		}
	}
	return ""
}

// idFromPath returns the lease id or prefix after one of the path forms.
func idFromPath(p string, forms ...string) string {
	for _, f := range forms {
		if rest, ok := strings.CutPrefix(p, f+"/"); ok {
			return rest
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

func (b backend) lookup(req *logical.Request) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "lease_id"); err != nil {
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
	if err := logical.UnknownFields(req.Data, "lease_id", "increment"); err != nil {
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
	if err := logical.UnknownFields(req.Data, "lease_id", "sync"); err != nil {
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
func (b backend) listState(req *logical.Request) (*logical.Response, error) {
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
