package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/hostinfo"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// sysBackend serves the authenticated sys/ endpoints: the services'
// families (password policies, audit, leases, wrapping) through their own
// backends, the rest from its routes (sys_routes.go).
type sysBackend struct {
	*logical.Router
	c *Core
}

func newSysBackend(c *Core) *sysBackend {
	b := &sysBackend{c: c}
	b.Router = logical.NewRouter(sysHelpText, slices.Concat(b.routes(), c.breakGlassRoutes(), c.mfaSysRoutes(), c.controlGroupRoutes(), c.accessRoutes())...)
	return b
}

func (b *sysBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if svc := b.c.active.service(req.Path); svc != nil { // the request holds stateLock for reading
		return svc.HandleRequest(ctx, req)
	}
	return b.Router.HandleRequest(ctx, req)
}

// sysPathLists are the sys/ mount's sudo and unauthenticated paths: those
// of its own routes and of every service's, all derived from their route
// declarations (logical.Route's Sudo and Unauthenticated).
func (a *active) sysPathLists(sys logical.Backend) (sudo, unauth []string) {
	backends := []logical.Backend{sys}
	for _, s := range a.services {
		backends = append(backends, s.backend)
	}
	for _, b := range backends {
		if s, ok := b.(logical.SudoPaths); ok {
			sudo = append(sudo, s.SudoPaths()...)
		}
		if u, ok := b.(logical.Unauthenticated); ok {
			unauth = append(unauth, u.UnauthenticatedPaths()...)
		}
	}
	return sudo, unauth
}

// hostInfo answers sys/host-info in Vault's shape; a part that could not be
// read is left empty and named in the warnings.
func hostInfo() *logical.Response {
	info := hostinfo.Collect()
	return &logical.Response{Data: map[string]any{
		"timestamp": info.Timestamp.Format(time.RFC3339Nano),
		"cpu":       info.CPU,
		"cpu_times": info.CPUTimes,
		"disk":      info.Disk,
		"host":      info.Host,
		"memory":    info.Memory,
	}, Warnings: info.Warnings}
}

// CanonicalPath names the path an alias route acts on (relative to sys/):
// sys/policy/NAME is sys/policies/acl/NAME, sys/mounts/auth/PATH is
// sys/auth/PATH, and a service names its own aliases.
func (b *sysBackend) CanonicalPath(req *logical.Request) string {
	p := req.Path
	switch {
	case p == "policy" || p == "policy/":
		return "policies/acl"
	case strings.HasPrefix(p, "policy/"):
		return "policies/acl/" + strings.TrimPrefix(p, "policy/")
	case strings.HasPrefix(p, "mounts/auth/"):
		return "auth/" + strings.TrimPrefix(p, "mounts/auth/")
	case keyCanonicalPath(p) != "":
		return keyCanonicalPath(p)
	}
	if d := b.c.active.service(p); d != nil {
		if al, ok := d.(logical.Aliaser); ok {
			return al.CanonicalPath(req)
		}
	}
	return ""
}

func mountInfo(m *mount) map[string]any {
	e := m.entry
	opts := e.Options
	if opts == nil && e.Type == "kv" {
		opts = map[string]string{}
	}
	config := map[string]any{
		"default_lease_ttl": int64(e.Config.DefaultLeaseTTL / time.Second),
		"max_lease_ttl":     int64(e.Config.MaxLeaseTTL / time.Second),
		"force_no_cache":    false,
	}
	addTuned(config, e.Config)
	if e.Table == tableAuth {
		config["token_type"] = mountTokenType(e)
	}
	return map[string]any{
		"type":                    e.Type,
		"description":             e.Description,
		"accessor":                e.Accessor,
		"uuid":                    e.UUID,
		"config":                  config,
		"options":                 opts,
		"local":                   e.Local,
		"seal_wrap":               e.SealWrap,
		"external_entropy_access": false,
		"plugin_version":          "",
		"running_plugin_version":  "v" + Version + "+builtin.keyward",
	}
}

func (c *Core) listMounts(a *active, table string) *logical.Response {
	data := map[string]any{}
	for _, m := range a.mounts.list(table) {
		key := m.entry.Path
		if table == tableAuth {
			key = strings.TrimPrefix(key, "auth/")
		}
		data[key] = mountInfo(m)
	}
	return &logical.Response{Data: data}
}

// mountPath serves sys/mounts/PATH[/tune] and sys/auth/PATH[/tune].
func (c *Core) mountPath(ctx context.Context, a *active, req *logical.Request, table, p string) (*logical.Response, error) {
	tune := false
	if strings.HasSuffix(p, "/tune") {
		tune = true
		p = strings.TrimSuffix(p, "/tune")
	}
	path, err := validMountPath(p)
	if err != nil {
		return nil, err
	}
	full := path
	if table == tableAuth {
		full = "auth/" + path
	}
	if tune {
		return c.tuneMount(ctx, a, req, full)
	}
	switch req.Operation {
	case logical.ReadOperation:
		m := a.mounts.get(full)
		if m == nil || m.entry.Table != table {
			return nil, nil
		}
		return &logical.Response{Data: mountInfo(m)}, nil
	case logical.DeleteOperation:
		// sys/mounts never reaches an auth method (sys/mounts/auth/x), nor
		// sys/auth a secrets engine.
		if m := a.mounts.get(full); m == nil || m.entry.Table != table {
			return nil, nil
		}
		return nil, c.disableMount(ctx, a, full)
	case logical.UpdateOperation, logical.CreateOperation:
	default:
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "type", "description", "config", "options", "local", "seal_wrap",
		"external_entropy_access", "plugin_name", "plugin_version", "mount_point"); err != nil {
		return nil, err
	}
	if err := checkMountPoint(req.Data, path); err != nil {
		return nil, err
	}
	typ, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		return nil, logical.BadRequest("missing required field 'type'")
	}
	if err := checkMountFields(req.Data, typ); err != nil {
		return nil, err
	}
	desc, _, err := logical.Str(req.Data, "description")
	if err != nil {
		return nil, err
	}
	opts, _, err := logical.StringMap(req.Data, "options")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "generic": // Vault's old name for kv
		typ = "kv"
	case "kv-v2":
		typ = "kv"
		if opts == nil {
			opts = map[string]string{}
		}
		opts["version"] = "2"
	case "kv-v1":
		typ = "kv"
		if opts == nil {
			opts = map[string]string{}
		}
		opts["version"] = "1"
	}
	if typ == "kv" {
		if opts == nil {
			opts = map[string]string{}
		}
		if opts["version"] == "" {
			opts["version"] = "1"
		}
		if v := opts["version"]; v != "1" && v != "2" {
			return nil, logical.BadRequest("options.version must be 1 or 2")
		}
	}
	e := &MountEntry{Table: table, Path: path, Type: typ, Description: desc, Options: opts}
	if cfg, ok := req.Data["config"].(map[string]any); ok {
		if err := logical.UnknownFields(cfg, tuneFields...); err != nil {
			return nil, err
		}
		if err := checkTuneFields(cfg, e.Type); err != nil {
			return nil, err
		}
		if err := applyTune(&e.Config, cfg, c.cfg.MaxLeaseTTL); err != nil {
			return nil, err
		}
		if err := applyTokenType(e, cfg); err != nil {
			return nil, err
		}
	}
	if local, _, err := logical.Bool(req.Data, "local"); err != nil {
		return nil, err
	} else {
		e.Local = local
	}
	return nil, c.enableMount(ctx, a, e)
}

// tuneFields are the tunables Vault clients send. Each is applied
// (applyTune) or, when Keyward has no feature behind it, accepted only with
// the value that changes nothing (checkTuneFields in tune.go).
var tuneFields = []string{"default_lease_ttl", "max_lease_ttl", "description", "options", "force_no_cache",
	"audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "listing_visibility",
	"passthrough_request_headers", "allowed_response_headers", "token_type", "plugin_version",
	"user_lockout_config", "delegated_auth_accessors", "identity_token_key", "allowed_managed_keys",
	"trim_request_trailing_slashes", "override_pinned_version", "plugin_name", "environment"}

// applyTune sets the tunable fields present in data.
func applyTune(cfg *MountConfig, data map[string]any, systemMax time.Duration) error {
	def, okDef, err := durationOrSystem(data, "default_lease_ttl")
	if err != nil {
		return err
	}
	max, okMax, err := durationOrSystem(data, "max_lease_ttl")
	if err != nil {
		return err
	}
	if okDef {
		cfg.DefaultLeaseTTL = def
	}
	if okMax {
		cfg.MaxLeaseTTL = max
	}
	if cfg.MaxLeaseTTL > systemMax {
		return logical.BadRequest("max_lease_ttl cannot exceed the system maximum (%s)", systemMax)
	}
	if cfg.MaxLeaseTTL != 0 && cfg.DefaultLeaseTTL > cfg.MaxLeaseTTL {
		return logical.BadRequest("default_lease_ttl cannot exceed max_lease_ttl")
	}
	if v, ok, err := logical.Str(data, "listing_visibility"); err != nil {
		return err
	} else if ok {
		if v != "" && v != "hidden" && v != "unauth" {
			return logical.BadRequest("listing_visibility must be \"\", \"hidden\" or \"unauth\"")
		}
		cfg.ListingVisibility = v
	}
	if v, ok, err := logical.Str(data, "environment"); err != nil {
		return err
	} else if ok {
		if v != "" {
			if err := policy.ValidEnvironment(v); err != nil {
				return logical.BadRequest("environment: %v", err)
			}
		}
		cfg.Environment = v
	}
	for field, dst := range map[string]*[]string{
		"audit_non_hmac_request_keys":  &cfg.AuditNonHMACRequestKeys,
		"audit_non_hmac_response_keys": &cfg.AuditNonHMACResponseKeys,
		"passthrough_request_headers":  &cfg.PassthroughRequestHeaders,
	} {
		if v, ok, err := logical.Strings(data, field); err != nil {
			return err
		} else if ok {
			*dst = v
		}
	}
	return nil
}

// applyTokenType sets the token_type of an auth mount from data: the type
// of token its logins issue (tokenparams.Resolve weighs it against the
// role's). An empty value leaves it unchanged, as clients send every field.
// It is refused on secrets mounts and on auth/token/, whose roles and type
// field choose, as in Vault.
func applyTokenType(e *MountEntry, data map[string]any) error {
	v, ok, err := logical.Str(data, "token_type")
	if err != nil || !ok || v == "" {
		return err
	}
	if e.Table != tableAuth {
		return logical.BadRequest("token_type can only be set on auth mounts")
	}
	if e.Type == "token" {
		return logical.BadRequest("token_type cannot be set on the token auth mount: token roles and the create type field choose")
	}
	t, err := tokenparams.ParseType("token_type", v)
	if err != nil {
		return err
	}
	if t == tokenparams.TypeDefault {
		t = tokenparams.TypeDefaultService
	}
	e.Config.TokenType = t
	return nil
}

// mountTokenType is what an auth mount reports as its token_type.
func mountTokenType(e *MountEntry) string {
	if e.Config.TokenType == "" {
		return tokenparams.TypeDefaultService
	}
	return e.Config.TokenType
}

// durationOrSystem parses a TTL field where "system" means "use the default" (0).
func durationOrSystem(data map[string]any, key string) (time.Duration, bool, error) {
	if s, ok := data[key].(string); ok {
		switch s {
		case "":
			return 0, false, nil // clients send every field; empty means unchanged
		case "system":
			return 0, true, nil
		}
	}
	return logical.Duration(data, key)
}

func (c *Core) tuneMount(ctx context.Context, a *active, req *logical.Request, full string) (*logical.Response, error) {
	m := a.mounts.get(full)
	if m == nil {
		return nil, logical.BadRequest("no mount at %q", full)
	}
	switch req.Operation {
	case logical.ReadOperation:
		e := m.entry
		data := map[string]any{
			"default_lease_ttl": int64(orDefault(e.Config.DefaultLeaseTTL, c.cfg.DefaultLeaseTTL) / time.Second),
			"max_lease_ttl":     int64(orDefault(e.Config.MaxLeaseTTL, c.cfg.MaxLeaseTTL) / time.Second),
			"force_no_cache":    false,
			"description":       e.Description,
			"options":           e.Options,
		}
		addTuned(data, e.Config)
		if e.Table == tableAuth {
			data["token_type"] = mountTokenType(e)
		}
		return &logical.Response{Data: data}, nil
	case logical.UpdateOperation, logical.CreateOperation:
	default:
		return nil, logical.ErrUnsupportedOperation
	}
	if m.system {
		// The token store's TTLs are tunable, as in Vault; nothing else
		// about a system mount is.
		if full != "auth/token/" {
			return nil, logical.BadRequest("cannot tune %q", full)
		}
		if _, ok := req.Data["options"]; ok {
			return nil, logical.BadRequest("cannot set options on %q", full)
		}
		if err := systemTuneFields(req.Data, full); err != nil {
			return nil, err
		}
	}
	a.mounts.changeMu.Lock()
	defer a.mounts.changeMu.Unlock()
	a.mounts.mu.Lock()
	updated := *m.entry
	a.mounts.mu.Unlock()
	if err := logical.UnknownFields(req.Data, tuneFields...); err != nil {
		return nil, err
	}
	if err := checkTuneFields(req.Data, updated.Type); err != nil {
		return nil, err
	}
	before := updated.Config.Environment
	if err := applyTune(&updated.Config, req.Data, c.cfg.MaxLeaseTTL); err != nil {
		return nil, err
	}
	// Relabelling a mount's environment can open it to callers of another
	// environment (environment_match conditions), so it takes sudo on the
	// tune path, not just update.
	if updated.Config.Environment != before && !a.hasSudo(req.Token, req.MountPoint+req.Path, req.Operation) {
		return nil, logical.Errorf(http.StatusForbidden, "permission denied: changing a mount's environment needs sudo on %s", req.MountPoint+req.Path)
	}
	if err := applyTokenType(&updated, req.Data); err != nil {
		return nil, err
	}
	if d, ok, err := logical.Str(req.Data, "description"); err != nil {
		return nil, err
	} else if ok {
		updated.Description = d
	}
	upgrade, finish := false, false
	if opts, ok, err := logical.StringMap(req.Data, "options"); err != nil {
		return nil, err
	} else if ok {
		if v, has := opts["version"]; has && updated.Type == "kv" {
			from := kvVersion(updated.Options)
			switch {
			case v != "1" && v != "2":
				return nil, logical.BadRequest("options.version must be 1 or 2")
			case from == "2" && v == "1":
				return nil, logical.BadRequest("cannot downgrade mount from version 2")
			}
			upgrade, finish = from == "1" && v == "2", from == "2"
		}
		merged := map[string]string{}
		for k, v := range updated.Options {
			merged[k] = v
		}
		for k, v := range opts {
			merged[k] = v
		}
		updated.Options = merged
	}
	if upgrade {
		return c.upgradeKV(ctx, a, m, &updated)
	}
	a.mounts.mu.Lock()
	old := m.entry
	m.entry = &updated
	a.mounts.mu.Unlock()
	write := c.writeTable
	if m.system {
		write = c.writeSystemConfig
	}
	if err := write(ctx, a.mounts, updated.Table); err != nil {
		a.mounts.mu.Lock()
		m.entry = old
		a.mounts.mu.Unlock()
		return nil, err
	}
	if finish {
		// Asking for version 2 again finishes an interrupted upgrade.
		return nil, c.finishUpgrade(context.WithoutCancel(ctx), m)
	}
	return nil, nil
}

// kvVersion is a KV mount's version option, "1" when unset.
func kvVersion(opts map[string]string) string {
	if v := opts["version"]; v != "" {
		return v
	}
	return "1"
}

func (c *Core) policyPath(ctx context.Context, a *active, req *logical.Request, name, textField string) (*logical.Response, error) {
	if err := policy.ValidName(name); err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	switch req.Operation {
	case logical.ReadOperation:
		if name == "root" {
			return &logical.Response{Data: map[string]any{"name": "root", textField: ""}}, nil
		}
		text, ok := a.policies.get(name)
		if !ok {
			return nil, nil
		}
		return &logical.Response{Data: map[string]any{"name": name, textField: text}}, nil
	case logical.UpdateOperation, logical.CreateOperation:
		if err := logical.UnknownFields(req.Data, "policy", "rules", "name", "cas", "expiration"); err != nil {
			return nil, err
		}
		text, _, err := logical.Str(req.Data, "policy")
		if err != nil {
			return nil, err
		}
		if text == "" {
			if text, _, err = logical.Str(req.Data, "rules"); err != nil {
				return nil, err
			}
		}
		if text == "" {
			return nil, logical.BadRequest("missing required field 'policy'")
		}
		if err := a.policies.put(ctx, name, text); err != nil {
			return nil, err
		}
		c.logger.Info("policy written", "name", name)
		return nil, nil
	case logical.DeleteOperation:
		if err := a.policies.delete(ctx, name); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return nil, logical.ErrUnsupportedOperation
}

// capabilities serves sys/capabilities-self, sys/capabilities and
// sys/capabilities-accessor.
func (c *Core) capabilities(ctx context.Context, a *active, req *logical.Request, tok, accessor string) (*logical.Response, error) {
	paths, _, err := logical.Strings(req.Data, "paths")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		p, _, err := logical.Strings(req.Data, "path")
		if err != nil {
			return nil, err
		}
		paths = p
	}
	if len(paths) == 0 {
		return nil, logical.BadRequest("missing required field 'paths'")
	}
	var te *token.Entry
	var rc *policy.RequestContext
	switch {
	case accessor != "":
		e, err := a.tokens.LookupAccessor(ctx, accessor)
		if err != nil {
			return nil, logical.BadRequest("invalid accessor")
		}
		te = e
		rc = c.requestContext(e, a.callerOf(e).ident, nil) // another token: its address is unknown
	case tok != "":
		e, err := a.tokens.Lookup(ctx, tok)
		if err != nil {
			return nil, logical.BadRequest("invalid token")
		}
		te = e
		// Conditions see this request's address only when the token asks
		// about itself.
		var from *logical.Request
		if subtle.ConstantTimeCompare([]byte(tok), []byte(req.ClientToken.Reveal())) == 1 {
			from = req
		}
		rc = c.requestContext(e, a.callerOf(e).ident, from)
	default:
		return nil, logical.BadRequest("missing required field 'token'")
	}
	data := map[string]any{}
	var all []string
	for _, p := range paths {
		cp, err := policy.CleanPath(p)
		if err != nil {
			return nil, logical.BadRequest("invalid path %q", p)
		}
		var caps []string
		if isRoot(te.Policies) {
			caps = []string{"root"}
		} else {
			acl, err := a.aclFor(te)
			switch {
			case errors.Is(err, logical.ErrPermissionDenied):
				caps = []string{"deny"} // a disabled entity's token
			case err != nil:
				return nil, err
			default:
				rc.PathEnvironment = a.pathEnvironment(cp)
				caps = acl.CapabilitiesRequest(cp, rc)
			}
		}
		data[p] = caps
		all = append(all, caps...)
	}
	if len(paths) == 1 {
		data["capabilities"] = data[paths[0]]
	} else {
		sort.Strings(all)
		data["capabilities"] = compactStrings(all)
	}
	return &logical.Response{Data: data}, nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// uiMounts serves sys/internal/ui/mounts[/PATH], which the vault CLI uses to
// learn a mount's KV version. It authenticates the token itself (the path is
// unauthenticated in the routing table so the probe never needs a grant),
// with the same checks as any request, and shows only the mounts the token
// can reach.
func (c *Core) uiMounts(ctx context.Context, a *active, req *logical.Request, p string) (*logical.Response, error) {
	if req.ClientToken.Empty() {
		return nil, logical.ErrPermissionDenied
	}
	remote := ""
	if req.Connection != nil {
		remote = req.Connection.RemoteAddr
	}
	te, err := a.tokens.Use(ctx, req.ClientToken.Reveal(), remote)
	if err != nil {
		return nil, logical.ErrPermissionDenied
	}
	root := isRoot(te.Policies)
	var acl *policy.ACL
	if !root {
		if acl, err = a.aclFor(te); err != nil {
			return nil, err
		}
	}
	visible := func(m *mount) bool { return root || acl.HasAccessUnder(m.entry.Path) }
	if p == "" {
		secret := map[string]any{}
		for _, m := range a.mounts.list(tableMounts) {
			if visible(m) {
				secret[m.entry.Path] = mountInfo(m)
			}
		}
		auth := map[string]any{}
		for _, m := range a.mounts.list(tableAuth) {
			if visible(m) {
				auth[strings.TrimPrefix(m.entry.Path, "auth/")] = mountInfo(m)
			}
		}
		return &logical.Response{Data: map[string]any{"secret": secret, "auth": auth}}, nil
	}
	m := a.mounts.route(p)
	if m == nil && root {
		return nil, logical.BadRequest("no mount at %q", p)
	}
	if m == nil || !visible(m) {
		return nil, logical.ErrPermissionDenied
	}
	info := mountInfo(m)
	info["path"] = m.entry.Path
	return &logical.Response{Data: info}, nil
}
