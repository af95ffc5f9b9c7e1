package approle

import (
	"context"

	"github.com/keyward/keyward/internal/auth/lockout"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The AppRole auth method lets machines log in with a role_id and a
secret_id. secret_ids are stored only as keyed hashes, their use counts are
spent atomically, and every failed login answers the same error.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var roleNameDoc = logical.Field{Name: "role_name", InPath: true, Description: "The name of the role (lower case letters, digits, _ . -; folded to lower case)."}

var roleDocs = logical.Fields{
	roleNameDoc,
	{Name: "role_id", Description: "A role_id of your choosing; a random UUID when the role is created without one."},
	{Name: "bind_secret_id", Type: logical.TypeBool, Description: "Require a secret_id at login.", Default: true},
	{Name: "secret_id_ttl", Type: logical.TypeDuration, Description: "Lifetime of the secret_ids issued; 0 means they do not expire."},
	{Name: "secret_id_num_uses", Type: logical.TypeInt, Description: "Logins each secret_id allows; 0 means unlimited."},
	{Name: "secret_id_bound_cidrs", Type: logical.TypeSlice, Description: "CIDR blocks that logins with the role's secret_ids must come from."},
	{Name: "bound_cidr_list", Type: logical.TypeSlice, Description: "Deprecated name of secret_id_bound_cidrs."},
	{Name: "period", Type: logical.TypeDuration, Description: "Deprecated name of token_period."},
}.With(tokenparams.FieldDocs...)

var roleIDDocs = logical.Fields{roleNameDoc, {Name: "role_id", Description: "The role's new role_id."}}

var secretIDDocs = logical.Fields{
	roleNameDoc,
	{Name: "metadata", Description: "Metadata for the tokens of logins with this secret_id: a JSON object of strings, as a string or an object."},
	{Name: "cidr_list", Type: logical.TypeSlice, Description: "CIDR blocks that logins with this secret_id must come from (within the role's)."},
	{Name: "token_bound_cidrs", Type: logical.TypeSlice, Description: "CIDR blocks the tokens of logins with this secret_id may be used from (within the role's)."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Lifetime of this secret_id, at most the role's secret_id_ttl."},
	{Name: "num_uses", Type: logical.TypeInt, Description: "Logins this secret_id allows, at most the role's secret_id_num_uses."},
}

var customSecretIDDocs = secretIDDocs.With(logical.Field{Name: "secret_id", Description: "The secret_id to register."})

var bySecretIDDocs = logical.Fields{roleNameDoc, {Name: "secret_id", Description: "The secret_id."}}

var byAccessorDocs = logical.Fields{
	roleNameDoc,
	{Name: "secret_id_accessor", Description: "The accessor of the secret_id."},
	{Name: "role_name", Description: "Accepted when it repeats the path's role (node-vault sends it)."},
}

var loginDocs = logical.Fields{
	{Name: "role_id", Description: "The role_id of the role."},
	{Name: "secret_id", Description: "A secret_id of the role (when the role binds secret_ids)."},
}

func (b *Backend) routes() []logical.Route {
	return []logical.Route{
		{Pattern: "login", Unauthenticated: true, Ops: ops{logical.UpdateOperation: b.login},
			Synopsis:    "Log in with a role_id and a secret_id.",
			Description: "Every failed login answers the same error after the same work, whichever part was wrong.",
			Fields:      loginDocs},
		{Pattern: "role", Ops: ops{logical.ListOperation: b.listRoles}, Synopsis: "List the roles."},
		{Pattern: "config", Ops: ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Synopsis: "Read or set the mount's lockout settings.", Fields: lockout.FieldDocs},
		{Pattern: "tidy/secret-id", Ops: ops{logical.UpdateOperation: b.tidyReq},
			Synopsis: "Remove expired secret_ids and their accessors."},
		{Pattern: "role/{role_name}",
			Ops: ops{
				logical.ReadOperation:   onRole(b.readRole),
				logical.UpdateOperation: onRole(b.writeRole),
				logical.DeleteOperation: onRole(b.deleteRole),
			},
			Exists:      b.roleExists,
			Synopsis:    "Create, read, update or delete a role.",
			Description: "Deleting a role deletes its secret_ids too.",
			Fields:      roleDocs},
		{Pattern: "role/{role_name}/role-id",
			Ops:      ops{logical.ReadOperation: b.onExisting(b.readRoleID), logical.UpdateOperation: b.onExisting(b.writeRoleID)},
			Synopsis: "Read or set the role's role_id.", Fields: roleIDDocs},
		{Pattern: "role/{role_name}/secret-id",
			Ops:      ops{logical.ListOperation: b.onExisting(b.listSecretIDsOf), logical.UpdateOperation: b.onExisting(b.generateSecretID)},
			Synopsis: "Issue a secret_id for the role, or list the accessors of its secret_ids.", Fields: secretIDDocs},
		{Pattern: "role/{role_name}/custom-secret-id",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.customSecretID)},
			Synopsis: "Register a secret_id of your choosing for the role.", Fields: customSecretIDDocs},
		{Pattern: "role/{role_name}/secret-id/lookup",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.bySecretID("lookup"))},
			Synopsis: "Read the properties of a secret_id.", Fields: bySecretIDDocs},
		{Pattern: "role/{role_name}/secret-id/destroy",
			Ops: ops{
				logical.UpdateOperation: b.onExisting(b.bySecretID("destroy")),
				logical.DeleteOperation: b.onExisting(b.bySecretID("destroy")),
			},
			Synopsis: "Destroy a secret_id.", Fields: bySecretIDDocs},
		{Pattern: "role/{role_name}/secret-id-accessor/lookup",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.byAccessor("lookup"))},
			Synopsis: "Read the properties of a secret_id by its accessor.", Fields: byAccessorDocs},
		{Pattern: "role/{role_name}/secret-id-accessor/destroy",
			Ops: ops{
				logical.UpdateOperation: b.onExisting(b.byAccessor("destroy")),
				logical.DeleteOperation: b.onExisting(b.byAccessor("destroy")),
			},
			Synopsis: "Destroy a secret_id by its accessor.", Fields: byAccessorDocs},
	}
}

func (b *Backend) tidyReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	return b.tidy(ctx)
}
