package node_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// tokenWith writes a policy and returns a token holding only it.
func tokenWith(t *testing.T, root *vault.Client, name, rules string) string {
	t.Helper()
	if err := root.Sys().PutPolicy(name, rules); err != nil {
		t.Fatalf("put policy %s: %v", name, err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// Every alias route is authorized as the canonical path it acts on too: a
// deny on the canonical path covers the alias (issue 10 item 2), and
// tuning an auth method needs sudo on sys/auth whatever the route (item 4).
// Regression: before the fix, sys/policy/NAME rewrote a policy whose
// canonical path was denied, and sys/mounts/auth/PATH/tune needed no sudo.
func TestAliasRoutesAuthorizedAsCanonical(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	all := `["create","read","update","delete","list","sudo"]`
	denied := tokenWith(t, root, "sys-but-canonical", `
path "sys/*" { capabilities = `+all+` }
path "sys/policies/*" { capabilities = ["deny"] }
path "sys/auth/*" { capabilities = ["deny"] }
path "sys/leases/*" { capabilities = ["deny"] }
`)
	// Holds every capability on the aliases but no sudo on sys/auth.
	noSudo := tokenWith(t, root, "no-sudo-auth", `
path "sys/mounts/*" { capabilities = ["create","read","update","list"] }
path "sys/auth/*" { capabilities = ["create","read","update","list"] }
`)
	allowed := tokenWith(t, root, "sys-all", `path "sys/*" { capabilities = `+all+` }`)

	rootPolicy := map[string]any{"policy": `path "*" { capabilities = ["create","read","update","delete","list","sudo"] }`}
	tune := map[string]any{"default_lease_ttl": "1h"}
	cases := []struct {
		name, token, method, path string
		body                      any
	}{
		{"policy write", denied, "PUT", "sys/policy/sys-but-canonical", rootPolicy},
		{"policy read", denied, "GET", "sys/policy/sys-but-canonical", nil},
		{"policy delete", denied, "DELETE", "sys/policy/sys-all", nil},
		{"policy list", denied, "LIST", "sys/policy", nil},
		{"policy list slash", denied, "GET", "sys/policy/", nil},
		{"auth tune via mounts", denied, "PUT", "sys/mounts/auth/userpass/tune", tune},
		{"token store tune via mounts", denied, "PUT", "sys/mounts/auth/token/tune", tune},
		{"auth read via mounts", denied, "GET", "sys/mounts/auth/userpass", nil},
		{"legacy renew", denied, "PUT", "sys/renew/secret/x/abc", nil},
		{"legacy renew body", denied, "PUT", "sys/renew", map[string]any{"lease_id": "secret/x/abc"}},
		{"legacy revoke", denied, "PUT", "sys/revoke/secret/x/abc", nil},
		{"legacy revoke-prefix", denied, "PUT", "sys/revoke-prefix/secret/", nil},
		{"legacy revoke-force", denied, "PUT", "sys/revoke-force/secret/", nil},
		{"auth tune via mounts without sudo", noSudo, "PUT", "sys/mounts/auth/userpass/tune", tune},
		{"auth tune without sudo", noSudo, "PUT", "sys/auth/userpass/tune", tune},
		{"token tune via mounts without sudo", noSudo, "PUT", "sys/mounts/auth/token/tune", tune},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, n.URL+"/v1/"+tc.path, tc.token, tc.body)
			if status != http.StatusForbidden {
				t.Fatalf("%s %s = %d %s, want 403", tc.method, tc.path, status, body)
			}
		})
	}
	// The denied token never became root: its policy is what root wrote.
	p, err := root.Sys().GetPolicy("sys-but-canonical")
	if err != nil || !strings.Contains(p, `"sys/policies/*"`) {
		t.Fatalf("policy after the attempts = %q, %v; want it unchanged", p, err)
	}
	// The aliases still work for a token allowed on both names.
	for _, tc := range []struct{ method, path string }{
		{"GET", "sys/policy/sys-all"},
		{"LIST", "sys/policy"},
		{"PUT", "sys/mounts/auth/userpass/tune"},
		{"GET", "sys/mounts/auth/userpass/tune"},
	} {
		var body any
		if tc.method == "PUT" {
			body = tune
		}
		if status, out := do(t, tc.method, n.URL+"/v1/"+tc.path, allowed, body); status/100 != 2 {
			t.Errorf("allowed %s %s = %d %s, want 2xx", tc.method, tc.path, status, out)
		}
	}
	// A lease id in the body that differs from the path's is refused: the
	// policy saw the path.
	if status, out := do(t, "PUT", n.URL+"/v1/sys/leases/renew/secret/a/1", allowed,
		map[string]any{"lease_id": "database/creds/b/2"}); status != http.StatusBadRequest {
		t.Errorf("renew with a body lease_id unlike the path = %d %s, want 400", status, out)
	}
}

// Every lease endpoint refuses fields it does not know, as the rest of sys/
// does (issue 10 item 9).
func TestLeaseEndpointsRefuseUnknownFields(t *testing.T) {
	n := nodetest.Start(t)
	for _, tc := range []struct{ method, path string }{
		{"PUT", "sys/leases/lookup"},
		{"PUT", "sys/leases/revoke-prefix/secret/"},
		{"PUT", "sys/leases/revoke-force/secret/"},
		{"PUT", "sys/revoke-prefix/secret/"},
		{"PUT", "sys/leases/renew"},
		{"PUT", "sys/leases/revoke"},
	} {
		status, body := do(t, tc.method, n.URL+"/v1/"+tc.path, n.RootToken.Reveal(), map[string]any{"lease_id": "x/y", "sycn": true})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "sycn") {
			t.Errorf("%s %s with a misspelt field = %d %s, want 400 naming it", tc.method, tc.path, status, body)
		}
	}
}

// A backend that folds a name or ignores a trailing slash is authorized as
// the name it acts on: a deny on users/admin covers users/ADMIN, the
// fullwidth spelling and users/admin/, and a deny on sys/mounts/keep covers
// sys/mounts/keep/. Regression (adversarial pass on issue 10): each of
// these was served, and a limited admin reset the admin user's password.
func TestNameSpellingsAuthorizedAsStored(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	for _, m := range []struct{ path, typ string }{{"userpass", "userpass"}, {"approle", "approle"}, {"jwt", "jwt"}, {"cert", "cert"}} {
		if err := root.Sys().EnableAuthWithOptions(m.path, &vault.EnableAuthOptions{Type: m.typ}); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Sys().Mount("keep", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := root.Sys().EnableAuditWithOptions("keep", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]map[string]any{
		"auth/userpass/users/admin": {"password": "admin-pw-1", "token_policies": "admin"},
		"auth/approle/role/prod":    {"token_policies": "admin"},
	} {
		if _, err := root.Logical().Write(path, body); err != nil {
			t.Fatal(err)
		}
	}
	all := `["create","read","update","delete","list","sudo"]`
	team := tokenWith(t, root, "team-admin", `
path "auth/*" { capabilities = `+all+` }
path "sys/*" { capabilities = `+all+` }
path "auth/userpass/users/admin" { capabilities = ["deny"] }
path "auth/userpass/users/admin/*" { capabilities = ["deny"] }
path "auth/approle/role/prod" { capabilities = ["deny"] }
path "auth/approle/role/prod/*" { capabilities = ["deny"] }
path "auth/jwt/role/prod" { capabilities = ["deny"] }
path "auth/cert/certs/prod" { capabilities = ["deny"] }
path "sys/mounts/keep" { capabilities = ["deny"] }
path "sys/auth/userpass" { capabilities = ["deny"] }
path "sys/audit/keep" { capabilities = ["deny"] }
`)
	pw := map[string]any{"password": "pwned-pw-123456"}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "auth/userpass/users/ADMIN", pw},
		{"PUT", "auth/userpass/users/Admin", pw},
		{"PUT", "auth/userpass/users/%EF%BD%81dmin", pw},
		{"PUT", "auth/userpass/users/%20admin", pw},
		{"PUT", "auth/userpass/users/admin%20", pw},
		{"PUT", "auth/userpass/users/admin/", pw},
		{"PUT", "auth/userpass/users/ADMIN/password", pw},
		{"GET", "auth/approle/role/PROD/role-id", nil},
		{"PUT", "auth/approle/role/PROD/secret-id", map[string]any{}},
		{"PUT", "auth/approle/role/prod/", map[string]any{"token_policies": "admin"}},
		{"PUT", "auth/jwt/role/prod/", map[string]any{"bound_claims": map[string]any{"sub": "attacker"}, "user_claim": "sub", "bound_audiences": "x"}},
		{"GET", "auth/jwt/role/prod/", nil},
		{"PUT", "auth/cert/certs/prod/", map[string]any{"certificate": "x"}},
		{"DELETE", "sys/mounts/keep/", nil},
		{"DELETE", "sys/auth/userpass/", nil},
		{"GET", "sys/auth/userpass/", nil},
		{"DELETE", "sys/audit/keep/", nil},
	} {
		if status, out := do(t, tc.method, n.URL+"/v1/"+tc.path, team, tc.body); status != http.StatusForbidden {
			t.Errorf("%s %s = %d %s, want 403", tc.method, tc.path, status, truncate(out))
		}
	}
	// Nothing changed: the admin password still works, the mount and the
	// audit device are still there.
	if _, err := root.Logical().Write("auth/userpass/login/admin", map[string]any{"password": "admin-pw-1"}); err != nil {
		t.Errorf("admin's own password after the attempts: %v", err)
	}
	mounts, _ := root.Sys().ListMounts()
	audits, _ := root.Sys().ListAudit()
	if mounts["keep/"] == nil || audits["keep/"] == nil {
		t.Errorf("mount or audit device gone: mounts %v, audit %v", mounts["keep/"] != nil, audits["keep/"] != nil)
	}
}

// A grant on auth/token/create/* goes through a role: an empty role name is
// refused instead of becoming a plain create that skips the role's bounds.
// Regression (adversarial pass on issue 10): create/ minted a 700h token.
func TestTokenCreateEmptyRoleRefused(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if _, err := root.Logical().Write("auth/token/roles/ci", map[string]any{"token_explicit_max_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	viaRole := tokenWith(t, root, "via-role", `path "auth/token/create/*" { capabilities = ["create", "update"] }`)
	// The core refuses it as auth/token/create (403, the path without its
	// slash is not granted); the token store would refuse it too (400).
	if status, out := do(t, "PUT", n.URL+"/v1/auth/token/create/", viaRole, map[string]any{"ttl": "700h"}); status != http.StatusForbidden {
		t.Errorf("PUT auth/token/create/ = %d %s, want 403", status, truncate(out))
	}
	if status, out := do(t, "PUT", n.URL+"/v1/auth/token/create/", n.RootToken.Reveal(), map[string]any{"ttl": "700h"}); status != http.StatusBadRequest {
		t.Errorf("root PUT auth/token/create/ = %d %s, want 400", status, truncate(out))
	}
}
