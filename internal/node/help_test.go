package node_test

import (
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// Path-help through the official client (what `vault path-help` and `bao
// path-help` call) answers for every mounted backend type with the route's
// field descriptions, generated from the route declarations.
func TestPathHelpEveryBackend(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	for path, typ := range map[string]string{"kv1": "kv-v1", "database": "database"} {
		if err := c.Sys().Mount(path, &vault.MountInput{Type: typ}); err != nil {
			t.Fatalf("mount %s: %v", path, err)
		}
	}
	for _, typ := range []string{"userpass", "approle", "cert", "jwt", "oidc"} {
		if err := c.Sys().EnableAuthWithOptions(typ, &vault.EnableAuthOptions{Type: typ}); err != nil {
			t.Fatalf("enable %s: %v", typ, err)
		}
	}
	tests := []struct {
		backend, path string
		want          []string // in the help text
	}{
		{"kv v2", "secret/data/app/db", []string{"Matching Route: data/{path*}", "data (map)", "options (map)"}},
		{"kv v2 metadata", "secret/metadata/app/db", []string{"max_versions (int)", "custom_metadata (keypair)"}},
		{"kv v2 mount", "secret/", []string{"versions of each secret", "subkeys/{path*}"}},
		{"kv v1", "kv1/app/db", []string{"Matching Route: {path*}", "ttl (duration (sec))"}},
		{"database", "database/config/pg", []string{"connection_url (string)", "allowed_roles (slice)"}},
		{"database roles", "database/roles/ro", []string{"creation_statements (slice)", "default_ttl (duration (sec))"}},
		{"userpass", "auth/userpass/users/alice", []string{"password (string)", "mfa_required (bool)", "token_policies (slice)"}},
		{"userpass login", "auth/userpass/login/alice", []string{"totp (string)"}},
		{"approle", "auth/approle/role/web", []string{"bind_secret_id (bool)", "secret_id_ttl (duration (sec))"}},
		{"approle secret-id", "auth/approle/role/web/secret-id", []string{"metadata (string)", "num_uses (int)"}},
		{"cert", "auth/cert/certs/ci", []string{"certificate (string)", "allowed_common_names (slice)"}},
		{"jwt", "auth/jwt/role/ci", []string{"bound_audiences (slice)", "bound_claims (map)"}},
		{"oidc", "auth/oidc/config", []string{"oidc_discovery_url (string)", "jwks_url (string)"}},
		{"token", "auth/token/create", []string{"policies (slice)", "num_uses (int)", "explicit_max_ttl (duration (sec))"}},
		{"token roles", "auth/token/roles/ci", []string{"allowed_policies (slice)"}},
		{"sys mounts", "sys/mounts/secret", []string{"type (string)", "options (keypair)"}},
		{"sys tune", "sys/mounts/secret/tune", []string{"max_lease_ttl (duration (sec))"}},
		{"sys policies", "sys/policies/acl/dev", []string{"policy (string)"}},
		{"sys unseal", "sys/unseal", []string{"key (string)", "reset (bool)"}},
		{"sys leases", "sys/leases/renew", []string{"lease_id (string)", "increment (duration (sec))"}},
		{"sys audit", "sys/audit/file", []string{"type (string)", "options (keypair)"}},
		{"sys wrapping", "sys/wrapping/unwrap", []string{"token (string)"}},
		{"sys password policies", "sys/policies/password/strong", []string{"policy (string)", "length (4 to 100)"}},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			h, err := c.Help(tt.path)
			if err != nil {
				t.Fatalf("help %s: %v", tt.path, err)
			}
			if h.Help == "" || h.OpenAPI["openapi"] != "3.0.2" {
				t.Fatalf("help %s: %+v", tt.path, h)
			}
			for _, w := range tt.want {
				if !strings.Contains(h.Help, w) {
					t.Errorf("help %s lacks %q:\n%s", tt.path, w, h.Help)
				}
			}
		})
	}
}

// Help needs read or list on the path: a token that may only write there,
// or no token, gets 403; a path no route serves gets 404.
func TestPathHelpRefusals(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().PutPolicy("writer", `path "secret/data/*" { capabilities = ["create", "update"] }
path "secret/metadata/*" { capabilities = ["list"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"writer"}})
	if err != nil {
		t.Fatal(err)
	}
	writer := nodetest.VaultClient(t, n.URL, sec.Auth.ClientToken)
	anon := nodetest.VaultClient(t, n.URL, "")
	anon.ClearToken()
	for _, tt := range []struct {
		name   string
		c      *vault.Client
		path   string
		status int
	}{
		{"write only", writer, "secret/data/app", http.StatusForbidden},
		{"list grants help", writer, "secret/metadata/app", 0},
		{"no token", anon, "auth/token/lookup-self", http.StatusForbidden},
		{"no such route", c, "secret/nothing/x", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Help(tt.path)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("help %s: %v", tt.path, err)
				}
				return
			}
			re, ok := err.(*vault.ResponseError)
			if !ok || re.StatusCode != tt.status {
				t.Fatalf("help %s: %v, want %d", tt.path, err, tt.status)
			}
		})
	}
}

// sys/internal/specs/openapi is one OpenAPI document of the routes of every
// mount the token can reach, generated from the same declarations.
func TestOpenAPISpec(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("kv", `path "secret/*" { capabilities = ["read"] }
path "sys/internal/specs/openapi" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"kv"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := func(c *vault.Client) map[string]any {
		t.Helper()
		resp, err := c.Logical().ReadRaw("sys/internal/specs/openapi")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := resp.DecodeJSON(&doc); err != nil || doc["openapi"] != "3.0.2" {
			t.Fatalf("spec: %v %v", doc, err)
		}
		return doc["paths"].(map[string]any)
	}
	all := spec(c)
	for _, p := range []string{"/secret/data/{path}", "/auth/userpass/users/{username}", "/auth/token/create", "/sys/mounts", "/sys/leases/renew/{url_lease_id}", "/sys/policies/password/{name}"} {
		if all[p] == nil {
			t.Errorf("root's spec lacks %s", p)
		}
	}
	narrow := spec(nodetest.VaultClient(t, n.URL, sec.Auth.ClientToken))
	if narrow["/secret/data/{path}"] == nil || narrow["/auth/userpass/users/{username}"] != nil {
		t.Errorf("a token for secret/ only sees %d paths, userpass among them: %v", len(narrow), narrow["/auth/userpass/users/{username}"] != nil)
	}
}
