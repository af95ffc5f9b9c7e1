package token

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The token store is the auth method every token comes from: it creates
tokens (directly, as orphans or through a role), looks them up, renews and
revokes them, and manages token roles. It is always mounted at auth/token/.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var createDocs = logical.Fields{
	{Name: "policies", Type: logical.TypeSlice, Description: "Policies of the new token: a subset of the caller's unless root or sudo (default: the caller's)."},
	{Name: "meta", Type: logical.TypeKVPairs, Description: "Metadata of the new token (at most 64 entries)."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Initial TTL of the new token."},
	{Name: "lease", Type: logical.TypeDuration, Description: "Deprecated name of ttl."},
	{Name: "explicit_max_ttl", Type: logical.TypeDuration, Description: "A hard limit on the token's lifetime, renewals included."},
	{Name: "period", Type: logical.TypeDuration, Description: "Makes the token periodic (root, sudo or a role only)."},
	{Name: "renewable", Type: logical.TypeBool, Description: "Whether the token can be renewed.", Default: true},
	{Name: "num_uses", Type: logical.TypeInt, Description: "How many requests the token may make; 0 means unlimited."},
	{Name: "no_default_policy", Type: logical.TypeBool, Description: "Do not add the default policy."},
	{Name: "no_parent", Type: logical.TypeBool, Description: "Create an orphan token (root or sudo only)."},
	{Name: "display_name", Description: "Display name of the token."},
	{Name: "id", Description: "The token's value (root or sudo only)."},
	{Name: "type", Description: "service or batch (default: the role's, else service)."},
	{Name: "entity_alias", Description: "Not supported by Keyward: accepted empty only."},
}

var createRoleDocs = createDocs.With(logical.Field{Name: "role_name", InPath: true, Description: "The token role whose bounds the new token gets."})

var (
	tokenDoc     = logical.Field{Name: "token", Description: "The token."}
	accessorDoc  = logical.Field{Name: "accessor", Description: "The accessor of the token."}
	incrementDoc = logical.Field{Name: "increment", Type: logical.TypeDuration, Description: "The TTL to ask for, from now (default: the token's TTL)."}
	selfDoc      = logical.Field{Name: "token", Description: "Accepted and ignored, as in Vault: the calling token is the one acted on."}
)

var roleNameDoc = logical.Field{Name: "role_name", InPath: true, Description: "The name of the token role."}

var roleDocs = logical.Fields{
	roleNameDoc,
	{Name: "allowed_policies", Type: logical.TypeSlice, Description: "Policies the role's tokens may carry (trimmed and lower-cased; never root); empty: any of the caller's."},
	{Name: "disallowed_policies", Type: logical.TypeSlice, Description: "Policies the role's tokens may never carry."},
	{Name: "orphan", Type: logical.TypeBool, Description: "The role's tokens have no parent."},
	{Name: "renewable", Type: logical.TypeBool, Description: "The role's tokens can be renewed.", Default: true},
	{Name: "path_suffix", Description: "A suffix for the path of the role's tokens, to revoke them by prefix."},
}.With(tokenparams.Docs("token_explicit_max_ttl", "token_period", "token_bound_cidrs", "token_no_default_policy", "token_type")...).With(
	logical.Field{Name: "explicit_max_ttl", Type: logical.TypeDuration, Description: "Deprecated name of token_explicit_max_ttl."},
	logical.Field{Name: "period", Type: logical.TypeDuration, Description: "Deprecated name of token_period."},
	logical.Field{Name: "bound_cidrs", Type: logical.TypeSlice, Description: "Deprecated name of token_bound_cidrs."},
	logical.Field{Name: "allowed_policies_glob", Type: logical.TypeSlice, Description: "Not supported by Keyward: accepted empty only."},
	logical.Field{Name: "disallowed_policies_glob", Type: logical.TypeSlice, Description: "Not supported by Keyward: accepted empty only."},
	logical.Field{Name: "allowed_entity_aliases", Type: logical.TypeSlice, Description: "Not supported by Keyward: accepted empty only."},
	logical.Field{Name: "token_num_uses", Type: logical.TypeInt, Description: "Not supported by Keyward: accepted as 0 only."},
)

var rotateDocs = logical.Fields{
	{Name: "revoke_existing", Type: logical.TypeBool, Description: "End every batch token sealed with the old key."},
}

func (b *backend) routes() []logical.Route {
	write := func(h logical.Handler) ops { return ops{logical.UpdateOperation: h} }
	return []logical.Route{
		{Pattern: "create", Ops: write(b.createPlain), Synopsis: "Create a token, a child of the calling token.", Fields: createDocs},
		{Pattern: "create-orphan", Ops: write(b.createOrphan), Synopsis: "Create a token without a parent (root or sudo, or an orphan role).", Fields: createDocs},
		{Pattern: "create/{role_name}", Ops: write(b.createWithRole), Synopsis: "Create a token through a token role.", Fields: createRoleDocs},
		{Pattern: "lookup", Ops: write(b.checked("lookup", lookupDocs, b.lookup)), Synopsis: "Read a token's properties.", Fields: lookupDocs},
		{Pattern: "lookup-self",
			Ops:      ops{logical.ReadOperation: b.checked("lookup-self", lookupSelfDocs, b.lookup), logical.UpdateOperation: b.checked("lookup-self", lookupSelfDocs, b.lookup)},
			Synopsis: "Read the calling token's properties.", Fields: lookupSelfDocs},
		{Pattern: "lookup-accessor", Ops: write(b.checked("lookup-accessor", lookupAccessorDocs, b.lookup)),
			Synopsis: "Read a token's properties by its accessor.", Fields: lookupAccessorDocs},
		{Pattern: "renew", Ops: write(b.checked("renew", renewDocs, b.renew)), Synopsis: "Renew a token.", Fields: renewDocs},
		{Pattern: "renew-self", Ops: write(b.checked("renew-self", renewSelfDocs, b.renew)), Synopsis: "Renew the calling token.", Fields: renewSelfDocs},
		{Pattern: "renew-accessor", Ops: write(b.checked("renew-accessor", renewAccessorDocs, b.renew)),
			Synopsis: "Renew a token by its accessor.", Fields: renewAccessorDocs},
		{Pattern: "revoke", Ops: write(b.checked("revoke", revokeDocs, b.revokeResp)), Synopsis: "Revoke a token and its children.", Fields: revokeDocs},
		{Pattern: "revoke-self", Ops: write(b.checked("revoke-self", nil, b.revokeResp)), Synopsis: "Revoke the calling token and its children."},
		{Pattern: "revoke-accessor", Ops: write(b.checked("revoke-accessor", revokeAccessorDocs, b.revokeResp)),
			Synopsis: "Revoke a token and its children by its accessor.", Fields: revokeAccessorDocs},
		{Pattern: "revoke-orphan", Sudo: true, Ops: write(b.checked("revoke-orphan", revokeDocs, b.revokeResp)),
			Synopsis: "Revoke a token and make its children orphans.", Fields: revokeDocs},
		{Pattern: "accessors", Sudo: true, Ops: ops{logical.ListOperation: b.listAccessorsReq}, Synopsis: "List the accessors of every token."},
		{Pattern: "roles", Ops: ops{logical.ListOperation: b.listRoles}, Synopsis: "List the token roles."},
		{Pattern: "roles/{role_name}",
			Ops: ops{
				logical.ReadOperation:   onRole(b.readRole),
				logical.UpdateOperation: onRole(b.writeRole),
				logical.DeleteOperation: onRole(b.deleteRole),
			},
			Exists:   b.roleExists,
			Synopsis: "Create, read, update or delete a token role.", Fields: roleDocs},
		{Pattern: "batch-key", Sudo: true, Ops: ops{logical.ReadOperation: b.readBatchKey},
			Synopsis: "Read the state of the key batch tokens are sealed with (never the key)."},
		{Pattern: "batch-key/rotate", Sudo: true, Ops: write(b.rotateBatchKey),
			Synopsis: "Rotate the key batch tokens are sealed with.", Fields: rotateDocs},
		{Pattern: "tidy", Ops: write(b.tidy), Synopsis: "Remove expired tokens and the index entries they left."},
	}
}

var (
	lookupDocs         = logical.Fields{tokenDoc}
	lookupSelfDocs     = logical.Fields{selfDoc}
	lookupAccessorDocs = logical.Fields{accessorDoc}
	renewDocs          = logical.Fields{tokenDoc, incrementDoc}
	renewSelfDocs      = logical.Fields{selfDoc, incrementDoc}
	renewAccessorDocs  = logical.Fields{accessorDoc, incrementDoc}
	revokeDocs         = logical.Fields{tokenDoc}
	revokeAccessorDocs = logical.Fields{accessorDoc}
)

// checked wraps a lookup, renew or revoke handler: the request's fields
// checked against docs, then fn for the endpoint named path.
func (b *backend) checked(path string, docs logical.Fields, fn func(ctx context.Context, req *logical.Request, path string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
		if err := docs.Unknown(req.Data); err != nil {
			return nil, err
		}
		return fn(ctx, req, path)
	}
}

func (b *backend) revokeResp(ctx context.Context, req *logical.Request, path string) (*logical.Response, error) {
	return nil, b.revoke(ctx, req, path)
}

func (b *backend) createPlain(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if strings.HasSuffix(req.Path, "/") {
		// Not a plain create: a grant on create/* means "through a
		// role", and must never skip the role's bounds.
		return nil, logical.BadRequest("missing role name in auth/token/create/ROLE")
	}
	return b.create(ctx, req, false, "")
}

func (b *backend) createOrphan(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return b.create(ctx, req, true, "")
}

func (b *backend) createWithRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.create(ctx, req, false, p["role_name"])
}

func (b *backend) listAccessorsReq(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	return b.listAccessors(ctx)
}

func (b *backend) readBatchKey(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	return &logical.Response{Data: b.s.batchKeyInfo()}, nil
}

func (b *backend) rotateBatchKey(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := rotateDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	drop, _, err := logical.Bool(req.Data, "revoke_existing")
	if err != nil {
		return nil, err
	}
	if _, err := b.s.RotateBatchKey(ctx, drop); err != nil {
		return nil, err
	}
	return &logical.Response{Data: b.s.batchKeyInfo()}, nil
}

func (b *backend) tidy(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	n, err := b.s.Sweep(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"removed": n}}, nil
}
