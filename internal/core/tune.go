package core

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// Every tunable a Vault client may send is either applied (applyTune) or
// checked here: a field Keyward cannot honour is accepted only with the
// value that changes nothing, and refused otherwise, so no setting is
// accepted and then ignored.

// tokenHeaders never reach a backend, whatever a mount passes through:
// the HTTP layer strips them before the core sees the request.
var tokenHeaders = []string{"X-Vault-Token", "Authorization", "Proxy-Authorization"}

// checkTuneFields refuses tunables Keyward has no feature behind, unless
// they hold the value that changes nothing. typ is the mount's type.
func checkTuneFields(data map[string]any, typ string) error {
	// Keyward has no read cache, so every mount already behaves as with
	// force_no_cache = true: either value is accepted (as a boolean).
	if _, _, err := logical.Bool(data, "force_no_cache"); err != nil {
		return err
	}
	for _, f := range []struct{ name, why string }{
		{"allowed_response_headers", "Keyward backends set no response headers"},
		{"delegated_auth_accessors", "Keyward has no namespaces to delegate authentication between"},
		{"allowed_managed_keys", "Keyward has no managed keys"},
	} {
		if v, ok, err := logical.Strings(data, f.name); err != nil {
			return err
		} else if ok && len(v) > 0 {
			return logical.BadRequest("%s is not supported: %s", f.name, f.why)
		}
	}
	if err := refuseTrue(data, "trim_request_trailing_slashes", "paths are matched as sent"); err != nil {
		return err
	}
	if err := refuseTrue(data, "override_pinned_version", builtinOnly); err != nil {
		return err
	}
	if err := refuseNonEmpty(data, "identity_token_key", "Keyward has no identity tokens"); err != nil {
		return err
	}
	if err := checkPlugin(data, typ); err != nil {
		return err
	}
	if v, ok := data["user_lockout_config"]; ok && v != nil {
		if m, isMap := v.(map[string]any); !isMap || len(m) > 0 {
			return logical.BadRequest("user_lockout_config is not supported: set lockout in the auth method's config (auth/PATH/config: lockout_threshold, lockout_duration)")
		}
	}
	if v, ok, err := logical.Str(data, "listing_visibility"); err != nil {
		return err
	} else if ok && v == "unauth" {
		return logical.BadRequest("listing_visibility \"unauth\" is not supported: sys/internal/ui/mounts lists a mount only to a token that can reach it")
	}
	if hs, ok, err := logical.Strings(data, "passthrough_request_headers"); err != nil {
		return err
	} else if ok {
		for _, h := range hs {
			if err := checkPassthroughHeader(h); err != nil {
				return err
			}
		}
	}
	return nil
}

const builtinOnly = "Keyward runs only its built-in engines and auth methods"

// refuseTrue refuses the boolean field name set to true.
func refuseTrue(data map[string]any, name, why string) error {
	v, _, err := logical.Bool(data, name)
	if err != nil {
		return err
	}
	if v {
		return logical.BadRequest("%s is not supported: %s", name, why)
	}
	return nil
}

// refuseNonEmpty refuses the string field name set to anything but "".
func refuseNonEmpty(data map[string]any, name, why string) error {
	v, _, err := logical.Str(data, name)
	if err != nil {
		return err
	}
	if v != "" {
		return logical.BadRequest("%s is not supported: %s", name, why)
	}
	return nil
}

// checkPlugin accepts plugin_name only as the mount's own type and no
// plugin_version: there is no plugin catalog to pick another from.
func checkPlugin(data map[string]any, typ string) error {
	if err := refuseNonEmpty(data, "plugin_version", builtinOnly); err != nil {
		return err
	}
	v, _, err := logical.Str(data, "plugin_name")
	if err != nil {
		return err
	}
	if v != "" && v != typ && !(typ == "kv" && strings.HasPrefix(v, "kv")) {
		return logical.BadRequest("plugin_name %q differs from type %q: %s", v, typ, builtinOnly)
	}
	return nil
}

// checkPassthroughHeader refuses header names no request can carry to a
// backend.
func checkPassthroughHeader(h string) error {
	if h == "" || h == "*" || strings.ContainsAny(h, " \t\r\n:") {
		return logical.BadRequest("passthrough_request_headers: %q is not a header name (list each header to pass)", h)
	}
	for _, t := range tokenHeaders {
		if strings.EqualFold(h, t) {
			return logical.BadRequest("passthrough_request_headers: %s carries the client token, which never reaches a backend", t)
		}
	}
	return nil
}

// passthroughHeaders returns the headers of h named in allowed (compared
// case-insensitively, as Vault does), or nil when none is allowed. Token
// headers are never among them.
func passthroughHeaders(h http.Header, allowed []string) http.Header {
	if len(allowed) == 0 || len(h) == 0 {
		return nil
	}
	out := http.Header{}
	for _, name := range allowed {
		if checkPassthroughHeader(name) != nil {
			continue // stored before the check existed
		}
		if v := h.Values(name); len(v) > 0 {
			out[http.CanonicalHeaderKey(name)] = v
			continue
		}
		for k, v := range h { // a non-canonical key (HTTP/2, tests)
			if strings.EqualFold(k, name) {
				out[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkMountFields refuses the enable fields Keyward has no feature behind,
// unless they hold the value that changes nothing. typ is the requested
// engine or auth type, as sent.
func checkMountFields(data map[string]any, typ string) error {
	if err := refuseTrue(data, "seal_wrap", "every value is already encrypted by the barrier, and there is no second seal to wrap it with"); err != nil {
		return err
	}
	if err := refuseTrue(data, "external_entropy_access", "Keyward has no external entropy source"); err != nil {
		return err
	}
	return checkPlugin(data, typ)
}

// addTuned adds the tuned lists and listing visibility to a mount's config
// or tune output, each only when set, as Vault reports them.
func addTuned(out map[string]any, cfg MountConfig) {
	for name, v := range map[string][]string{
		"audit_non_hmac_request_keys":  cfg.AuditNonHMACRequestKeys,
		"audit_non_hmac_response_keys": cfg.AuditNonHMACResponseKeys,
		"passthrough_request_headers":  cfg.PassthroughRequestHeaders,
	} {
		if len(v) > 0 {
			out[name] = v
		}
	}
	if cfg.ListingVisibility != "" {
		out["listing_visibility"] = cfg.ListingVisibility
	}
	if cfg.Environment != "" {
		out["environment"] = cfg.Environment
	}
}

// checkMountPoint accepts the mount_point field client libraries send in
// the body of sys/mounts/PATH and sys/auth/PATH (node-vault sends every
// argument of mount() and enableAuth(), the path's own name included). It
// names nothing the path does not, so it must agree with path ("secret/").
func checkMountPoint(data map[string]any, path string) error {
	mp, ok, err := logical.Str(data, "mount_point")
	if err != nil || !ok {
		return err
	}
	if strings.Trim(mp, "/") != strings.TrimSuffix(path, "/") {
		return logical.BadRequest("mount_point %q does not match the path %q", mp, path)
	}
	return nil
}

// systemTuneFields refuses, on the token store, the tunables that would
// change what reaches it or what its audit entries show: its request data
// holds tokens (lookup, renew, revoke), which must never be readable.
func systemTuneFields(data map[string]any, full string) error {
	for _, name := range []string{"audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "passthrough_request_headers"} {
		if v, _, err := logical.Strings(data, name); err != nil {
			return err
		} else if len(v) > 0 {
			return logical.BadRequest("cannot set %s on %q: its requests carry tokens", name, full)
		}
	}
	return nil
}
