package node_test

import (
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// allowed_parameters and denied_parameters hold for the values the backend
// uses: after comma splitting, trimming and case folding, booleans as
// parsed, and legacy field names (issue 10 item 3). Regression: before the
// fix, "dev,admin", " admin", "ADMIN" and "policies=admin" all passed a
// deny on token_policies, and "dev,admin" passed an allowed "dev*".
func TestParameterConstraintsSeeNormalisedValues(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("admin", `path "*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	deny := tokenWith(t, root, "user-admin-deny", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  denied_parameters = {
    "token_policies" = ["admin", "root*"]
    "token_no_default_policy" = ["true"]
  }
}`)
	allow := tokenWith(t, root, "user-admin-allow", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "password" = []
    "token_policies" = ["dev*"]
  }
}`)
	// A token holding admin itself, allowed to create children without it.
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"admin", "token-deny"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("token-deny", `
path "auth/token/create" {
  capabilities = ["update"]
  denied_parameters = { "policies" = ["admin"] }
}`); err != nil {
		t.Fatal(err)
	}
	creator := sec.Auth.ClientToken

	refused := []struct {
		name, token, path string
		body              map[string]any
	}{
		{"comma list", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "dev,admin"}},
		{"leading space", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": " admin"}},
		{"trailing space", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "admin "}},
		{"upper case", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "ADMIN"}},
		{"spaced comma list", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "dev , Admin"}},
		{"list element", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": []any{"dev", " ADMIN "}}},
		{"list element with comma", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": []any{"dev,admin"}}},
		{"glob upper case", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "ROOT-ish"}},
		{"legacy field name", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "policies": "admin"}},
		{"legacy and current", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "dev", "policies": "admin"}},
		{"bool as 1", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_no_default_policy": "1"}},
		{"bool upper case", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_no_default_policy": "TRUE"}},
		{"bool as number", deny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_no_default_policy": 1}},
		{"allowed glob with comma list", allow, "auth/userpass/users/b", map[string]any{"password": "pw-1", "token_policies": "dev,admin"}},
		{"allowed glob list element", allow, "auth/userpass/users/b", map[string]any{"password": "pw-1", "token_policies": []any{"dev-1", "dev,admin"}}},
		{"allowed via legacy name", allow, "auth/userpass/users/b", map[string]any{"password": "pw-1", "policies": "admin"}},
		{"token create upper case", creator, "auth/token/create", map[string]any{"policies": []any{"Admin"}}},
		{"token create spaced", creator, "auth/token/create", map[string]any{"policies": " admin"}},
		{"token create comma list", creator, "auth/token/create", map[string]any{"policies": "token-deny,admin"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := do(t, "PUT", n.URL+"/v1/"+tc.path, tc.token, tc.body); status != http.StatusForbidden {
				t.Fatalf("PUT %s %v = %d %s, want 403", tc.path, tc.body, status, body)
			}
		})
	}
	// No user came to hold admin.
	for _, user := range []string{"a", "b"} {
		if s, err := root.Logical().Read("auth/userpass/users/" + user); err != nil || s != nil {
			t.Errorf("user %s after refused writes: %v, %v; want none", user, s, err)
		}
	}
	// A list element is one policy name: "dev,admin" is not a name.
	if status, body := do(t, "PUT", n.URL+"/v1/auth/userpass/users/e", n.RootToken.Reveal(),
		map[string]any{"password": "pw-1", "token_policies": []any{"dev,admin"}}); status != http.StatusBadRequest {
		t.Errorf("user with policy name %q = %d %s, want 400", "dev,admin", status, body)
	}
	// What the constraints permit still works.
	for _, tc := range []struct {
		token, path string
		body        map[string]any
	}{
		{deny, "auth/userpass/users/c", map[string]any{"password": "pw-1", "token_policies": "dev,qa"}},
		{deny, "auth/userpass/users/c", map[string]any{"password": "pw-1", "token_no_default_policy": "false"}},
		{allow, "auth/userpass/users/d", map[string]any{"password": "pw-1", "token_policies": "dev-1,dev-2"}},
		{creator, "auth/token/create", map[string]any{"policies": []any{"token-deny"}}},
	} {
		if status, body := do(t, "PUT", n.URL+"/v1/"+tc.path, tc.token, tc.body); status/100 != 2 {
			t.Errorf("PUT %s %v = %d %s, want 2xx", tc.path, tc.body, status, body)
		}
	}
}

// A constraint written on a legacy field name covers the current name, and
// one on the current name covers the legacy one. Regression (adversarial
// pass on issue 10): a deny on "policies" let token_policies=admin through.
func TestParameterConstraintsCoverBothFieldNames(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	legacyDeny := tokenWith(t, root, "legacy-deny", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  denied_parameters = { "policies" = ["admin"] }
}
path "auth/token/roles/*" {
  capabilities = ["create", "update"]
  denied_parameters = { "bound_cidrs" = [] }
}`)
	legacyAllow := tokenWith(t, root, "legacy-allow", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "password" = [], "policies" = ["dev"] }
}`)
	for _, tc := range []struct {
		token, path string
		body        map[string]any
		want        int
	}{
		{legacyDeny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "token_policies": "admin"}, http.StatusForbidden},
		{legacyDeny, "auth/userpass/users/a", map[string]any{"password": "pw-1", "policies": "admin"}, http.StatusForbidden},
		{legacyDeny, "auth/token/roles/r", map[string]any{"token_bound_cidrs": "10.0.0.0/8"}, http.StatusForbidden},
		{legacyDeny, "auth/userpass/users/b", map[string]any{"password": "pw-1", "token_policies": "dev"}, http.StatusNoContent},
		{legacyAllow, "auth/userpass/users/c", map[string]any{"password": "pw-1", "token_policies": "dev"}, http.StatusNoContent},
		{legacyAllow, "auth/userpass/users/c", map[string]any{"password": "pw-1", "token_policies": "admin"}, http.StatusForbidden},
	} {
		if status, out := do(t, "PUT", n.URL+"/v1/"+tc.path, tc.token, tc.body); status != tc.want {
			t.Errorf("PUT %s %v = %d %s, want %d", tc.path, tc.body, status, out, tc.want)
		}
	}
}
