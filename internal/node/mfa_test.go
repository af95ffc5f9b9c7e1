package node_test

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// keyFromURL reads the TOTP key of an otpauth:// url.
func keyFromURL(t *testing.T, raw string) totp.Key {
	t.Helper()
	u, err := url.Parse(raw)
	mustOK(t, "parse otpauth url", err)
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("url is not otpauth://totp: %s", u.Scheme)
	}
	q := u.Query()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(q.Get("secret"))
	mustOK(t, "decode secret", err)
	return totp.Key{Secret: secret, Algorithm: q.Get("algorithm"), Digits: 6, Period: 30, Skew: 1}
}

func codeAt(t *testing.T, k totp.Key, at time.Time) string {
	t.Helper()
	c, err := k.Code(k.Step(at))
	mustOK(t, "totp code", err)
	return c
}

// withMFA returns a copy of c sending X-Vault-MFA: v.
func withMFA(t *testing.T, c *vault.Client, v string) *vault.Client {
	t.Helper()
	cc, err := c.Clone()
	mustOK(t, "clone client", err)
	cc.SetToken(c.Token())
	cc.SetMFACreds([]string{v})
	return cc
}

// Step-up MFA over HTTP with the official client and an injected clock:
// a policy path listing mfa_methods refuses a request without a code
// (naming the method), allows one with a valid code, lets the same token
// through within mfa_freshness and asks again after it, refuses a
// replayed and a stale code; a login enforcement on a group holds the
// login of its member (mfa_requirement, then sys/mfa/validate, or the
// X-Vault-MFA header) and not another user's; secrets and codes are in
// no log and no audit entry.
func TestStepUpMFA(t *testing.T) {
	clock := clocktest.New(time.Now().UTC().Truncate(time.Hour).Add(7 * time.Second))
	auditDir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Now: clock.Now, AuditDir: auditDir})
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	auditFile := filepath.Join(auditDir, "audit.log")
	enableFileAudit(t, root, auditFile)

	mustOK(t, "enable userpass", root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
	mustOK(t, "prod policy", root.Sys().PutPolicy("prod", `
path "secret/data/prod/*" {
  capabilities = ["read"]
  mfa_methods  = ["ops-totp"]
}
path "secret/data/open" { capabilities = ["read"] }
path "identity/mfa/method/totp/generate" { capabilities = ["update"] }
`))
	for _, u := range []string{"alice", "bob"} {
		_, err := root.Logical().Write("auth/userpass/users/"+u, map[string]any{"password": "pw-" + u, "token_policies": "prod"})
		mustOK(t, "create "+u, err)
	}
	_, err := root.Logical().Write("secret/data/prod/db", map[string]any{"data": map[string]any{"password": "prod-db-pass"}})
	mustOK(t, "write prod secret", err)
	_, err = root.Logical().Write("secret/data/open", map[string]any{"data": map[string]any{"v": "1"}})
	mustOK(t, "write open secret", err)

	// The method, by name (the shape policies refer to).
	_, err = root.Logical().Write("sys/mfa/method/totp/ops-totp", map[string]any{"issuer": "Keyward", "mfa_freshness": "5m"})
	mustOK(t, "create method", err)
	m, err := root.Logical().Read("sys/mfa/method/totp/ops-totp")
	mustOK(t, "read method", err)
	methodID, _ := m.Data["id"].(string)
	if methodID == "" || m.Data["issuer"] != "Keyward" || m.Data["type"] != "totp" {
		t.Fatalf("method = %v", m.Data)
	}
	if _, err := root.Logical().Write("sys/mfa/method/totp/bad", map[string]any{"issuer": "K", "digits": 7}); status(err) != http.StatusBadRequest {
		t.Fatalf("digits=7: err = %v, want 400", err)
	}
	got, err := root.Logical().Read("identity/mfa/method/totp/" + methodID)
	mustOK(t, "read method by id", err)
	if got.Data["name"] != "ops-totp" {
		t.Fatalf("identity read = %v", got.Data)
	}

	anon := nodetest.VaultClient(t, n.URL, "")
	login := func(c *vault.Client, user string) *vault.Secret {
		t.Helper()
		s, err := c.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
		mustOK(t, "login "+user, err)
		return s
	}
	aliceTok := login(anon, "alice").Auth.ClientToken
	alice := nodetest.VaultClient(t, n.URL, aliceTok)

	g, err := alice.Logical().Write("identity/mfa/method/totp/generate", map[string]any{"method_id": methodID})
	mustOK(t, "generate", err)
	rawURL, _ := g.Data["url"].(string)
	key := keyFromURL(t, rawURL)
	again, err := alice.Logical().Write("identity/mfa/method/totp/generate", map[string]any{"method_id": methodID})
	mustOK(t, "generate again", err)
	if again != nil && (again.Data["url"] != nil || len(again.Warnings) == 0) {
		t.Fatalf("second generate returned %v (warnings %v), want only a warning", again.Data, again.Warnings)
	}
	canaries := []string{key.Base32(), rawURL}

	// Without a code: a clear 403 naming the method.
	_, err = alice.Logical().Read("secret/data/prod/db")
	if status(err) != http.StatusForbidden || !strings.Contains(err.Error(), `"ops-totp"`) || !strings.Contains(err.Error(), "X-Vault-MFA") {
		t.Fatalf("no code: err = %v, want 403 naming ops-totp and X-Vault-MFA", err)
	}
	if _, err := alice.Logical().Read("secret/data/open"); err != nil {
		t.Fatalf("a path without mfa_methods: %v", err)
	}
	// A stale code (ten minutes old) is refused.
	stale := codeAt(t, key, clock.Now().Add(-10*time.Minute))
	if _, err := withMFA(t, alice, "ops-totp:"+stale).Logical().Read("secret/data/prod/db"); status(err) != http.StatusForbidden {
		t.Fatalf("stale code: err = %v, want 403", err)
	}
	// A malformed header is a 400 that does not echo it.
	if _, err := withMFA(t, alice, "ops totp:12 34").Logical().Read("secret/data/prod/db"); status(err) != http.StatusBadRequest || strings.Contains(err.Error(), "12 34") {
		t.Fatalf("malformed header: err = %v", err)
	}
	// A valid code passes.
	code1 := codeAt(t, key, clock.Now())
	canaries = append(canaries, `"`+code1+`"`, "ops-totp:"+code1)
	s, err := withMFA(t, alice, "ops-totp:"+code1).Logical().Read("secret/data/prod/db")
	mustOK(t, "read with a valid code", err)
	if s.Data["data"].(map[string]any)["password"] != "prod-db-pass" {
		t.Fatalf("read = %v", s.Data)
	}
	// Within mfa_freshness the token needs no new code...
	clock.Add(4 * time.Minute)
	if _, err := alice.Logical().Read("secret/data/prod/db"); err != nil {
		t.Fatalf("within freshness: %v", err)
	}
	// ...after it, it does.
	clock.Add(2 * time.Minute)
	if _, err := alice.Logical().Read("secret/data/prod/db"); status(err) != http.StatusForbidden {
		t.Fatalf("after freshness: err = %v, want 403", err)
	}
	code2 := codeAt(t, key, clock.Now())
	canaries = append(canaries, `"`+code2+`"`, "ops-totp:"+code2)
	if _, err := withMFA(t, alice, "ops-totp:"+code2).Logical().Read("secret/data/prod/db"); err != nil {
		t.Fatalf("new code after freshness: %v", err)
	}
	// Replay: the same code on another token of alice (no freshness there).
	alice2 := nodetest.VaultClient(t, n.URL, login(anon, "alice").Auth.ClientToken)
	if _, err := withMFA(t, alice2, "ops-totp:"+code2).Logical().Read("secret/data/prod/db"); status(err) != http.StatusForbidden {
		t.Fatalf("replayed code: err = %v, want 403", err)
	}
	// bob has no secret for the method: told so, never allowed.
	bob := nodetest.VaultClient(t, n.URL, login(anon, "bob").Auth.ClientToken)
	if _, err := withMFA(t, bob, "ops-totp:"+code2).Logical().Read("secret/data/prod/db"); status(err) != http.StatusForbidden {
		t.Fatalf("bob without a secret: err = %v, want 403", err)
	}

	// Login enforcement on a group alice is in.
	ent, err := alice.Auth().Token().LookupSelf()
	mustOK(t, "lookup-self", err)
	aliceEntity, _ := ent.Data["entity_id"].(string)
	grp, err := root.Logical().Write("identity/group", map[string]any{"name": "ops", "member_entity_ids": []string{aliceEntity}})
	mustOK(t, "create group", err)
	_, err = root.Logical().Write("identity/mfa/login-enforcement/ops-login", map[string]any{
		"mfa_method_ids": []string{methodID}, "identity_group_ids": []string{grp.Data["id"].(string)},
	})
	mustOK(t, "create enforcement", err)
	if _, err := root.Logical().Write("identity/mfa/login-enforcement/none", map[string]any{"mfa_method_ids": []string{methodID}}); status(err) != http.StatusBadRequest {
		t.Fatalf("enforcement without targets: err = %v, want 400", err)
	}

	clock.Add(time.Minute)
	held := login(anon, "alice")
	if held.Auth == nil || held.Auth.ClientToken != "" || held.Auth.MFARequirement == nil {
		t.Fatalf("enforced login = %+v, want an mfa_requirement and no token", held.Auth)
	}
	reqID := held.Auth.MFARequirement.MFARequestID
	c := held.Auth.MFARequirement.MFAConstraints["ops-login"]
	if reqID == "" || c == nil || len(c.Any) != 1 || c.Any[0].ID != methodID || !c.Any[0].UsesPasscode {
		t.Fatalf("mfa_requirement = %+v", held.Auth.MFARequirement)
	}
	canaries = append(canaries, reqID)
	if _, err := anon.Sys().MFAValidate(reqID, map[string]any{methodID: []string{"000000"}}); status(err) != http.StatusForbidden {
		t.Fatalf("validate with a wrong code: err = %v, want 403", err)
	}
	code3 := codeAt(t, key, clock.Now())
	canaries = append(canaries, `"`+code3+`"`, "ops-totp:"+code3)
	v, err := anon.Sys().MFAValidate(reqID, map[string]any{methodID: []string{code3}})
	mustOK(t, "validate", err)
	if v.Auth == nil || v.Auth.ClientToken == "" || v.Auth.EntityID != aliceEntity {
		t.Fatalf("validate = %+v, want alice's token", v.Auth)
	}
	if _, err := nodetest.VaultClient(t, n.URL, v.Auth.ClientToken).Logical().Read("secret/data/open"); err != nil {
		t.Fatalf("token from validate: %v", err)
	}
	if _, err := anon.Sys().MFAValidate(reqID, map[string]any{methodID: []string{code3}}); status(err) != http.StatusForbidden {
		t.Fatalf("validate twice: err = %v, want 403", err)
	}
	// bob is not in the group: no challenge.
	if b := login(anon, "bob"); b.Auth.ClientToken == "" || b.Auth.MFARequirement != nil {
		t.Fatalf("bob's login = %+v, want a token", b.Auth)
	}
	// The passcode inline, by method name: a token at once.
	clock.Add(30 * time.Second)
	code4 := codeAt(t, key, clock.Now())
	canaries = append(canaries, `"`+code4+`"`, "ops-totp:"+code4)
	if a := login(withMFA(t, anon, "ops-totp:"+code4), "alice"); a.Auth.ClientToken == "" {
		t.Fatalf("login with X-Vault-MFA = %+v, want a token", a.Auth)
	}
	// A replayed inline code is refused.
	if _, err := withMFA(t, anon, methodID+":"+code4).Logical().Write("auth/userpass/login/alice", map[string]any{"password": "pw-alice"}); status(err) != http.StatusForbidden {
		t.Fatalf("login with a replayed code: err = %v, want 403", err)
	}

	// Containment: RequireMFA holds bob's next login although no
	// enforcement matches him; once he passes, the mark is gone.
	bobEnt, err := bob.Auth().Token().LookupSelf()
	mustOK(t, "bob lookup-self", err)
	bobEntity, _ := bobEnt.Data["entity_id"].(string)
	mustOK(t, "require mfa", n.Core().RequireMFA(t.Context(), bobEntity))
	bheld := login(anon, "bob")
	if bheld.Auth.ClientToken != "" || bheld.Auth.MFARequirement == nil {
		t.Fatalf("bob's login after RequireMFA = %+v, want held", bheld.Auth)
	}
	bg, err := root.Logical().Write("identity/mfa/method/totp/admin-generate", map[string]any{"method_id": methodID, "entity_id": bobEntity})
	mustOK(t, "admin-generate for bob", err)
	bkey := keyFromURL(t, bg.Data["url"].(string))
	canaries = append(canaries, bkey.Base32())
	bv, err := anon.Sys().MFAValidate(bheld.Auth.MFARequirement.MFARequestID, map[string]any{"ops-totp": []string{codeAt(t, bkey, clock.Now())}})
	mustOK(t, "bob validate", err)
	if bv.Auth.ClientToken == "" {
		t.Fatal("bob's validate returned no token")
	}
	if b := login(anon, "bob"); b.Auth.ClientToken == "" {
		t.Fatalf("bob's login after passing = %+v, want a token", b.Auth)
	}

	// Canary sweep: logs and audit.
	audit, err := os.ReadFile(auditFile)
	mustOK(t, "read audit", err)
	if !strings.Contains(string(audit), "sys/mfa/validate") {
		t.Fatal("the audit log has no sys/mfa/validate entry")
	}
	// Codes are swept quoted or after their method name: six bare digits
	// turn up by chance in timestamps and HMACs.
	for _, c := range canaries {
		if strings.Contains(n.Logs.String(), c) {
			t.Errorf("server log contains a secret, code or request id (%d bytes)", len(c))
		}
		if strings.Contains(string(audit), c) {
			t.Errorf("audit log contains a secret, code or request id (%d bytes)", len(c))
		}
	}
}
