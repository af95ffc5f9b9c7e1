package jwt

import (
	"context"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The jwt auth method (also mounted as oidc) logs in workloads with a JWT
their platform issued (CI jobs' OIDC tokens, Kubernetes service account
tokens), verified against a JWKS, OIDC discovery or static keys, and bound
by a role's audience and claim constraints.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var configDocs = logical.Fields{
	{Name: "oidc_discovery_url", Description: "Issuer URL whose OIDC discovery document names the JWKS (one of oidc_discovery_url, jwks_url, jwt_validation_pubkeys)."},
	{Name: "oidc_discovery_ca_pem", Description: "PEM CA certificates to verify the discovery URL with (default: the system's)."},
	{Name: "jwks_url", Description: "URL of the JWKS to verify tokens with."},
	{Name: "jwks_ca_pem", Description: "PEM CA certificates to verify the JWKS URL with (default: the system's)."},
	{Name: "jwt_validation_pubkeys", Type: logical.TypeSlice, Description: "PEM public keys to verify tokens with, instead of fetching keys."},
	{Name: "bound_issuer", Description: "The iss claim every token must carry."},
	{Name: "jwt_supported_algs", Type: logical.TypeSlice, Description: "Signature algorithms accepted (default: the RSA, RSA-PSS, ECDSA and EdDSA ones; HMAC and none never)."},
	{Name: "default_role", Description: "The role of a login that names none."},
	{Name: "allow_private_network", Type: logical.TypeBool, Description: "Allow discovery and JWKS URLs on loopback, private or link-local addresses.", Default: false},
	{Name: "jwks_cache_ttl", Type: logical.TypeDuration, Description: "How long fetched keys are used before they are fetched again.", Default: "1h"},
	{Name: "jwks_min_refresh_interval", Type: logical.TypeDuration, Description: "Least time between two fetches caused by an unknown key id.", Default: "1m"},
	{Name: "oidc_client_id", Description: "Accepted for Vault clients, empty only: the OIDC browser flow is not supported."},
	{Name: "oidc_client_secret", Description: "Accepted for Vault clients, empty only."},
	{Name: "oidc_response_mode", Description: "Accepted for Vault clients, empty only."},
	{Name: "oidc_response_types", Type: logical.TypeSlice, Description: "Accepted for Vault clients, empty only."},
	{Name: "provider_config", Type: logical.TypeMap, Description: "Accepted for Vault clients, empty only."},
	{Name: "namespace_in_state", Type: logical.TypeBool, Description: "Accepted for Vault clients; no effect."},
}

var roleNameDoc = logical.Field{Name: "name", InPath: true, Description: "The name of the role (letters, digits, . _ -)."}

var roleDocs = logical.Fields{
	roleNameDoc,
	{Name: "role_type", Description: "jwt (the only type served; oidc is refused).", Default: "jwt"},
	{Name: "bound_audiences", Type: logical.TypeSlice, Description: "Audiences one of which the aud claim must hold (required unless allow_any_audience)."},
	{Name: "allow_any_audience", Type: logical.TypeBool, Description: "Accept a token whatever its audience.", Default: false},
	{Name: "bound_subject", Description: "The sub claim a token must carry."},
	{Name: "bound_claims", Type: logical.TypeMap, Description: "Claims a token must carry: each key a claim (or a JSON pointer), each value one or a list of accepted values."},
	{Name: "bound_claims_type", Description: "string (exact values) or glob (values with *).", Default: "string"},
	{Name: "claim_mappings", Type: logical.TypeKVPairs, Description: "Claims copied into the token's metadata: claim name to metadata key."},
	{Name: "user_claim", Description: "The claim that names the caller (the alias)."},
	{Name: "user_claim_json_pointer", Type: logical.TypeBool, Description: "Read user_claim as a JSON pointer."},
	{Name: "groups_claim", Description: "A claim holding the caller's groups, copied comma-joined into the token's groups metadata; a login without it is refused."},
	{Name: "environment", Description: "The environment (prod, staging...) every login with this role gets, for policy conditions; stored as the token's environment metadata."},
	{Name: "environment_claim", Description: "A claim to read the caller's environment from (GitHub: environment, GitLab: environment_scope), lower-cased; a login without a valid value is refused."},
	{Name: "allow_unbound", Type: logical.TypeBool, Description: "Allow a role that binds no scope claim (repository, project, namespace, sub...): any tenant of the issuer could log in.", Default: false},
	{Name: "clock_skew_leeway", Type: logical.TypeDuration, Description: "Tolerance for differences between the issuer's clock and this server's (at most 10m).", Default: "1m"},
	{Name: "expiration_leeway", Type: logical.TypeDuration, Description: "Tolerance for exp behind this server's clock (at most 10m)."},
	{Name: "not_before_leeway", Type: logical.TypeDuration, Description: "Tolerance for nbf ahead of this server's clock (at most 10m)."},
}.With(tokenparams.FieldDocs...)

var loginDocs = logical.Fields{
	{Name: "role", Description: "The role to log in with (default: the config's default_role)."},
	{Name: "jwt", Description: "The signed JWT."},
}

func (b *Backend) routes() []logical.Route {
	return []logical.Route{
		{Pattern: "login", Unauthenticated: true, Ops: ops{logical.UpdateOperation: b.login},
			Synopsis: "Log in with a signed JWT.", Fields: loginDocs},
		{Pattern: "config",
			Ops: ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Exists: func(ctx context.Context, req *logical.Request, _ logical.Params) (bool, error) {
				raw, err := req.Storage.Get(ctx, configKey)
				return raw != nil, err
			},
			Synopsis:    "Read or set where the keys that verify tokens come from.",
			Description: "A write fetches discovery and the JWKS once, so a wrong URL or CA is reported at once.",
			Fields:      configDocs},
		{Pattern: "role", Ops: ops{logical.ListOperation: b.listRoles}, Synopsis: "List the roles."},
		{Pattern: "role/{name}",
			Ops: ops{
				logical.ReadOperation:   roleNamed(b.readRole),
				logical.UpdateOperation: roleNamed(b.writeRole),
				logical.DeleteOperation: roleNamed(b.deleteRole),
			},
			Exists: func(ctx context.Context, req *logical.Request, p logical.Params) (bool, error) {
				raw, err := req.Storage.Get(ctx, roleKey(p["name"]))
				return raw != nil, err
			},
			Synopsis:    "Create, read, update or delete a role.",
			Description: "A write answers with warnings for the high-severity findings of role/NAME/lint.",
			Fields:      roleDocs},
		{Pattern: "role/{name}/lint", Ops: ops{logical.ReadOperation: roleNamed(b.lintRole)},
			Synopsis: "Report the weaknesses of a role: unbound audiences, claims a tenant can choose, long TTLs.",
			Fields:   logical.Fields{roleNameDoc}},
	}
}

// roleNamed wraps fn for a role/{name} route.
func roleNamed(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		if !validName(p["name"]) {
			return nil, logical.BadRequest("invalid role name")
		}
		return fn(ctx, req, p["name"])
	}
}

func (b *Backend) listRoles(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	names, err := listRoles(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": names}}, nil
}

func (b *Backend) readRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, err := b.loadRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: r.view()}, nil
}

func (b *Backend) deleteRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	return nil, req.Storage.Delete(ctx, roleKey(name))
}
