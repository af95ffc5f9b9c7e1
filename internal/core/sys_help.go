package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// Help implements logical.Helper for sys/: a delegated service (audit,
// leases, wrapping, password policies) answers from its own routes, the
// rest from sysHelp.
func (b *sysBackend) Help(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	p := req.Path
	if p == "policies/password" || strings.HasPrefix(p, "policies/password/") {
		if h, ok := any(b.c.passwordPolicies()).(logical.Helper); ok {
			return h.Help(ctx, req)
		}
	}
	if d := delegate(b.c.active, p); d != nil {
		if h, ok := d.(logical.Helper); ok {
			return h.Help(ctx, req)
		}
	}
	return sysHelp.Help(ctx, req)
}

// sysHelp documents the sys/ paths the sys backend serves itself. Its
// routes carry help only: sysBackend.HandleRequest still dispatches them
// (moving it onto these routes is issue 12's next step).
var sysHelp = logical.NewRouter(`The system backend is built into Keyward and cannot be remounted or
disabled. It configures Keyward itself: mounts, auth methods, policies,
audit devices, leases, keys and seal state.`,
	logical.Route{Pattern: "mounts", Synopsis: "List the mounted secrets engines."},
	logical.Route{Pattern: "mounts/{path*}/tune", Synopsis: "Read or tune a secrets engine's settings.",
		Fields: tuneHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The mount path of the secrets engine."})},
	logical.Route{Pattern: "mounts/{path*}", Synopsis: "Enable, read or disable a secrets engine at a path.",
		Description: "A write enables an engine of the given type at PATH, a read returns its settings, a delete disables it and revokes its leases.",
		Fields:      mountHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path to mount the secrets engine at."})},
	logical.Route{Pattern: "auth", Synopsis: "List the enabled auth methods."},
	logical.Route{Pattern: "auth/{path*}/tune", Synopsis: "Read or tune an auth method's settings.",
		Fields: tuneHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path of the auth method, without auth/."})},
	logical.Route{Pattern: "auth/{path*}", Synopsis: "Enable, read or disable an auth method at a path.",
		Fields: mountHelpFields.With(logical.Field{Name: "path", InPath: true, Description: "The path to enable the auth method at, without auth/."})},
	logical.Route{Pattern: "remount", Synopsis: "Move a secrets engine or auth method to a new path.",
		Description: "Moves every stored entry, lease and token of the mount; the move runs in the background (sys/remount/status/ID).",
		Fields: logical.Fields{
			{Name: "from", Description: "The current mount path."},
			{Name: "to", Description: "The new mount path."},
		}},
	logical.Route{Pattern: "remount/status/{migration_id}", Synopsis: "Read the progress of a mount move."},
	logical.Route{Pattern: "policies/acl", Synopsis: "List the ACL policies."},
	logical.Route{Pattern: "policies/acl/{name}", Synopsis: "Write, read or delete an ACL policy.",
		Fields: logical.Fields{
			{Name: "name", InPath: true, Description: "The name of the policy."},
			{Name: "policy", Description: "The policy document, in HCL or JSON."},
		}},
	logical.Route{Pattern: "policy", Synopsis: "List the ACL policies (legacy path of sys/policies/acl)."},
	logical.Route{Pattern: "policy/{name}", Synopsis: "Write, read or delete an ACL policy (legacy path of sys/policies/acl/NAME).",
		Fields: logical.Fields{
			{Name: "name", InPath: true, Description: "The name of the policy."},
			{Name: "rules", Description: "The policy document, in HCL or JSON (\"policy\" is accepted too)."},
		}},
	logical.Route{Pattern: "capabilities", Synopsis: "Report a token's capabilities on paths.",
		Fields: logical.Fields{
			{Name: "token", Description: "The token to check."},
			{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."},
		}},
	logical.Route{Pattern: "capabilities-self", Synopsis: "Report the calling token's capabilities on paths.",
		Fields: logical.Fields{{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."}}},
	logical.Route{Pattern: "capabilities-accessor", Synopsis: "Report the capabilities of the token with an accessor on paths.",
		Fields: logical.Fields{
			{Name: "accessor", Description: "The accessor of the token to check."},
			{Name: "paths", Type: logical.TypeSlice, Description: "The paths to check."},
		}},
	logical.Route{Pattern: "internal/ui/mounts", Synopsis: "List the mounts the calling token can reach."},
	logical.Route{Pattern: "internal/ui/mounts/{path*}", Synopsis: "Describe the mount holding a path, if the calling token can reach it."},
	logical.Route{Pattern: "plugins/catalog", Synopsis: "List the built-in secrets engines and auth methods."},
	logical.Route{Pattern: "plugins/catalog/{type}/{name}", Synopsis: "Describe a built-in plugin.",
		Fields: logical.Fields{
			{Name: "type", InPath: true, Description: "The plugin type: secret, auth or database."},
			{Name: "name", InPath: true, Description: "The plugin name."},
		}},
	logical.Route{Pattern: "host-info", Synopsis: "Report the CPUs, CPU times, disk usage, host and memory of the machine the server runs on.",
		Description: "Vault's shape (cpu, cpu_times, disk, host, memory, timestamp); on Linux read from /proc and statfs, elsewhere only the host part."},
	logical.Route{Pattern: "config/state/sanitized", Synopsis: "Read the server's running configuration, without secrets (needs sudo)."},
	logical.Route{Pattern: "internal/specs/openapi", Synopsis: "Read the OpenAPI document of every route of the mounts the calling token can reach."},
	logical.Route{Pattern: "key-status", Synopsis: "Report the current term of the encryption keyring."},
	logical.Route{Pattern: "rotate", Synopsis: "Add a new term to the encryption keyring."},
	logical.Route{Pattern: "rotate/keyring", Synopsis: "Add a new term to the encryption keyring (OpenBao's name for sys/rotate)."},
	logical.Route{Pattern: "rotate/config", Synopsis: "Read or set automatic keyring rotation.",
		Fields: rotateHelpFields},
	logical.Route{Pattern: "rotate/keyring/config", Synopsis: "Read or set automatic keyring rotation (OpenBao's name for sys/rotate/config).",
		Fields: rotateHelpFields},
	logical.Route{Pattern: "rotate/root/init", Synopsis: "Start, read or cancel issuing new unseal key shares.", Fields: rekeyHelpFields},
	logical.Route{Pattern: "rotate/root/update", Synopsis: "Submit an unseal key share to issue new shares.", Fields: shareHelpFields},
	logical.Route{Pattern: "rotate/root/verify", Synopsis: "Verify the new unseal key shares.", Fields: shareHelpFields},
	logical.Route{Pattern: "generate-root-token/attempt", Synopsis: "Start, read or cancel generating a root token.",
		Fields: logical.Fields{
			{Name: "otp", Description: "A one-time password, encoded as the client generated it, to encode the new root token with."},
			{Name: "pgp_key", Description: "Not supported."},
		}},
	logical.Route{Pattern: "generate-root-token/update", Synopsis: "Submit an unseal key share to generate a root token.", Fields: shareHelpFields},
	logical.Route{Pattern: "decode-token", Synopsis: "Decode an encoded root token with its one-time password.",
		Fields: logical.Fields{
			{Name: "encoded_token", Description: "The encoded root token."},
			{Name: "otp", Description: "The one-time password it was encoded with."},
		}},
	logical.Route{Pattern: "seal", Synopsis: "Seal the server."},
	logical.Route{Pattern: "metrics", Synopsis: "Report the server's metrics.",
		Fields: logical.Fields{{Name: "format", Description: "prometheus for the Prometheus text format, json (the default) otherwise."}}},
	// The sealed-state endpoints: help on them needs a token and an
	// unsealed server, as in Vault.
	logical.Route{Pattern: "health", Synopsis: "Report the server's health as a status code and a body.",
		Fields: logical.Fields{
			{Name: "standbyok", Type: logical.TypeBool, Description: "Answer 200 from a standby."},
			{Name: "sealedcode", Type: logical.TypeInt, Description: "Status code while sealed.", Default: 503},
			{Name: "uninitcode", Type: logical.TypeInt, Description: "Status code while not initialized.", Default: 501},
		}},
	logical.Route{Pattern: "seal-status", Synopsis: "Report whether the server is sealed and the unseal progress."},
	logical.Route{Pattern: "init", Synopsis: "Initialize the server, or report whether it is.",
		Fields: logical.Fields{
			{Name: "secret_shares", Type: logical.TypeInt, Description: "How many unseal key shares to split the unseal key into."},
			{Name: "secret_threshold", Type: logical.TypeInt, Description: "How many shares unseal the server."},
		}},
	logical.Route{Pattern: "unseal", Synopsis: "Submit an unseal key share.",
		Fields: logical.Fields{
			{Name: "key", Description: "An unseal key share (base64 or hex)."},
			{Name: "reset", Type: logical.TypeBool, Description: "Discard the shares submitted so far."},
		}},
	logical.Route{Pattern: "leader", Synopsis: "Report the cluster leader."},
	logical.Route{Pattern: "generate-root/attempt", Synopsis: "Start, read or cancel generating a root token (Vault's name).",
		Fields: logical.Fields{{Name: "otp", Description: "A one-time password to encode the new root token with."}}},
	logical.Route{Pattern: "generate-root/update", Synopsis: "Submit an unseal key share to generate a root token (Vault's name).", Fields: shareHelpFields},
	logical.Route{Pattern: "rekey/init", Synopsis: "Start, read or cancel issuing new unseal key shares (Vault's name).", Fields: rekeyHelpFields},
	logical.Route{Pattern: "rekey/update", Synopsis: "Submit an unseal key share to issue new shares (Vault's name).", Fields: shareHelpFields},
	logical.Route{Pattern: "rekey/verify", Synopsis: "Verify the new unseal key shares (Vault's name).", Fields: shareHelpFields},
)

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
// of the services it delegates to.
func (b *sysBackend) OpenAPI(mountPoint string) map[string]any {
	doc := sysHelp.OpenAPI(mountPoint)
	paths := doc["paths"].(map[string]any)
	var svcs []any
	if a := b.c.active; a != nil {
		for _, s := range a.sysSvcs {
			svcs = append(svcs, s.backend)
		}
		if a.audit != nil {
			svcs = append(svcs, a.audit.Backend())
		}
		if a.wrapper != nil {
			svcs = append(svcs, a.wrapper.Backend())
		}
		if a.leases != nil {
			svcs = append(svcs, a.leases.Backend())
		}
	}
	svcs = append(svcs, b.c.passwordPolicies())
	for _, s := range svcs {
		if o, ok := s.(openAPIer); ok {
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
		acl, err := a.policies.acl(req.Token.Policies, nil)
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
	doc := sysHelp.OpenAPI("")
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
