package token

import (
	"context"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// CreateFromAuth turns the Auth returned by an auth method's login into a
// token. parent is nil for the usual orphan login token. path is the login
// path ("auth/jwt/login"). It adds "default" unless a.NoDefaultPolicy,
// refuses the root policy, caps the TTL by a.MaxTTL (the mount or role max)
// and the store's max, and fills a.ClientToken, a.Accessor, a.Policies,
// a.TokenPolicies, a.TTL, a.Renewable, a.Orphan and a.TokenType.
//
// a.TokenType is the type to issue: TypeBatch, or TypeService for "" and
// anything else a role may hold (the core resolves a role's default-* type
// with the mount's first; see tokenparams.Resolve). A batch login refuses a
// period or use limit instead of dropping it.
func (s *Store) CreateFromAuth(ctx context.Context, a *logical.Auth, parent *Entry, path string) (string, *Entry, error) {
	if a == nil {
		return "", nil, logical.BadRequest("login returned no auth")
	}
	in := a.Policies
	if len(in) == 0 {
		in = a.TokenPolicies
	}
	pols, err := normalizePolicies("policies", in)
	if err != nil {
		return "", nil, err
	}
	if slices.Contains(pols, "root") {
		return "", nil, forbidden("auth methods cannot create root tokens")
	}
	if a.NoDefaultPolicy {
		pols = slices.DeleteFunc(pols, func(p string) bool { return p == "default" })
	} else if !slices.Contains(pols, "default") {
		pols = append(pols, "default")
		slices.Sort(pols)
	}
	if len(pols) == 0 {
		return "", nil, logical.BadRequest("token must have at least one policy")
	}
	e := &Entry{
		Policies:       pols,
		Meta:           a.Metadata,
		DisplayName:    loginDisplayName(path, a.DisplayName),
		Path:           path,
		NumUses:        a.NumUses,
		TTL:            a.TTL,
		ExplicitMaxTTL: a.ExplicitMaxTTL,
		Period:         a.Period,
		BoundCIDRs:     slices.Clone(a.BoundCIDRs),
		Renewable:      a.Renewable,
		Orphan:         parent == nil,
		EntityID:       a.EntityID,
		Alias:          a.Alias,
		Type:           TypeService,
		maxTTL:         a.MaxTTL,
	}
	if a.TokenType == TypeBatch {
		e.Type = TypeBatch
	}
	if parent != nil {
		e.ParentAccessor = parent.Accessor
	}
	token, err := s.Create(ctx, e)
	if err != nil {
		return "", nil, err
	}
	a.ClientToken = sensitive.NewString(token)
	a.Accessor = e.Accessor
	a.Policies = slices.Clone(e.Policies)
	a.TokenPolicies = slices.Clone(e.Policies)
	a.TTL = e.TTL
	a.Period = e.Period
	a.ExplicitMaxTTL = e.ExplicitMaxTTL
	a.Orphan = e.Orphan
	a.Renewable = e.Renewable
	a.TokenType = e.Type
	out := e.clone()
	out.ID = sensitive.NewString(token)
	return token, out, nil
}

// loginDisplayName is "<method>-<name>" as Vault shows it, e.g.
// "userpass-alice" for auth/userpass/login/alice.
func loginDisplayName(path, name string) string {
	method := strings.TrimPrefix(path, "auth/")
	if i := strings.IndexByte(method, '/'); i >= 0 {
		method = method[:i]
	}
	switch {
	case method == "":
		return name
	case name == "":
		return method
	}
	return method + "-" + name
}
