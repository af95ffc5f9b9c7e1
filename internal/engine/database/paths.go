package database

import (
	"context"

	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The database secrets engine issues short-lived database users (roles,
creds) and rotates the passwords of existing users (static-roles,
static-creds) for PostgreSQL, MySQL/MariaDB and Redis, and rotates its own
root credentials.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var nameDoc = func(what string) logical.Field {
	return logical.Field{Name: "name", InPath: true, Description: "The name of the " + what + "."}
}

var configDocs = logical.Fields{
	nameDoc("connection"),
	{Name: "plugin_name", Description: "postgresql-database-plugin, mysql-database-plugin (or its aurora, rds and legacy names), mariadb-database-plugin or redis-database-plugin."},
	{Name: "connection_url", Description: "The connection string, with {{username}} and {{password}} where the credentials go."},
	{Name: "username", Description: "The root user the engine connects as."},
	{Name: "password", Description: "The root user's password (never returned; rotate it with rotate-root)."},
	{Name: "allowed_roles", Type: logical.TypeSlice, Description: "Roles that may use this connection (\"*\" for all; empty: none)."},
	{Name: "max_open_connections", Type: logical.TypeInt, Description: "Most connections open to the database at once (at most 1000).", Default: 4},
	{Name: "verify_connection", Type: logical.TypeBool, Description: "Connect once on write, so a wrong URL or password is reported at once.", Default: true},
	{Name: "password_policy", Description: "The password policy (sys/policies/password) generated passwords follow (default: 20 characters of letters and digits)."},
	{Name: "username_template", Description: "A template for generated user names."},
	{Name: "root_rotation_statements", Type: logical.TypeSlice, Description: "Statements that change the root password (default: the plugin's)."},
	{Name: "plugin_version", Description: "Empty or a built-in version; anything else is refused (the plugins are built in)."},
	{Name: "max_idle_connections", Type: logical.TypeInt, Description: "Must be 0 (accepted for Vault clients; idle pooling is not supported)."},
	{Name: "max_connection_lifetime", Type: logical.TypeDuration, Description: "Must be 0 (accepted for Vault clients; not supported)."},
}

var roleDocs = logical.Fields{
	nameDoc("role"),
	{Name: "db_name", Description: "The connection (config/NAME) the role's users are created on."},
	{Name: "creation_statements", Type: logical.TypeSlice, Description: "Statements that create a user, with {{name}}, {{password}} and {{expiration}}."},
	{Name: "revocation_statements", Type: logical.TypeSlice, Description: "Statements that drop a user (default: the plugin's)."},
	{Name: "rollback_statements", Type: logical.TypeSlice, Description: "Statements run when creation fails half way."},
	{Name: "renew_statements", Type: logical.TypeSlice, Description: "Statements that extend a user's expiration on renewal."},
	{Name: "default_ttl", Type: logical.TypeDuration, Description: "Lease TTL of the credentials (default: the mount's)."},
	{Name: "max_ttl", Type: logical.TypeDuration, Description: "Longest lifetime of the credentials, renewals included (default: the mount's)."},
	{Name: "credential_type", Description: "password, the only type served.", Default: "password"},
}

var staticDocs = logical.Fields{
	nameDoc("static role"),
	{Name: "db_name", Description: "The connection (config/NAME) the user lives on."},
	{Name: "username", Description: "The existing database user whose password is rotated."},
	{Name: "alternate_username", Description: "A second user that takes turns with username, so the previous password keeps working until the next rotation."},
	{Name: "rotation_period", Type: logical.TypeDuration, Description: "Rotate this often (or set rotation_schedule)."},
	{Name: "rotation_schedule", Description: "A cron schedule of rotations (five fields, UTC)."},
	{Name: "rotation_window", Type: logical.TypeDuration, Description: "How long after a scheduled time a missed rotation may still run."},
	{Name: "rotation_statements", Type: logical.TypeSlice, Description: "Statements that change the password (default: the plugin's)."},
	{Name: "credential_type", Description: "password, the only type served.", Default: "password"},
}

func (b *Backend) routes() []logical.Route {
	write := func(h logical.Handler) ops { return ops{logical.UpdateOperation: h} }
	return []logical.Route{
		{Pattern: "config", Ops: ops{logical.ListOperation: b.list("config/"), logical.ReadOperation: b.list("config/")},
			Synopsis: "List the configured connections."},
		{Pattern: "config/{name}",
			Ops:      ops{logical.ReadOperation: named(b.readConfig), logical.UpdateOperation: named(b.writeConfigReq), logical.DeleteOperation: named(b.deleteConfig)},
			Synopsis: "Configure, read or delete a database connection.", Fields: configDocs},
		{Pattern: "roles", Ops: ops{logical.ListOperation: b.list("role/"), logical.ReadOperation: b.list("role/")},
			Synopsis: "List the roles."},
		{Pattern: "roles/{name}",
			Ops:      ops{logical.ReadOperation: named(b.readRole), logical.UpdateOperation: named(b.writeRoleReq), logical.DeleteOperation: named(b.deleteRole)},
			Synopsis: "Create, read or delete a role that issues short-lived users.", Fields: roleDocs},
		{Pattern: "creds/{name}", Ops: ops{logical.ReadOperation: named(b.creds)},
			Synopsis: "Create a user for a role, leased.", Fields: logical.Fields{nameDoc("role")}},
		{Pattern: "static-roles", Ops: ops{logical.ListOperation: b.list("static-role/"), logical.ReadOperation: b.list("static-role/")},
			Synopsis: "List the static roles."},
		{Pattern: "static-roles/{name}",
			Ops:      ops{logical.ReadOperation: named(b.readStatic), logical.UpdateOperation: named(b.writeStaticReq), logical.DeleteOperation: named(b.deleteStatic)},
			Synopsis: "Create, read or delete a static role: an existing user whose password is rotated.", Fields: staticDocs},
		{Pattern: "static-creds/{name}", Ops: ops{logical.ReadOperation: named(b.staticCredsReq)},
			Synopsis: "Read the current password of a static role's user.", Fields: logical.Fields{nameDoc("static role")}},
		{Pattern: "rotate-role/{name}", Ops: write(named(b.rotateRoleReq)),
			Synopsis: "Rotate a static role's password now.", Fields: logical.Fields{nameDoc("static role")}},
		{Pattern: "rotate-root/{name}", Ops: write(named(b.rotateRootReq)),
			Synopsis: "Rotate a connection's root password; only the engine knows the new one.", Fields: logical.Fields{nameDoc("connection")}},
		{Pattern: "reset/{name}", Ops: write(named(b.reset)),
			Synopsis: "Close a connection, so the next request reconnects with its stored config.", Fields: logical.Fields{nameDoc("connection")}},
	}
}

// named wraps fn for a route over one named object: the name checked.
func named(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		if err := validName(p["name"]); err != nil {
			return nil, err
		}
		return fn(ctx, req, p["name"])
	}
}

func (b *Backend) list(prefix string) logical.Handler {
	return func(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
		keys, err := b.view.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"keys": keys}}, nil
	}
}

func (b *Backend) staticCredsReq(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	return b.staticCreds(ctx, name)
}

func (b *Backend) rotateRoleReq(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	return nil, b.rotateStatic(ctx, name, true)
}

func (b *Backend) rotateRootReq(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	return nil, b.rotateRoot(ctx, name)
}

func (b *Backend) reset(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	if _, ok, err := b.loadConfig(ctx, name); err != nil || !ok {
		return nil, orNotFound(err, "config", name)
	}
	b.dropConn(name)
	return nil, nil
}
