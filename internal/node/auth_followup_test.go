package node_test

import (
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// mustOK fails the test on err, naming what was being done.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// status returns the HTTP status of a Vault client error, 0 for others.
func status(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// enrollTOTP enrolls a key for user on auth/userpass and returns it.
func enrollTOTP(t *testing.T, root *vault.Client, user string) totp.Key {
	t.Helper()
	g, err := root.Logical().Write("auth/userpass/users/"+user+"/mfa/totp/generate", nil)
	mustOK(t, "enroll totp", err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(g.Data["secret"].(string))
	mustOK(t, "decode totp secret", err)
	digits, _ := g.Data["digits"].(json.Number).Int64()
	period, _ := g.Data["period"].(json.Number).Int64()
	return totp.Key{Secret: secret, Algorithm: g.Data["algorithm"].(string), Digits: int(digits), Period: int(period), Skew: 1}
}

// A userpass mount with mfa_policies=[admin]: a user holding the admin
// policy (sudo on sys/) cannot log in without TOTP although mfa_required is
// off on the user, is told to get enrolled when no key exists, logs in with
// a code, and cannot reuse it; a user without the policy needs no code.
func TestUserpassMFAPolicies(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	mustOK(t, "enable userpass", root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
	mustOK(t, "admin policy", root.Sys().PutPolicy("admin", `path "sys/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`))
	_, err := root.Logical().Write("auth/userpass/config", map[string]any{"mfa_policies": []string{"admin"}})
	mustOK(t, "write config", err)
	cfg, err := root.Logical().Read("auth/userpass/config")
	mustOK(t, "read config", err)
	if got := cfg.Data["mfa_policies"]; len(got.([]any)) != 1 || got.([]any)[0] != "admin" {
		t.Fatalf("config mfa_policies = %v", got)
	}
	_, err = root.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "pw-alice", "token_policies": "admin"})
	mustOK(t, "create alice", err)
	_, err = root.Logical().Write("auth/userpass/users/bob", map[string]any{"password": "pw-bob", "token_policies": "dev"})
	mustOK(t, "create bob", err)

	anon := nodetest.VaultClient(t, n.URL, "")
	login := func(user, pw, code string) (*vault.Secret, error) {
		d := map[string]any{"password": pw}
		if code != "" {
			d["totp"] = code
		}
		return anon.Logical().Write("auth/userpass/login/"+user, d)
	}

	_, err = login("alice", "pw-alice", "")
	if status(err) != http.StatusForbidden || !strings.Contains(err.Error(), "no TOTP key enrolled") {
		t.Fatalf("admin without an enrolled key: err = %v, want a 403 asking for enrollment", err)
	}
	if _, err := login("bob", "pw-bob", ""); err != nil {
		t.Fatalf("user without an mfa policy: %v", err)
	}

	key := enrollTOTP(t, root, "alice")
	if _, err := login("alice", "pw-alice", ""); status(err) != http.StatusBadRequest {
		t.Fatalf("admin login without a code: err = %v, want 400", err)
	}
	code, _ := key.Code(key.Step(time.Now()))
	s, err := login("alice", "pw-alice", code)
	if err != nil {
		// The step may have just turned; one retry with the new code.
		code, _ = key.Code(key.Step(time.Now()))
		s, err = login("alice", "pw-alice", code)
	}
	mustOK(t, "admin login with a code", err)
	if !contains(s.Auth.Policies, "admin") {
		t.Fatalf("token policies = %v, want admin", s.Auth.Policies)
	}
	// The token carries sudo on sys/: it may list auth mounts.
	if _, err := nodetest.VaultClient(t, n.URL, s.Auth.ClientToken).Sys().ListAuth(); err != nil {
		t.Fatalf("admin token on sys/auth: %v", err)
	}
	if _, err := login("alice", "pw-alice", code); status(err) != http.StatusBadRequest {
		t.Fatalf("reused code: err = %v, want 400", err)
	}
}

// renewRefused asserts that renew-self with token fails with a 4xx.
func renewRefused(t *testing.T, addr, token, what string) {
	t.Helper()
	_, err := nodetest.VaultClient(t, addr, token).Auth().Token().RenewSelf(0)
	if c := status(err); c < 400 || c >= 500 {
		t.Fatalf("%s: renew-self err = %v, want a 4xx", what, err)
	}
}

func renewOK(t *testing.T, addr, token, what string) {
	t.Helper()
	s, err := nodetest.VaultClient(t, addr, token).Auth().Token().RenewSelf(0)
	if err != nil {
		t.Fatalf("%s: renew-self: %v", what, err)
	}
	if s.Auth == nil || s.Auth.LeaseDuration <= 0 {
		t.Fatalf("%s: renew-self answered %+v", what, s.Auth)
	}
}

// Tokens from jwt, approle and userpass renew while their role or user
// exists, and not after it is deleted; a jwt role's new token_bound_cidrs
// also bind renewal.
func TestAuthRenewalFollowsRoleOrUser(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	anon := nodetest.VaultClient(t, n.URL, "")

	t.Run("jwt", func(t *testing.T) {
		is := jwttest.NewIssuer(t)
		mustOK(t, "enable jwt", root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
		_, err := root.Logical().Write("auth/jwt/config", map[string]any{
			"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true,
		})
		mustOK(t, "configure jwt", err)
		role := map[string]any{
			"role_type":       "jwt",
			"bound_audiences": []string{"keyward"},
			"bound_subject":   "repo:octo/app:environment:production",
			"user_claim":      "sub",
			"token_policies":  []string{"ci"},
			"token_ttl":       "5m",
		}
		_, err = root.Logical().Write("auth/jwt/role/app", role)
		mustOK(t, "write role", err)
		claims := jwttest.GitHub(is.URL, "octo/app", "repo:octo/app:environment:production", "keyward", time.Now())
		s, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": jwttest.Sign(t, jwttest.KidRSA, claims, nil)})
		mustOK(t, "jwt login", err)
		tok := s.Auth.ClientToken
		renewOK(t, n.URL, tok, "role unchanged")

		_, err = root.Logical().Write("auth/jwt/role/app", map[string]any{"token_bound_cidrs": []string{"10.0.0.0/8"}})
		mustOK(t, "bind role to 10/8", err)
		renewRefused(t, n.URL, tok, "role now bound to another network")
		_, err = root.Logical().Write("auth/jwt/role/app", map[string]any{"token_bound_cidrs": []string{"127.0.0.0/8", "::1"}})
		mustOK(t, "bind role to loopback", err)
		renewOK(t, n.URL, tok, "role bound to the caller's network")

		_, err = root.Logical().Delete("auth/jwt/role/app")
		mustOK(t, "delete role", err)
		renewRefused(t, n.URL, tok, "role deleted")
	})

	t.Run("approle", func(t *testing.T) {
		mustOK(t, "enable approle", root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
		_, err := root.Logical().Write("auth/approle/role/ci", map[string]any{"token_policies": "ci", "token_ttl": "5m"})
		mustOK(t, "write role", err)
		rid, err := root.Logical().Read("auth/approle/role/ci/role-id")
		mustOK(t, "read role-id", err)
		sid, err := root.Logical().Write("auth/approle/role/ci/secret-id", nil)
		mustOK(t, "secret-id", err)
		s, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": rid.Data["role_id"], "secret_id": sid.Data["secret_id"]})
		mustOK(t, "approle login", err)
		if s.Auth.Metadata["role_name"] != "ci" {
			t.Fatalf("token metadata = %v, want role_name=ci", s.Auth.Metadata)
		}
		renewOK(t, n.URL, s.Auth.ClientToken, "role exists")
		_, err = root.Logical().Delete("auth/approle/role/ci")
		mustOK(t, "delete role", err)
		renewRefused(t, n.URL, s.Auth.ClientToken, "role deleted")
	})

	t.Run("userpass", func(t *testing.T) {
		mustOK(t, "enable userpass", root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
		_, err := root.Logical().Write("auth/userpass/users/carol", map[string]any{"password": "pw-carol", "token_ttl": "5m"})
		mustOK(t, "create user", err)
		s, err := anon.Logical().Write("auth/userpass/login/carol", map[string]any{"password": "pw-carol"})
		mustOK(t, "userpass login", err)
		renewOK(t, n.URL, s.Auth.ClientToken, "user exists")
		_, err = root.Logical().Delete("auth/userpass/users/carol")
		mustOK(t, "delete user", err)
		renewRefused(t, n.URL, s.Auth.ClientToken, "user deleted")
	})
}
