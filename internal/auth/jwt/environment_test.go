package jwt_test

import (
	"maps"
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
	if _, err := s.root.Logical().Write("sys/mounts/kv-prod/tune", map[string]any{"environment": "Prod Env"}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("tune with a malformed environment: err = %v, want 400", err)
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

// TestWhoCanAndExplain checks sys/policies/who-can and sys/policies/explain
// against a fixture of policies and roles on a real server.
func TestWhoCanAndExplain(t *testing.T) {
	s := startServer(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.root.Sys().Mount("kv-prod", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	_, err := s.root.Logical().Write("sys/mounts/kv-prod/tune", map[string]any{"environment": "prod"})
	must(err)
	for name, text := range map[string]string{
		"deploy":    `path "kv-prod/data/*" { capabilities = ["read"] condition { environment_match = true } }`,
		"reader":    `path "kv-prod/data/db" { capabilities = ["read"] }`,
		"templated": `path "kv-prod/data/{{identity.entity.name}}" { capabilities = ["read"] }`,
		"writer":    `path "kv-prod/data/*" { capabilities = ["update"] }`,
		"blocker":   `path "kv-prod/data/db" { capabilities = ["deny"] }`,
	} {
		must(s.root.Sys().PutPolicy(name, text))
	}
	_, err = s.root.Logical().Write("auth/jwt/role/deploy", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{aud}, "bound_claims": map[string]any{"repository": "octo/app"},
		"user_claim": "sub", "environment_claim": "environment", "token_policies": []string{"deploy"},
	})
	must(err)
	_, err = s.root.Logical().Write("auth/jwt/role/blocked", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{aud}, "bound_claims": map[string]any{"repository": "octo/app"},
		"user_claim": "sub", "token_policies": []string{"reader", "blocker"},
	})
	must(err)
	must(s.root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	_, err = s.root.Logical().Write("auth/approle/role/batch", map[string]any{"token_policies": []string{"reader"}})
	must(err)
	must(s.root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
	_, err = s.root.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "correct-horse-battery-9", "token_policies": []string{"templated"}})
	must(err)
	_, err = s.root.Logical().Write("auth/userpass/users/bob", map[string]any{"password": "correct-horse-battery-9", "token_policies": []string{"writer"}})
	must(err)

	// Identity store holders: an internal group with reader (carol is in
	// it), a group with writer only, an entity with the templated policy.
	carol, err := s.root.Logical().Write("identity/entity", map[string]any{"name": "carol"})
	must(err)
	_, err = s.root.Logical().Write("identity/group", map[string]any{"name": "dba", "policies": []string{"reader"},
		"member_entity_ids": []string{carol.Data["id"].(string)}})
	must(err)
	_, err = s.root.Logical().Write("identity/group", map[string]any{"name": "writers", "policies": []string{"writer"}})
	must(err)
	_, err = s.root.Logical().Write("identity/entity", map[string]any{"name": "dave", "policies": []string{"templated"}})
	must(err)

	who, err := s.root.Logical().Write("sys/policies/who-can", map[string]any{"path": "kv-prod/data/db", "operation": "read"})
	must(err)
	holders := func(kind string) map[string]string {
		got := map[string]string{}
		for _, h := range who.Data[kind].([]any) {
			m := h.(map[string]any)
			got[m["name"].(string)] = m["access"].(string)
		}
		return got
	}
	if got, want := holders("groups"), map[string]string{"dba": "allowed"}; !maps.Equal(got, want) {
		t.Errorf("who-can groups = %v, want %v", got, want)
	}
	if got, want := holders("entities"), map[string]string{"carol": "allowed", "dave": "possibly, via template"}; !maps.Equal(got, want) {
		t.Errorf("who-can entities = %v, want %v", got, want)
	}
	gotPolicies := map[string]string{}
	for _, p := range who.Data["policies"].([]any) {
		m := p.(map[string]any)
		gotPolicies[m["name"].(string)] = m["access"].(string)
	}
	wantPolicies := map[string]string{"deploy": "conditional", "reader": "allowed", "templated": "possibly, via template", "root": "allowed"}
	for name, want := range wantPolicies {
		if gotPolicies[name] != want {
			t.Errorf("who-can policy %s = %q, want %q (all: %v)", name, gotPolicies[name], want, gotPolicies)
		}
	}
	for _, name := range []string{"writer", "blocker", "default"} {
		if _, ok := gotPolicies[name]; ok {
			t.Errorf("who-can lists policy %s: %v", name, gotPolicies)
		}
	}
	gotRoles := map[string]string{}
	for _, r := range who.Data["roles"].([]any) {
		m := r.(map[string]any)
		gotRoles[m["mount"].(string)+m["role"].(string)] = m["access"].(string)
	}
	wantRoles := map[string]string{"auth/jwt/deploy": "conditional", "auth/approle/batch": "allowed", "auth/jwt/app": "", "auth/jwt/blocked": "",
		"auth/userpass/alice": "possibly, via template", "auth/userpass/bob": ""}
	for role, want := range wantRoles {
		if gotRoles[role] != want {
			t.Errorf("who-can role %s = %q, want %q (all: %v)", role, gotRoles[role], want, gotRoles)
		}
	}

	// Explain for a staging job's token, by accessor.
	c := jwttest.GitHub(s.is.URL, "octo/app", "repo:octo/app:environment:staging", aud, time.Now())
	c["environment"] = "staging"
	sec, err := nodetest.VaultClient(t, s.n.URL, "").Logical().Write("auth/jwt/login", map[string]any{"role": "deploy", "jwt": jwttest.Sign(t, jwttest.KidRSA, c, nil)})
	must(err)
	ex, err := s.root.Logical().Write("sys/policies/explain", map[string]any{"accessor": sec.Auth.Accessor, "path": "kv-prod/data/db", "operation": "read"})
	must(err)
	reason, _ := ex.Data["reason"].(string)
	if ex.Data["allowed"] != false || ex.Data["pattern"] != "kv-prod/data/*" || ex.Data["path_environment"] != "prod" ||
		!strings.Contains(reason, `environment_match: caller environment "staging", path environment "prod"`) {
		t.Errorf("explain = %v", ex.Data)
	}
	if strings.Contains(ex.Data["reason"].(string), sec.Auth.ClientToken) {
		t.Error("explain answer holds the token")
	}
	// By policies and a described context.
	ex, err = s.root.Logical().Write("sys/policies/explain", map[string]any{"policies": []string{"reader", "blocker"}, "path": "kv-prod/data/db"})
	must(err)
	if ex.Data["allowed"] != false || !strings.Contains(ex.Data["reason"].(string), `denied by policy "blocker"`) {
		t.Errorf("explain = %v", ex.Data)
	}
	ex, err = s.root.Logical().Write("sys/policies/explain", map[string]any{"policies": []string{"deploy"}, "environment": "prod", "path": "kv-prod/data/db"})
	must(err)
	if ex.Data["allowed"] != true {
		t.Errorf("explain = %v", ex.Data)
	}
	// Explain needs sudo on the path.
	job := nodetest.VaultClient(t, s.n.URL, sec.Auth.ClientToken)
	if _, err := job.Logical().Write("sys/policies/explain", map[string]any{"policies": []string{"deploy"}, "path": "kv-prod/data/db"}); err == nil {
		t.Error("a token without sudo used sys/policies/explain")
	}
	if _, err := s.root.Logical().Write("sys/policies/explain", map[string]any{"path": "kv-prod/data/db"}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("explain without a caller: %v", err)
	}
}
