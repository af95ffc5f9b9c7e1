package core

import (
	"context"
	"maps"

	"github.com/keyward/keyward/internal/logical"
)

// Inspector lets a service read what the mounts and the policy store hold,
// with no token, no ACL check, no audit entry and no event: the reports
// service builds its figures from it. It admits only read and list
// operations. That alone does not make a read harmless: some engines'
// reads act (a database mount's creds/ read creates a database user, and
// through the inspector no lease would track it; static-creds/ returns a
// password), so a caller reads only metadata, settings and role paths.
// It is valid while the core stays unsealed (the service's lifetime).
type Inspector interface {
	// Mounts returns copies of the mount table entries of both tables
	// (secrets engines, then auth methods), sorted by path.
	Mounts() []MountEntry
	// Read sends a read or list request for path (relative to the mount)
	// to the backend mounted at mountPath ("secret/", "auth/jwt/").
	Read(ctx context.Context, mountPath string, op logical.Operation, path string, data map[string]any) (*logical.Response, error)
	// Policies returns the stored ACL policies' text by name (without root).
	Policies() map[string]string
}

type inspector struct{ a *active }

func (in inspector) Mounts() []MountEntry {
	var out []MountEntry
	for _, table := range []string{tableMounts, tableAuth} {
		for _, m := range in.a.mounts.list(table) {
			e := *m.entry
			e.Options = maps.Clone(m.entry.Options)
			out = append(out, e)
		}
	}
	return out
}

func (in inspector) Read(ctx context.Context, mountPath string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	if op != logical.ReadOperation && op != logical.ListOperation {
		return nil, logical.BadRequest("inspector: operation %q is not read or list", op)
	}
	m, err := leaseEngines(in).route(mountPath)
	if err != nil {
		return nil, err
	}
	defer m.leave()
	req := leaseEngines(in).request(m)
	req.Operation, req.Path, req.Data = op, path, data
	return m.backend.HandleRequest(ctx, req)
}

func (in inspector) Policies() map[string]string {
	ps := in.a.policies
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return maps.Clone(ps.texts)
}
