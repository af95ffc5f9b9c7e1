package jwt_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestEnvironmentCondition: a GitHub job for environment "staging" cannot
// read a path of the prod mount even though its policy grants the path,
// because the grant carries environment_match; the job for "prod" can.
// A token that merely claims the environment in metadata it chose
// (auth/token/create) gets nothing either.
func TestEnvironmentCondition(t *testing.T) {
	s := startServer(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, env := range []string{"prod", "staging"} {
		must(s.root.Sys().Mount("kv-"+env, &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
		_, err := s.root.Logical().Write("sys/mounts/kv-"+env+"/tune", map[string]any{"environment": env})
		must(err)
		_, err = s.root.Logical().Write("kv-"+env+"/data/db", map[string]any{"data": map[string]any{"password": "pw-" + env}})
		must(err)
	}
	tune, err := s.root.Logical().Read("sys/mounts/kv-prod/tune")
	must(err)
	if tune.Data["environment"] != "prod" {
		t.Fatalf("tune = %v, want environment prod", tune.Data)
	}
	must(s.root.Sys().PutPolicy("deploy", `
path "kv-prod/data/*" {
  capabilities = ["read"]
  condition { environment_match = true }
}
path "kv-staging/data/*" {
  capabilities = ["read"]
  condition { environment_match = true }
}`))
	_, err = s.root.Logical().Write("auth/jwt/role/deploy", map[string]any{
		"role_type":         "jwt",
		"bound_audiences":   []string{aud},
		"bound_claims":      map[string]any{"repository": "octo/app"},
		"user_claim":        "sub",
		"environment_claim": "environment",
		"token_policies":    []string{"deploy"},
		"token_ttl":         "5m",
	})
	must(err)

	login := func(env string) *vault.Client {
		t.Helper()
		c := jwttest.GitHub(s.is.URL, "octo/app", "repo:octo/app:environment:"+env, aud, time.Now())
		c["environment"] = env
		vc := nodetest.VaultClient(t, s.n.URL, "")
		sec, err := vc.Logical().Write("auth/jwt/login", map[string]any{"role": "deploy", "jwt": jwttest.Sign(t, jwttest.KidRSA, c, nil)})
		if err != nil {
			t.Fatalf("login for %s: %v", env, err)
		}
		if got := sec.Auth.Metadata["environment"]; got != env {
			t.Fatalf("environment metadata = %q, want %q", got, env)
		}
		return nodetest.VaultClient(t, s.n.URL, sec.Auth.ClientToken)
	}
	read := func(c *vault.Client, path string) error {
		_, err := c.Logical().Read(path)
		return err
	}
	staging, prod := login("staging"), login("prod")
	if err := read(staging, "kv-prod/data/db"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("staging read prod: err = %v, want 403", err)
	}
	if err := read(staging, "kv-staging/data/db"); err != nil {
		t.Errorf("staging read staging: %v", err)
	}
	if err := read(prod, "kv-prod/data/db"); err != nil {
		t.Errorf("prod read prod: %v", err)
	}
	if err := read(prod, "kv-staging/data/db"); err == nil {
		t.Error("prod read staging")
	}
	// capabilities-self reports what the condition allows now.
	for _, tc := range []struct {
		c    *vault.Client
		want string
	}{{staging, "deny"}, {prod, "read"}} {
		caps, err := tc.c.Sys().CapabilitiesSelf("kv-prod/data/db")
		if err != nil || !slices.Equal(caps, []string{tc.want}) {
			t.Errorf("capabilities-self = %v, %v; want [%s]", caps, err, tc.want)
		}
	}
	// Metadata chosen by the token's creator is no login claim.
	forged, err := s.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"deploy"}, Metadata: map[string]string{"environment": "prod"}})
	must(err)
	if err := read(nodetest.VaultClient(t, s.n.URL, forged.Auth.ClientToken), "kv-prod/data/db"); err == nil {
		t.Error("a token with environment=prod metadata from auth/token/create read prod")
	}
	// A claim that is not an environment name refuses the login.
	c := jwttest.GitHub(s.is.URL, "octo/app", "repo:octo/app:environment:x", aud, time.Now())
	c["environment"] = "Prod Env*"
	if _, err := nodetest.VaultClient(t, s.n.URL, "").Logical().Write("auth/jwt/login",
		map[string]any{"role": "deploy", "jwt": jwttest.Sign(t, jwttest.KidRSA, c, nil)}); err == nil || !strings.Contains(err.Error(), "environment_claim") {
		t.Errorf("login with a malformed environment: err = %v", err)
	}
}
