package node_test

import (
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// The pki engine's issuer-scoped and issuers/ routes are aliases of the
// role and CA routes they act on: a deny on issue/admin covers
// issuer/REF/issue/admin, one on sign-verbatim covers
// issuer/REF/sign-verbatim, and so on. Regression (adversarial pass on
// the pki engine): a token allowed pki/* but denied pki/issue/admin got an
// admin certificate through pki/issuer/default/issue/admin, and one denied
// pki/issuer/other/* got a certificate from issuer other through
// pki/issue/web with issuer_ref=other.
func TestPKIAliasRoutesAuthorizedAsCanonical(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().Mount("pki", &vault.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "Root", "key_type": "ec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "Other", "key_type": "ec", "issuer_name": "other"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"admin", "web"} {
		if _, err := root.Logical().Write("pki/roles/"+r, map[string]any{"allow_any_name": true, "key_type": "ec"}); err != nil {
			t.Fatal(err)
		}
	}
	denied := tokenWith(t, root, "pki-but-canonical", `
path "pki/*" { capabilities = ["create","read","update","list"] }
path "pki/issue/admin" { capabilities = ["deny"] }
path "pki/sign/admin" { capabilities = ["deny"] }
path "pki/sign-verbatim" { capabilities = ["deny"] }
path "pki/root/sign-intermediate" { capabilities = ["deny"] }
path "pki/root/generate/*" { capabilities = ["deny"] }
path "pki/intermediate/generate/*" { capabilities = ["deny"] }
path "pki/config/ca" { capabilities = ["deny"] }
path "pki/config/issuers" { capabilities = ["deny"] }
path "pki/issuer/other/*" { capabilities = ["deny"] }
`)
	cn := map[string]any{"common_name": "x"}
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"pki/issuer/default/issue/admin", cn},
		{"pki/issuer/default/issue/admin/", cn},
		{"pki/issuer/default/sign/admin", map[string]any{"csr": "x"}},
		{"pki/issuer/default/sign-verbatim", map[string]any{"csr": "x"}},
		{"pki/issuer/default/sign-intermediate", map[string]any{"csr": "x"}},
		{"pki/issuers/generate/root/internal", cn},
		{"pki/issuers/generate/intermediate/internal", cn},
		{"pki/issuers/import/bundle", map[string]any{"pem_bundle": "x"}},
		{"pki/issuers/import/cert", map[string]any{"pem_bundle": "x"}},
		{"pki/root/replace", map[string]any{"default": "default"}},
		// issuer_ref in the body picks the issuer as the issuer/REF path does
		{"pki/issue/web", map[string]any{"common_name": "x", "ttl": "1h", "issuer_ref": "other"}},
		{"pki/sign/web", map[string]any{"csr": "x", "issuer_ref": "other"}},
		{"pki/sign-verbatim/web", map[string]any{"csr": "x", "issuer_ref": "other"}},
	} {
		if status, body := do(t, "PUT", n.URL+"/v1/"+tc.path, denied, tc.body); status != http.StatusForbidden {
			t.Errorf("PUT %s = %d %s, want 403", tc.path, status, body)
		}
	}
	if status, body := do(t, "PUT", n.URL+"/v1/pki/issue/web", denied, map[string]any{"common_name": "x", "ttl": "1h", "issuer_ref": "default"}); status != http.StatusOK {
		t.Errorf("PUT pki/issue/web with issuer_ref default = %d %s, want 200", status, body)
	}
	// What the policy allows still works through the alias.
	if status, body := do(t, "PUT", n.URL+"/v1/pki/issuer/default/issue/web", denied, map[string]any{"common_name": "x", "ttl": "1h"}); status != http.StatusOK {
		t.Errorf("PUT pki/issuer/default/issue/web = %d %s, want 200", status, body)
	}
}
