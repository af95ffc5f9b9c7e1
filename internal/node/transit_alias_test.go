package node_test

import (
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// transit/restore with a backup of key NAME acts on NAME: a deny on
// transit/restore/NAME covers it; so do the algorithm and version forms
// of sign, verify, hmac and export. Regression (adversarial pass on the
// transit engine): a token denied transit/restore/prod replaced the prod
// key, with material of its choosing, through transit/restore and
// force=true, and one denied export/encryption-key/prod read it at
// export/encryption-key/prod/1.
func TestTransitAliasRoutesAuthorizedAsCanonical(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("transit/keys/prod", map[string]any{"exportable": true, "allow_plaintext_backup": true}); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Logical().Read("transit/backup/prod")
	if err != nil {
		t.Fatal(err)
	}
	backup := sec.Data["backup"].(string)
	denied := tokenWith(t, root, "transit-but-prod", `
path "transit/*" { capabilities = ["create","read","update","list"] }
path "transit/restore/prod" { capabilities = ["deny"] }
path "transit/sign/signer" { capabilities = ["deny"] }
path "transit/verify/signer" { capabilities = ["deny"] }
path "transit/hmac/prod" { capabilities = ["deny"] }
path "transit/export/encryption-key/prod" { capabilities = ["deny"] }
`)
	if _, err := root.Logical().Write("transit/keys/signer", map[string]any{"type": "ed25519"}); err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"input": "aGk="}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "transit/sign/signer/sha2-256", in},
		{"PUT", "transit/verify/signer/sha2-256", map[string]any{"input": "aGk=", "signature": "vault:v1:AAAA"}},
		{"PUT", "transit/hmac/prod/sha2-512", in},
		{"GET", "transit/export/encryption-key/prod/1", nil},
		{"GET", "transit/export/encryption-key/prod/latest", nil},
	} {
		if status, out := do(t, tc.method, n.URL+"/v1/"+tc.path, denied, tc.body); status != http.StatusForbidden {
			t.Errorf("%s %s = %d %s, want 403", tc.method, tc.path, status, out)
		}
	}
	body := map[string]any{"backup": backup, "force": true}
	if status, out := do(t, "PUT", n.URL+"/v1/transit/restore", denied, body); status != http.StatusForbidden {
		t.Errorf("PUT transit/restore with a backup of prod = %d %s, want 403", status, out)
	}
	if status, out := do(t, "PUT", n.URL+"/v1/transit/restore/prod", denied, body); status != http.StatusForbidden {
		t.Errorf("PUT transit/restore/prod = %d %s, want 403", status, out)
	}
	// Restoring under another name is still allowed.
	if status, out := do(t, "PUT", n.URL+"/v1/transit/restore/copy", denied, body); status/100 != 2 {
		t.Errorf("PUT transit/restore/copy = %d %s, want 2xx", status, out)
	}
}
