package core

import (
	"context"
	"crypto/sha256"
	"maps"
	"net/http"
	"slices"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/uuid"
)

// errEntityDisabled refuses a login whose entity is disabled.
var errEntityDisabled = logical.Errorf(http.StatusForbidden, "permission denied: the entity of this login is disabled")

// authMountByAccessor finds an auth mount by accessor for the identity
// store (aliases name their mount by accessor).
func (a *active) authMountByAccessor(accessor string) (identity.Mount, bool) {
	if a.mounts == nil {
		return identity.Mount{}, false
	}
	for _, m := range a.mounts.list(tableAuth) {
		if m.entry.Accessor == accessor {
			return identity.Mount{Path: m.entry.Path, Type: m.entry.Type}, true
		}
	}
	return identity.Mount{}, false
}

// identityPolicies are the policies an entity has now: its own and its
// groups'. Shared: read only.
func (a *active) identityPolicies(entityID string) []string {
	r, ok := a.identity.Resolve(entityID)
	if !ok {
		return nil
	}
	return r.Policies
}

// withIdentityPolicies is the union of a token's policies and its
// entity's, sorted; tok itself when the entity adds none.
func withIdentityPolicies(tok, ident []string) []string {
	if len(ident) == 0 {
		return tok
	}
	out := make([]string, 0, len(tok)+len(ident))
	out = append(append(out, tok...), ident...)
	slices.Sort(out)
	return slices.Compact(out)
}

// caller is what the ACL of a token is built from at this request: the
// token's policies, the entity's current ones and the template identity.
type caller struct {
	policies []string
	identity []string
	ident    *policy.Identity
	disabled bool
}

// callerOf resolves te's entity in the identity store. A token whose
// entity was deleted keeps its own policies and renders no templates.
func (a *active) callerOf(te *token.Entry) caller {
	c := caller{policies: te.Policies}
	if te.EntityID == "" {
		c.ident = legacyIdentity(a, te)
		return c
	}
	r, ok := a.identity.Resolve(te.EntityID)
	if !ok {
		return c
	}
	c.identity, c.disabled = r.Policies, r.Disabled
	c.policies = withIdentityPolicies(te.Policies, r.Policies)
	c.ident = r.Identity
	// The token's alias at its own mount renders with the metadata the
	// token was issued with (the claims of its own login), even after a
	// later login of the same alias changed the alias's metadata.
	if te.Alias != "" {
		if m := a.issuer(te.Path, te.CreationTime); m != nil {
			if al, ok := r.Identity.Aliases[m.entry.Accessor]; ok && al.Name == te.Alias && !maps.Equal(al.Metadata, te.Meta) {
				id := *r.Identity
				id.Aliases = maps.Clone(r.Identity.Aliases)
				id.Aliases[m.entry.Accessor] = policy.Alias{Name: te.Alias, Metadata: te.Meta}
				c.ident = &id
			}
		}
	}
	return c
}

// aclFor compiles the ACL of te at this request; a disabled entity's
// token is refused.
func (a *active) aclFor(te *token.Entry) (*policy.ACL, error) {
	c := a.callerOf(te)
	if c.disabled {
		return nil, logical.ErrPermissionDenied
	}
	return a.policies.acl(c.policies, c.ident)
}

// legacyIdentity is the identity of a token issued before it carried an
// entity id: its alias at the mount that issued it, with the token
// metadata as alias metadata, and an entity id derived from the mount and
// alias (the id a first login now gives the entity it creates).
func legacyIdentity(a *active, te *token.Entry) *policy.Identity {
	if te.Alias == "" {
		return nil
	}
	m := a.issuer(te.Path, te.CreationTime)
	if m == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(m.entry.Accessor + "\x00" + te.Alias))
	return &policy.Identity{
		EntityID:   uuid.Format([16]byte(sum[:16])),
		EntityName: te.Alias,
		Aliases:    map[string]policy.Alias{m.entry.Accessor: {Name: te.Alias, Metadata: te.Meta}},
	}
}

// loginIdentity finds or creates the entity of a login's alias and
// refreshes its external groups (identity.Store.Login). An Auth without an
// alias has no entity.
func (a *active) loginIdentity(ctx context.Context, m *mount, au *logical.Auth) (*identity.Resolved, error) {
	if au.Alias == "" {
		return nil, nil
	}
	r, err := a.identity.Login(ctx, identity.LoginInput{
		MountAccessor: m.entry.Accessor,
		Alias:         au.Alias,
		Name:          au.DisplayName,
		Metadata:      au.Metadata,
		GroupAliases:  au.GroupAliases,
	})
	if err != nil {
		return nil, err
	}
	if r.Disabled {
		return nil, errEntityDisabled
	}
	au.EntityID = r.EntityID
	return r, nil
}
