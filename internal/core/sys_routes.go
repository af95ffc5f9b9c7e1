package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Help implements logical.Helper for sys/: a service answers from its own
// routes, the rest from the sys/ routes.
func (b *sysBackend) Help(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if d := b.c.active.service(req.Path); d != nil {
		if h, ok := d.(logical.Helper); ok {
			return h.Help(ctx, req)
		}
	}
	return b.Router.Help(ctx, req)
}

const sysHelpText = `The system backend is built into Keyward and cannot be remounted or
disabled. It configures Keyward itself: mounts, auth methods, policies,
audit devices, leases, keys and seal state.`

// routes are the sys/ paths the sys backend serves itself (relative to
// sys/); the sys/ mount's sudo and unauthenticated lists derive from their
// flags and the services' (sysPathLists). The sealed-state endpoints at
// the end are answered before the pipeline (handleSealedPaths) and carry
// help only.
func (b *sysBackend) routes() []logical.Route {
	c := b.c
	return []logical.Route{
		{Pattern: "mounts", Ops: ops{logical.ReadOperation: c.listMountsReq(tableMounts), logical.ListOperation: c.listMountsReq(tableMounts)}, Synopsis: "List the mounted secrets engines."},
		{Pattern: "mounts/{path*}/tune", Ops: ops{logical.ReadOperation: c.mountReq(tableMounts, "/tune"), logical.UpdateOperation: c.mountReq(tableMounts, "/tune")}, Synopsis: "Read or tune a secrets engine's settings.",
			Fields: tuneHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The mount path of the secrets engine."})},
		{Pattern: "mounts/{path*}", Ops: ops{logical.ReadOperation: c.mountReq(tableMounts, ""), logical.UpdateOperation: c.mountReq(tableMounts, ""), logical.DeleteOperation: c.mountReq(tableMounts, "")}, Synopsis: "Enable, read or disable a secrets engine at a path.",
			Description: "A write enables an engine of the given type at PATH, a read returns its settings, a delete disables it and revokes its leases.",
			Fields:      mountHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path to mount the secrets engine at."})},
		{Pattern: "auth", Ops: ops{logical.ReadOperation: c.listMountsReq(tableAuth), logical.ListOperation: c.listMountsReq(tableAuth)}, Synopsis: "List the enabled auth methods."},
		{Pattern: "auth/{path*}/tune", Sudo: true, Ops: ops{logical.ReadOperation: c.mountReq(tableAuth, "/tune"), logical.UpdateOperation: c.mountReq(tableAuth, "/tune")}, Synopsis: "Read or tune an auth method's settings.",
			Fields: tuneHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path of the auth method, without auth/."})},
		{Pattern: "auth/{path*}", Sudo: true, Ops: ops{logical.ReadOperation: c.mountReq(tableAuth, ""), logical.UpdateOperation: c.mountReq(tableAuth, ""), logical.DeleteOperation: c.mountReq(tableAuth, "")}, Synopsis: "Enable, read or disable an auth method at a path.",
			Fields: mountHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path to enable the auth method at, without auth/."})},
		{Pattern: "remount", Sudo: true, Ops: ops{logical.UpdateOperation: c.remountReq}, Synopsis: "Move a secrets engine or auth method to a new path.",
			Description: "Moves every stored entry, lease and token of the mount; the move runs in the background (sys/remount/status/ID).",
			Fields: logical.Fields{
				{Name: "from", Description: "The current mount path."},
				{Name: "to", Description: "The new mount path."},
			}},
		{Pattern: "remount/status/{migration_id}", Ops: ops{logical.ReadOperation: c.remountStatusReq}, Synopsis: "Read the progress of a mount move."},
		{Pattern: "policies/explain", Sudo: true, Ops: ops{logical.UpdateOperation: c.explainReq}, Synopsis: "Explain which policy rule allows or denies a request, and which conditions held.",
			Fields: explainFields},
		{Pattern: "policies/who-can", Sudo: true, Ops: ops{logical.UpdateOperation: c.whoCanReq}, Synopsis: "List the policies and auth roles that could perform an operation on a path.",
			Fields: whoCanFields},
		{Pattern: "policies/acl", Ops: ops{logical.ReadOperation: c.policyNames(false), logical.ListOperation: c.policyNames(false)}, Synopsis: "List the ACL policies."},
		{Pattern: "policies/acl/{name*}", Ops: ops{logical.ReadOperation: c.policyReq("policy"), logical.UpdateOperation: c.policyReq("policy"), logical.DeleteOperation: c.policyReq("policy")}, Synopsis: "Write, read or delete an ACL policy.",
			Fields: logical.Fields{
				{Name: "name", InPath: true, Description: "The name of the policy."},
				{Name: "policy", Description: "The policy document, in HCL or JSON."},
			}},
		{Pattern: "policy", Ops: ops{logical.ReadOperation: c.policyNames(true), logical.ListOperation: c.policyNames(true)}, Synopsis: "List the ACL policies (legacy path of sys/policies/acl)."},
		{Pattern: "policy/{name*}", Ops: ops{logical.ReadOperation: c.policyReq("rules"), logical.UpdateOperation: c.policyReq("rules"), logical.DeleteOperation: c.policyReq("rules")}, Synopsis: "Write, read or delete an ACL policy (legacy path of sys/policies/acl/NAME).",
			Fields: logical.Fields{
				{Name: "name", InPath: true, Description: "The name of the policy."},
				{Name: "rules", Description: "The policy document, in HCL or JSON (\"policy\" is accepted too)."},
			}},
		{Pattern: "capabilities", Ops: ops{logical.ReadOperation: c.capabilitiesReq, logical.UpdateOperation: c.capabilitiesReq}, Synopsis: "Report a token's capabilities on paths.",
			Fields: logical.Fields{
				{Name: "token", Description: "The token to check."},
				{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."},
			}},
		{Pattern: "capabilities-self", Ops: ops{logical.ReadOperation: c.capabilitiesReq, logical.UpdateOperation: c.capabilitiesReq}, Synopsis: "Report the calling token's capabilities on paths.",
			Fields: logical.Fields{{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."}}},
		{Pattern: "capabilities-accessor", Ops: ops{logical.ReadOperation: c.capabilitiesReq, logical.UpdateOperation: c.capabilitiesReq}, Synopsis: "Report the capabilities of the token with an accessor on paths.",
			Fields: logical.Fields{
				{Name: "accessor", Description: "The accessor of the token to check."},
				{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."},
			}},
		{Pattern: "internal/ui/mounts/{path*}", Unauthenticated: true, Ops: ops{logical.ReadOperation: c.uiMountsReq, logical.ListOperation: c.uiMountsReq}, Synopsis: "Describe the mount holding a path, if the calling token can reach it."},
		{Pattern: "step-down", Sudo: true, Ops: ops{logical.UpdateOperation: c.stepDownReq}, Synopsis: "Make the active node give up the active role.",
			Description: "The node stops serving as active and another node takes over; a lone node becomes active again after a short pause."},
		{Pattern: "plugins/catalog", Ops: ops{logical.ReadOperation: c.catalogReq, logical.ListOperation: c.catalogReq},
			Synopsis: "List the built-in secrets engines, auth methods and database plugins."},
		{Pattern: "plugins/catalog/{rest*}", Sudo: true, Ops: ops{logical.ReadOperation: c.catalogReq, logical.ListOperation: c.catalogReq, logical.UpdateOperation: c.catalogReq, logical.DeleteOperation: c.catalogReq},
			Synopsis:    "List the built-in secrets engines, auth methods and database plugins, or describe one.",
			Description: "sys/plugins/catalog lists them all, sys/plugins/catalog/TYPE (secret, auth, database) one type, sys/plugins/catalog/TYPE/NAME one plugin. Registering a plugin is refused: Keyward has no external plugins.",
			Fields: logical.Fields{
				{Name: "rest", InPath: true, Description: "Empty, TYPE, or TYPE/NAME (NAME alone is Vault's legacy form)."},
			}},
		{Pattern: "host-info", Ops: ops{logical.ReadOperation: hostInfoReq}, Synopsis: "Report the CPUs, CPU times, disk usage, host and memory of the machine the server runs on.",
			Description: "Vault's shape (cpu, cpu_times, disk, host, memory, timestamp); on Linux read from /proc and statfs, elsewhere only the host part."},
		{Pattern: "config/state/sanitized", Sudo: true, Ops: ops{logical.ReadOperation: c.sanitizedConfig}, Synopsis: "Read the server's running configuration, without secrets (needs sudo)."},
		{Pattern: "internal/specs/openapi", Ops: ops{logical.ReadOperation: c.openAPIReq}, Synopsis: "Read the OpenAPI document of every route of the mounts the calling token can reach."},
		{Pattern: "storage/raft/snapshot", Sudo: true, Ops: ops{logical.ReadOperation: c.backupReq, logical.UpdateOperation: c.restoreReq(false)},
			Synopsis:    "Stream a consistent snapshot of the raft storage, or restore one.",
			Description: "A read streams a snapshot: a header (format version, cluster ID, storage type, creation time, keyring term), the state machine file as barrier ciphertext, and a SHA-256 over both. A write restores one sent as the request body; it is checked whole first, and a snapshot of another cluster is refused (see snapshot-force)."},
		{Pattern: "storage/raft/snapshot-force", Sudo: true, Ops: ops{logical.UpdateOperation: c.restoreReq(true)},
			Synopsis: "Restore a snapshot even if it is of another cluster; the node then seals and needs that cluster's unseal keys."},
		{Pattern: "storage/backup", Sudo: true, Ops: ops{logical.ReadOperation: c.backupReq}, Synopsis: "Stream a consistent backup of the storage while serving (bolt storage only).",
			Description: "The body is a Keyward backup stream: a header (format version, cluster ID, storage type, creation time, keyring term), the bolt file as barrier ciphertext, and a SHA-256 over both. Restore it offline with keyward operator backup restore."},
		{Pattern: "key-status", Ops: ops{logical.ReadOperation: c.keyStatus}, Synopsis: "Report the current term of the encryption keyring."},
		{Pattern: "rotate", Sudo: true, Ops: ops{logical.UpdateOperation: c.keyed}, Synopsis: "Add a new term to the encryption keyring."},
		{Pattern: "rotate/keyring", Sudo: true, Ops: ops{logical.UpdateOperation: c.keyed}, Synopsis: "Add a new term to the encryption keyring (OpenBao's name for sys/rotate)."},
		{Pattern: "rotate/config", Sudo: true, Ops: ops{logical.ReadOperation: c.keyed, logical.UpdateOperation: c.keyed}, Synopsis: "Read or set automatic keyring rotation.",
			Fields: rotateHelpFields},
		{Pattern: "rotate/keyring/config", Sudo: true, Ops: ops{logical.ReadOperation: c.keyed, logical.UpdateOperation: c.keyed}, Synopsis: "Read or set automatic keyring rotation (OpenBao's name for sys/rotate/config).",
			Fields: rotateHelpFields},
		{Pattern: "rotate/root/init", Sudo: true, Ops: ops{logical.ReadOperation: c.keyed, logical.UpdateOperation: c.keyed, logical.DeleteOperation: c.keyed}, Synopsis: "Start, read or cancel issuing new unseal key shares.", Fields: rekeyHelpFields},
		{Pattern: "rotate/root/update", Sudo: true, Ops: ops{logical.UpdateOperation: c.keyed}, Synopsis: "Submit an unseal key share to issue new shares.", Fields: shareHelpFields},
		{Pattern: "rotate/root/verify", Sudo: true, Ops: ops{logical.ReadOperation: c.keyed, logical.UpdateOperation: c.keyed, logical.DeleteOperation: c.keyed}, Synopsis: "Verify the new unseal key shares.", Fields: shareHelpFields},
		{Pattern: "generate-root-token/attempt", Sudo: true, Ops: ops{logical.ReadOperation: c.keyed, logical.UpdateOperation: c.keyed, logical.DeleteOperation: c.keyed}, Synopsis: "Start, read or cancel generating a root token.",
			Fields: logical.Fields{
				{Name: "otp", Description: "A one-time password, encoded as the client generated it, to encode the new root token with."},
				{Name: "pgp_key", Description: "Not supported."},
			}},
		{Pattern: "generate-root-token/update", Sudo: true, Ops: ops{logical.UpdateOperation: c.keyed}, Synopsis: "Submit an unseal key share to generate a root token.", Fields: shareHelpFields},
		{Pattern: "decode-token", Ops: ops{logical.UpdateOperation: c.keyed}, Synopsis: "Decode an encoded root token with its one-time password.",
			Fields: logical.Fields{
				{Name: "encoded_token", Description: "The encoded root token."},
				{Name: "otp", Description: "The one-time password it was encoded with."},
			}},
		{Pattern: "seal", Sudo: true, Ops: ops{logical.UpdateOperation: sealReq}, Synopsis: "Seal the server."},
		// The sealed-state endpoints: help on them needs a token and an
		// unsealed server, as in Vault.
		{Pattern: "health", Synopsis: "Report the server's health as a status code and a body.",
			Fields: logical.Fields{
				{Name: "standbyok", Type: logical.TypeBool, Description: "Answer 200 from a standby."},
				{Name: "sealedcode", Type: logical.TypeInt, Description: "Status code while sealed.", Default: 503},
				{Name: "uninitcode", Type: logical.TypeInt, Description: "Status code while not initialized.", Default: 501},
			}},
		{Pattern: "seal-status", Synopsis: "Report whether the server is sealed and the unseal progress."},
		{Pattern: "init", Synopsis: "Initialize the server, or report whether it is.",
			Fields: logical.Fields{
				{Name: "secret_shares", Type: logical.TypeInt, Description: "How many unseal key shares to split the unseal key into."},
				{Name: "secret_threshold", Type: logical.TypeInt, Description: "How many shares unseal the server."},
			}},
		{Pattern: "unseal", Synopsis: "Submit an unseal key share.",
			Fields: logical.Fields{
				{Name: "key", Description: "An unseal key share (base64 or hex)."},
				{Name: "reset", Type: logical.TypeBool, Description: "Discard the shares submitted so far."},
			}},
		{Pattern: "leader", Synopsis: "Report the cluster leader."},
		{Pattern: "generate-root/attempt", Synopsis: "Start, read or cancel generating a root token (Vault's name).",
			Fields: logical.Fields{{Name: "otp", Description: "A one-time password to encode the new root token with."}}},
		{Pattern: "generate-root/update", Synopsis: "Submit an unseal key share to generate a root token (Vault's name).", Fields: shareHelpFields},
		{Pattern: "rekey/init", Synopsis: "Start, read or cancel issuing new unseal key shares (Vault's name).", Fields: rekeyHelpFields},
		{Pattern: "rekey/update", Synopsis: "Submit an unseal key share to issue new shares (Vault's name).", Fields: shareHelpFields},
		{Pattern: "rekey/verify", Synopsis: "Verify the new unseal key shares (Vault's name).", Fields: shareHelpFields},
	}
}

var mountHelpFields = logical.Fields{
	{Name: "type", Description: "The type of the backend, such as kv, database, userpass."},
	{Name: "description", Description: "A human-friendly description."},
	{Name: "config", Type: logical.TypeMap, Description: "Tunables, as for PATH/tune."},
	{Name: "options", Type: logical.TypeKVPairs, Description: "Options of the backend (kv: version)."},
	{Name: "local", Type: logical.TypeBool, Description: "Accepted for compatibility; every mount is local to this cluster."},
}

var tuneHelpFields = logical.Fields{
	{Name: "default_lease_ttl", Type: logical.TypeDuration, Description: "The default lease TTL of the mount."},
	{Name: "max_lease_ttl", Type: logical.TypeDuration, Description: "The maximum lease TTL of the mount."},
	{Name: "description", Description: "A human-friendly description."},
	{Name: "options", Type: logical.TypeKVPairs, Description: "Options of the backend (kv: version, to upgrade to 2)."},
	{Name: "audit_non_hmac_request_keys", Type: logical.TypeSlice, Description: "Request keys the audit log records unhashed."},
	{Name: "audit_non_hmac_response_keys", Type: logical.TypeSlice, Description: "Response keys the audit log records unhashed."},
	{Name: "passthrough_request_headers", Type: logical.TypeSlice, Description: "Request headers passed to the backend."},
	{Name: "token_type", Description: "Auth methods: the type of token logins issue (default-service, default-batch, service, batch)."},
}

var rotateHelpFields = logical.Fields{
	{Name: "enabled", Type: logical.TypeBool, Description: "Rotate automatically."},
	{Name: "max_operations", Type: logical.TypeInt, Description: "Rotate after this many encryptions."},
	{Name: "interval", Type: logical.TypeDuration, Description: "Rotate after this long."},
}

var rekeyHelpFields = logical.Fields{
	{Name: "secret_shares", Type: logical.TypeInt, Description: "How many new shares to issue."},
	{Name: "secret_threshold", Type: logical.TypeInt, Description: "How many of the new shares unseal the server."},
	{Name: "require_verification", Type: logical.TypeBool, Description: "Keep the old shares until the new ones are verified."},
}

var shareHelpFields = logical.Fields{
	{Name: "key", Description: "An unseal key share (base64 or hex)."},
	{Name: "nonce", Description: "The nonce of the operation in progress."},
}

// OpenAPI returns the OpenAPI document of sys/: its own families and those
// of its services.
func (b *sysBackend) OpenAPI(mountPoint string) map[string]any {
	doc := b.Router.OpenAPI(mountPoint)
	paths := doc["paths"].(map[string]any)
	var svcs []builtService
	if a := b.c.active; a != nil {
		svcs = a.services
	}
	for _, s := range svcs {
		if o, ok := s.backend.(openAPIer); ok {
			maps.Copy(paths, o.OpenAPI(mountPoint)["paths"].(map[string]any))
		}
	}
	return doc
}

// openAPIer is a backend that describes its routes as OpenAPI
// (logical.Router.OpenAPI).
type openAPIer interface {
	OpenAPI(mountPoint string) map[string]any
}

// openAPI answers sys/internal/specs/openapi: one OpenAPI document of the
// routes of every mount the caller's token can reach, as the body itself
// (Vault's shape).
func (c *Core) openAPI(a *active, req *logical.Request) (*logical.Response, error) {
	visible := func(*mount) bool { return true }
	if req.Token != nil && !req.Token.Root {
		acl, err := a.policies.acl(withIdentityPolicies(req.Token.Policies, req.Token.IdentityPolicies), nil)
		if err != nil {
			return nil, err
		}
		visible = func(m *mount) bool { return acl.HasAccessUnder(m.entry.Path) }
	}
	paths := map[string]any{}
	for _, table := range []string{tableMounts, tableAuth} {
		for _, m := range a.mounts.list(table) {
			if o, ok := m.backend.(openAPIer); ok && visible(m) {
				maps.Copy(paths, o.OpenAPI(m.entry.Path)["paths"].(map[string]any))
			}
		}
	}
	doc := logical.NewRouter("").OpenAPI("")
	doc["paths"] = paths
	if info, ok := doc["info"].(map[string]any); ok {
		info["version"] = Version
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi: %w", err)
	}
	return &logical.Response{Raw: raw, ContentType: "application/json", Status: http.StatusOK}, nil
}

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

// The sys/ handlers below adapt the endpoint functions to logical.Handler.
// Each runs while the request holds stateLock for reading, so c.active is
// the unsealed state.

func (c *Core) listMountsReq(table string) logical.Handler {
	return func(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
		return c.listMounts(c.active, table), nil
	}
}

// mountReq serves sys/mounts/PATH and sys/auth/PATH, with suffix "/tune"
// for their tune routes.
func (c *Core) mountReq(table, suffix string) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		return c.mountPath(ctx, c.active, req, table, p["path"]+suffix)
	}
}

func (c *Core) remountReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return c.remount(ctx, c.active, req)
}

func (c *Core) remountStatusReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return c.remountStatus(ctx, req, p["migration_id"])
}

// policyNames lists the ACL policies; legacy adds Vault's old "policies"
// key (sys/policy).
func (c *Core) policyNames(legacy bool) logical.Handler {
	return func(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
		names := c.active.policies.names()
		if legacy {
			return &logical.Response{Data: map[string]any{"policies": names, "keys": names}}, nil
		}
		return &logical.Response{Data: map[string]any{"keys": names}}, nil
	}
}

// policyReq serves one ACL policy, its text under textField ("policy", or
// "rules" on the legacy sys/policy/NAME).
func (c *Core) policyReq(textField string) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		return c.policyPath(ctx, c.active, req, p["name"], textField)
	}
}

func (c *Core) capabilitiesReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	a := c.active
	switch req.Path {
	case "capabilities":
		tok, _, err := logical.Str(req.Data, "token")
		if err != nil {
			return nil, err
		}
		return c.capabilities(ctx, a, req, tok, "")
	case "capabilities-accessor":
		acc, _, err := logical.Str(req.Data, "accessor")
		if err != nil {
			return nil, err
		}
		return c.capabilities(ctx, a, req, "", acc)
	}
	return c.capabilities(ctx, a, req, req.ClientToken.Reveal(), "")
}

func (c *Core) uiMountsReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return c.uiMounts(ctx, c.active, req, p["path"])
}

func (c *Core) catalogReq(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return c.pluginCatalog(req, p["rest"])
}

func (c *Core) keyStatus(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	term, installed, enc := c.barrier.KeyStatus()
	return &logical.Response{Data: map[string]any{"term": term, "install_time": installed.UTC().Format(time.RFC3339Nano), "encryptions": enc}}, nil
}

// keyed serves the key management routes through keyPaths.
func (c *Core) keyed(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	resp, handled, err := c.keyPaths(ctx, req)
	if !handled {
		return nil, logical.ErrUnsupportedPath
	}
	return resp, err
}

func sealReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	return nil, errSealRequested
}

func hostInfoReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	return hostInfo(), nil
}

func (c *Core) sanitizedConfig(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	data := c.cfg.SanitizedConfig
	if data == nil {
		data = map[string]any{}
	}
	return &logical.Response{Data: data}, nil
}

func (c *Core) openAPIReq(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return c.openAPI(c.active, req)
}

func (c *Core) stepDownReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	if err := c.stepDownLocked(); err != nil {
		return nil, err
	}
	return &logical.Response{Status: http.StatusNoContent}, nil
}
