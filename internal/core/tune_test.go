package core_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// headersEngine answers every request with the headers it was handed.
type headersEngine struct{}

func (headersEngine) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	got := map[string]any{}
	for k, v := range req.Headers {
		got[k] = strings.Join(v, ",")
	}
	return &logical.Response{Data: got}, nil
}

func headersFactory(context.Context, *logical.BackendConfig) (logical.Backend, error) {
	return headersEngine{}, nil
}

// Every tunable is applied or refused: a value Keyward cannot honour is a
// 400 naming the field, and nothing is stored.
func TestTuneRefusesWhatItCannotHonour(t *testing.T) {
	tests := []struct {
		name string
		data map[string]any
		want string // "" accepted, else a substring of the 400
	}{
		{name: "ttls", data: map[string]any{"default_lease_ttl": "1h", "max_lease_ttl": "2h"}},
		{name: "vault client zero values", data: map[string]any{"options": nil, "default_lease_ttl": "", "max_lease_ttl": "", "force_no_cache": false}},
		{name: "force_no_cache true (there is no cache)", data: map[string]any{"force_no_cache": true}},
		{name: "force_no_cache not a boolean", data: map[string]any{"force_no_cache": "sometimes"}, want: `"force_no_cache": expected a boolean`},
		{name: "audit keys", data: map[string]any{"audit_non_hmac_request_keys": []any{"user"}, "audit_non_hmac_response_keys": "version"}},
		{name: "passthrough header", data: map[string]any{"passthrough_request_headers": []any{"X-Request-Id"}}},
		{name: "passthrough token header", data: map[string]any{"passthrough_request_headers": []any{"x-vault-token"}}, want: "X-Vault-Token carries the client token"},
		{name: "passthrough authorization", data: map[string]any{"passthrough_request_headers": "Authorization"}, want: "Authorization carries the client token"},
		{name: "passthrough wildcard", data: map[string]any{"passthrough_request_headers": []any{"*"}}, want: "is not a header name"},
		{name: "listing hidden", data: map[string]any{"listing_visibility": "hidden"}},
		{name: "listing unauth", data: map[string]any{"listing_visibility": "unauth"}, want: `listing_visibility "unauth" is not supported`},
		{name: "listing bogus", data: map[string]any{"listing_visibility": "public"}, want: "listing_visibility must be"},
		{name: "allowed_response_headers", data: map[string]any{"allowed_response_headers": []any{"X-Custom"}}, want: "allowed_response_headers is not supported"},
		{name: "allowed_response_headers empty", data: map[string]any{"allowed_response_headers": []any{}}},
		{name: "plugin_version", data: map[string]any{"plugin_version": "v1.2.3"}, want: "plugin_version is not supported"},
		{name: "plugin_name other", data: map[string]any{"plugin_name": "vault-plugin-secrets-kv"}, want: "plugin_name"},
		{name: "plugin_name own type", data: map[string]any{"plugin_name": "kv"}},
		{name: "user_lockout_config", data: map[string]any{"user_lockout_config": map[string]any{"lockout_threshold": "3"}}, want: "user_lockout_config is not supported"},
		{name: "delegated_auth_accessors", data: map[string]any{"delegated_auth_accessors": []any{"auth_x"}}, want: "delegated_auth_accessors is not supported"},
		{name: "identity_token_key", data: map[string]any{"identity_token_key": "k"}, want: "identity_token_key is not supported"},
		{name: "allowed_managed_keys", data: map[string]any{"allowed_managed_keys": []any{"k"}}, want: "allowed_managed_keys is not supported"},
		{name: "trim_request_trailing_slashes", data: map[string]any{"trim_request_trailing_slashes": true}, want: "trim_request_trailing_slashes is not supported"},
		{name: "trim_request_trailing_slashes false", data: map[string]any{"trim_request_trailing_slashes": false}},
		{name: "override_pinned_version", data: map[string]any{"override_pinned_version": true}, want: "override_pinned_version is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, root := newCore(t, nil)
			before := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/secret/tune", nil).Data
			_, err := call(t, c, root, logical.UpdateOperation, "sys/mounts/secret/tune", tt.data)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("tune %v: %v", tt.data, err)
				}
				return
			}
			if status, msg, _ := logical.StatusOf(err); status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Fatalf("tune %v = %d %q, want 400 mentioning %q", tt.data, status, msg, tt.want)
			}
			after := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/secret/tune", nil).Data
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a refused tune changed the mount (-before +after):\n%s", diff)
			}
			// The same field in the config of a new mount is refused too.
			_, err = call(t, c, root, logical.UpdateOperation, "sys/mounts/other", map[string]any{"type": "kv", "config": tt.data})
			if status, _, _ := logical.StatusOf(err); status != http.StatusBadRequest {
				t.Errorf("enable with config %v = %v, want 400", tt.data, err)
			}
		})
	}
}

// The enable fields Keyward has no feature behind are refused unless they
// hold the value that changes nothing (what the Vault client always sends).
func TestEnableRefusesWhatItCannotHonour(t *testing.T) {
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{name: "vault client defaults", data: map[string]any{"type": "kv", "local": false, "seal_wrap": false, "external_entropy_access": false, "options": nil}},
		{name: "seal_wrap", data: map[string]any{"type": "kv", "seal_wrap": true}, want: "seal_wrap is not supported"},
		{name: "external_entropy_access", data: map[string]any{"type": "kv", "external_entropy_access": true}, want: "external_entropy_access is not supported"},
		{name: "plugin_version", data: map[string]any{"type": "kv", "plugin_version": "v0.16.0"}, want: "plugin_version is not supported"},
		{name: "plugin_name same", data: map[string]any{"type": "kv-v2", "plugin_name": "kv-v2"}},
		{name: "plugin_name other", data: map[string]any{"type": "kv", "plugin_name": "my-plugin"}, want: `plugin_name "my-plugin" differs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, root := newCore(t, nil)
			_, err := call(t, c, root, logical.UpdateOperation, "sys/mounts/m", tt.data)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("enable %v: %v", tt.data, err)
				}
				return
			}
			if status, msg, _ := logical.StatusOf(err); status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Fatalf("enable %v = %d %q, want 400 mentioning %q", tt.data, status, msg, tt.want)
			}
			if mounts := mustCall(t, c, root, logical.ReadOperation, "sys/mounts", nil); mounts.Data["m/"] != nil {
				t.Errorf("a refused enable mounted m/")
			}
		})
	}
}

// Tuned lists show in the tune and mount outputs, as Vault reports them.
func TestTunedListsAreReported(t *testing.T) {
	c, root := newCore(t, nil)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/secret/tune", map[string]any{
		"audit_non_hmac_request_keys": []any{"user"}, "passthrough_request_headers": []any{"X-Request-Id"}, "listing_visibility": "hidden",
	})
	tune := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/secret/tune", nil).Data
	cfg := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/secret", nil).Data["config"].(map[string]any)
	for _, out := range []map[string]any{tune, cfg} {
		if diff := cmp.Diff([]string{"user"}, out["audit_non_hmac_request_keys"]); diff != "" {
			t.Errorf("audit_non_hmac_request_keys (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"X-Request-Id"}, out["passthrough_request_headers"]); diff != "" {
			t.Errorf("passthrough_request_headers (-want +got):\n%s", diff)
		}
		if out["listing_visibility"] != "hidden" || out["audit_non_hmac_response_keys"] != nil {
			t.Errorf("output = %v", out)
		}
	}
}

// A backend sees exactly the headers its mount passes through, compared
// case-insensitively, and never a token header, whatever reached the core.
func TestPassthroughRequestHeaders(t *testing.T) {
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Engines: map[string]logical.Factory{"headers": headersFactory}})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/h", map[string]any{"type": "headers"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/plain", map[string]any{"type": "headers"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/h/tune", map[string]any{"passthrough_request_headers": []any{"x-request-id", "X-Tenant"}})
	headers := http.Header{
		"X-Request-Id":    {"r-1"},
		"X-Tenant":        {"blue", "green"},
		"X-Other":         {"not passed"},
		"X-Forwarded-For": {"192.0.2.1"},
	}
	read := func(path string) map[string]any {
		t.Helper()
		resp, err := c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: logical.ReadOperation, Path: path,
			ClientToken: sensitive.NewString(root), Headers: headers.Clone(), Connection: &logical.Connection{RemoteAddr: "127.0.0.1"}})
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		return resp.Data
	}
	if diff := cmp.Diff(map[string]any{"X-Request-Id": "r-1", "X-Tenant": "blue,green"}, read("h/x")); diff != "" {
		t.Errorf("tuned mount headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{}, read("plain/x")); diff != "" {
		t.Errorf("untuned mount headers (-want +got):\n%s", diff)
	}
}

// The token store's requests carry tokens: its audit entries cannot be
// tuned to show them, nor headers passed to it.
func TestTokenStoreTuneKeepsTokensHashed(t *testing.T) {
	c, root := newCore(t, nil)
	for _, field := range []string{"audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "passthrough_request_headers"} {
		_, err := call(t, c, root, logical.UpdateOperation, "sys/auth/token/tune", map[string]any{field: []any{"token"}})
		if status, msg, _ := logical.StatusOf(err); status != http.StatusBadRequest || !strings.Contains(msg, "its requests carry tokens") {
			t.Errorf("tune auth/token/ %s = %d %q, want 400", field, status, msg)
		}
	}
	if tune := mustCall(t, c, root, logical.ReadOperation, "sys/auth/token/tune", nil).Data; tune["audit_non_hmac_request_keys"] != nil {
		t.Errorf("token store tune = %v", tune)
	}
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/token/tune", map[string]any{"max_lease_ttl": "2h", "audit_non_hmac_request_keys": []any{}})
}

// Relabelling a mount's environment takes sudo on its tune path: update
// alone tunes everything else but cannot turn a prod mount into staging.
func TestTuneEnvironmentNeedsSudo(t *testing.T) {
	c, root := newCore(t, nil)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv-prod", map[string]any{"type": "kv"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv-prod/tune", map[string]any{"environment": "prod"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/policies/acl/tuner", map[string]any{"policy": `path "sys/mounts/kv-prod/tune" { capabilities = ["read", "update"] }`})
	mustCall(t, c, root, logical.UpdateOperation, "sys/policies/acl/owner", map[string]any{"policy": `path "sys/mounts/kv-prod/tune" { capabilities = ["read", "update", "sudo"] }`})
	tuner := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": "tuner"}).Auth.ClientToken.Reveal()
	owner := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": "owner"}).Auth.ClientToken.Reveal()

	mustCall(t, c, tuner, logical.UpdateOperation, "sys/mounts/kv-prod/tune", map[string]any{"description": "prod data", "environment": "prod"})
	if _, err := call(t, c, tuner, logical.UpdateOperation, "sys/mounts/kv-prod/tune", map[string]any{"environment": "staging"}); err == nil || !strings.Contains(err.Error(), "needs sudo") {
		t.Fatalf("relabel without sudo: err = %v, want a 403 naming sudo", err)
	}
	if _, err := call(t, c, tuner, logical.UpdateOperation, "sys/mounts/kv-prod/tune", map[string]any{"environment": ""}); err == nil {
		t.Fatal("clearing the label without sudo was accepted")
	}
	if got := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/kv-prod/tune", nil).Data["environment"]; got != "prod" {
		t.Fatalf("environment = %v after refused relabels, want prod", got)
	}
	mustCall(t, c, owner, logical.UpdateOperation, "sys/mounts/kv-prod/tune", map[string]any{"environment": "staging"})
	if got := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/kv-prod/tune", nil).Data["environment"]; got != "staging" {
		t.Fatalf("environment = %v after the sudo relabel, want staging", got)
	}
}
