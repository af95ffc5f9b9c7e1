package node_test

import (
	"net/http"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// A policy condition mfa_max_age sees when the token last passed MFA: a
// fresh token is refused, the same token is allowed once it has sent a
// valid code on a path MFA path, and refused again when the code is older
// than the condition allows (injected clock).
func TestMFAMaxAgeConditionFollowsStepUp(t *testing.T) {
	clock := clocktest.New(time.Now().UTC().Truncate(time.Hour).Add(7 * time.Second))
	n := nodetest.StartWith(t, nodetest.Options{Now: clock.Now})
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	mustOK(t, "enable userpass", root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
	mustOK(t, "policy", root.Sys().PutPolicy("ops", `
path "secret/data/stepup" {
  capabilities = ["read"]
  mfa_methods  = ["ops-totp"]
}
path "secret/data/recent/*" {
  capabilities = ["read"]
  condition { mfa_max_age = "15m" }
}
path "identity/mfa/method/totp/generate" { capabilities = ["update"] }
`))
	_, err := root.Logical().Write("auth/userpass/users/carol", map[string]any{"password": "pw-carol", "token_policies": "ops"})
	mustOK(t, "user", err)
	for _, p := range []string{"secret/data/stepup", "secret/data/recent/db"} {
		_, err := root.Logical().Write(p, map[string]any{"data": map[string]any{"v": "1"}})
		mustOK(t, "write "+p, err)
	}
	_, err = root.Logical().Write("sys/mfa/method/totp/ops-totp", map[string]any{"issuer": "Keyward"})
	mustOK(t, "method", err)
	m, err := root.Logical().Read("sys/mfa/method/totp/ops-totp")
	mustOK(t, "read method", err)
	s, err := nodetest.VaultClient(t, n.URL, "").Logical().Write("auth/userpass/login/carol", map[string]any{"password": "pw-carol"})
	mustOK(t, "login", err)
	carol := nodetest.VaultClient(t, n.URL, s.Auth.ClientToken)
	g, err := carol.Logical().Write("identity/mfa/method/totp/generate", map[string]any{"method_id": m.Data["id"]})
	mustOK(t, "generate", err)
	key := keyFromURL(t, g.Data["url"].(string))

	if _, err := carol.Logical().Read("secret/data/recent/db"); status(err) != http.StatusForbidden {
		t.Fatalf("never passed MFA: err = %v, want 403", err)
	}
	if _, err := withMFA(t, carol, "ops-totp:"+codeAt(t, key, clock.Now())).Logical().Read("secret/data/stepup"); err != nil {
		t.Fatalf("step-up with a valid code: %v", err)
	}
	clock.Add(10 * time.Minute)
	if _, err := carol.Logical().Read("secret/data/recent/db"); err != nil {
		t.Fatalf("10 minutes after MFA, mfa_max_age 15m: %v", err)
	}
	clock.Add(6 * time.Minute)
	if _, err := carol.Logical().Read("secret/data/recent/db"); status(err) != http.StatusForbidden {
		t.Fatalf("16 minutes after MFA: err = %v, want 403", err)
	}
}
