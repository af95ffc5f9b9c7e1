package jwt

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// Metadata keys a login always sets besides the role's claim_mappings.
const (
	MetaRole = "role"
	// MetaGroups holds the groups_claim values, comma-joined, when the role
	// sets groups_claim.
	MetaGroups = "groups"
	// MetaEnvironment holds the caller's environment when the role sets
	// environment or environment_claim; policy conditions read it.
	MetaEnvironment = "environment"
)

// login verifies req.Data["jwt"] against the role in req.Data["role"] (or
// the config's default_role) and returns the Auth the core turns into a
// token. Every refusal is a 403 naming the failed check; none echoes the
// token or a claim value.
func (b *Backend) login(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := loginDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	token, _, err := logical.Str(req.Data, "jwt")
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, logical.BadRequest("missing jwt")
	}
	roleName, _, err := logical.Str(req.Data, "role")
	if err != nil {
		return nil, err
	}
	st, err := b.state(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, logical.BadRequest("the jwt auth method is not configured (write auth/<mount>/config first)")
	}
	if roleName == "" {
		roleName = st.cfg.DefaultRole
	}
	if roleName == "" {
		return nil, logical.BadRequest("missing role")
	}
	if !validName(roleName) {
		return nil, logical.BadRequest("invalid role name")
	}
	role, err := b.loadRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, logical.BadRequest("role %q could not be found", roleName)
	}
	claims, err := b.validate(ctx, st, role, token)
	if err != nil {
		return nil, denied(err)
	}
	auth, err := authFor(roleName, role, claims)
	if err != nil {
		return nil, denied(err)
	}
	return &logical.Response{Auth: auth}, nil
}

// denied turns a token refusal into a 403 with its reason; other errors
// (storage, internal) pass through.
func denied(err error) error {
	var te *tokenError
	if errors.As(err, &te) {
		return logical.Errorf(http.StatusForbidden, "permission denied: %s", te.msg)
	}
	return logical.Errorf(http.StatusForbidden, "permission denied: signing keys unavailable: %v", err)
}

// validate runs every check on token for role and returns its claims.
func (b *Backend) validate(ctx context.Context, st *state, role *Role, token string) (map[string]any, error) {
	claims, err := verify(token, st.cfg.algs(), func(h Header) ([]jose.JSONWebKey, error) { return st.keys.find(ctx, h) })
	if err != nil {
		return nil, err
	}
	if err := checkTimes(claims, b.now(), leeways{role.ClockSkewLeeway, role.ExpirationLeeway, role.NotBeforeLeeway}); err != nil {
		return nil, err
	}
	wantIss := st.cfg.BoundIssuer
	if wantIss == "" {
		if wantIss, err = st.keys.issuerFromDiscovery(ctx); err != nil {
			return nil, err
		}
	}
	if wantIss != "" {
		if iss, _ := claims["iss"].(string); iss != wantIss {
			return nil, refuse("token issuer does not match the configured issuer")
		}
	}
	auds, err := audiences(claims)
	if err != nil {
		return nil, err
	}
	if len(role.BoundAudiences) > 0 {
		if len(auds) == 0 {
			return nil, refuse("token has no audience; the role requires one of bound_audiences")
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(role.BoundAudiences, a) }) {
			return nil, refuse("token audience does not match the role's bound_audiences")
		}
	}
	if role.BoundSubject != "" {
		if sub, _ := claims["sub"].(string); sub != role.BoundSubject {
			return nil, refuse("token subject does not match the role's bound_subject")
		}
	}
	glob := role.BoundClaimsType == "glob"
	for _, k := range slices.Sorted(maps.Keys(role.BoundClaims)) {
		v, present := lookupClaim(claims, k)
		if !present {
			return nil, refuse("claim %q is missing; the role binds it", k)
		}
		if !matchBound(v, present, role.BoundClaims[k], glob) {
			return nil, refuse("claim %q does not match the role's bound_claims", k)
		}
	}
	return claims, nil
}

// authFor builds the login's Auth: the user claim is the alias and display
// name, claim_mappings become metadata (with "role" always set).
func authFor(roleName string, role *Role, claims map[string]any) (*logical.Auth, error) {
	userKey := role.UserClaim
	if !role.UserClaimJSONPointer && strings.HasPrefix(userKey, "/") {
		userKey = "/" + strings.ReplaceAll(strings.ReplaceAll(userKey, "~", "~0"), "/", "~1")
	}
	uv, ok := lookupClaim(claims, userKey)
	user, isScalar := scalarString(uv)
	if !ok || !isScalar || user == "" {
		return nil, refuse("user_claim %q is missing or not a string", role.UserClaim)
	}
	meta := map[string]string{MetaRole: roleName}
	for _, claim := range slices.Sorted(maps.Keys(role.ClaimMappings)) {
		v, ok := lookupClaim(claims, claim)
		if !ok {
			continue
		}
		s, ok := scalarString(v)
		if !ok {
			return nil, refuse("claim_mappings: claim %q is not a string, number or boolean", claim)
		}
		meta[role.ClaimMappings[claim]] = s
	}
	var groups []string
	if role.GroupsClaim != "" {
		v, ok := lookupClaim(claims, role.GroupsClaim)
		if !ok {
			return nil, refuse("groups_claim %q is missing", role.GroupsClaim)
		}
		for _, g := range claimValues(v) {
			groups = append(groups, g.text)
		}
		// An empty list is a caller in no group; anything else that
		// yields no value is malformed.
		if l, isList := v.([]any); len(groups) == 0 && (!isList || len(l) > 0) {
			return nil, refuse("groups_claim %q is not a string or a list of strings", role.GroupsClaim)
		}
		meta[MetaGroups] = strings.Join(groups, ",")
	}
	switch {
	case role.Environment != "":
		meta[MetaEnvironment] = role.Environment
	case role.EnvironmentClaim != "":
		v, ok := lookupClaim(claims, role.EnvironmentClaim)
		env, isScalar := scalarString(v)
		env = strings.ToLower(env)
		if !ok || !isScalar || !validEnvironment(env) {
			return nil, refuse("environment_claim %q is missing or not an environment name (a-z, 0-9, '.', '_', '-')", role.EnvironmentClaim)
		}
		meta[MetaEnvironment] = env
	}
	a := role.Token.Auth()
	a.Metadata = meta
	a.DisplayName = user
	a.Alias = user
	// The groups are matched against the group aliases on this mount:
	// the entity is in exactly the external groups they name.
	a.GroupAliases = groups
	return a, nil
}
