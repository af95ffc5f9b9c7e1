package jwt_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// t0 is the issuer's "now" for minted tokens.
var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

const aud = "keyward"

// fixture is a backend on in-memory storage, configured against a running
// test issuer through discovery, with a server clock at t0+skew.
type fixture struct {
	t  testing.TB
	b  *jwt.Backend
	s  *logicaltest.InmemStorage
	is *jwttest.Issuer
	// clk is the server clock, at t0+skew and settable mid-test.
	clk *clocktest.Clock
}

func newFixture(t testing.TB, skew time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, s: &logicaltest.InmemStorage{}, is: jwttest.NewIssuer(t)}
	f.clk = clocktest.New(t0.Add(skew))
	f.b = jwt.New(jwt.Options{Now: f.clk.Now})
	f.mustWrite("config", map[string]any{
		"oidc_discovery_url":    f.is.URL,
		"oidc_discovery_ca_pem": f.is.CAPEM,
		"allow_private_network": true,
	})
	return f
}

func (f *fixture) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return f.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: f.s,
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"},
	})
}

func (f *fixture) write(path string, data map[string]any) (*logical.Response, error) {
	return f.do(logical.UpdateOperation, path, data)
}

func (f *fixture) mustWrite(path string, data map[string]any) *logical.Response {
	f.t.Helper()
	resp, err := f.write(path, data)
	if err != nil {
		f.t.Fatalf("write %s: %v", path, err)
	}
	return resp
}

func (f *fixture) login(role, token string) (*logical.Auth, error) {
	resp, err := f.write("login", map[string]any{"role": role, "jwt": token})
	if err != nil {
		return nil, err
	}
	return resp.Auth, nil
}

// sign signs claims with the issuer's RSA key.
func (f *fixture) sign(claims map[string]any) string {
	f.t.Helper()
	return jwttest.Sign(f.t, jwttest.KidRSA, claims, nil)
}

// roles used across tests.
var (
	ghProd = map[string]any{
		"bound_audiences": []any{aud},
		"bound_subject":   "repo:octo/app:environment:production",
		"bound_claims":    map[string]any{"repository_id": "74", "ref": "refs/heads/main"},
		"user_claim":      "sub",
		"claim_mappings":  map[string]any{"repository": "repository", "environment": "environment", "ref": "ref"},
		"token_policies":  []any{"ci-octo-app"},
		"token_ttl":       "10m",
	}
	ghBranches = map[string]any{
		"bound_audiences":   []any{aud},
		"bound_claims_type": "glob",
		"bound_claims":      map[string]any{"sub": "repo:octo/app:ref:refs/heads/*", "repository_id": "74"},
		"user_claim":        "sub",
		"token_policies":    []any{"ci-octo-app"},
	}
	glProd = map[string]any{
		"bound_audiences": []any{"https://keyward.example.com"},
		"bound_claims": map[string]any{
			"project_id": "20", "project_path": "group/project", "ref_protected": true,
			"ref_type": "branch", "ref": "main", "environment": "production",
		},
		"user_claim":     "user_login",
		"claim_mappings": map[string]any{"project_path": "project_path", "ref": "ref"},
		"token_policies": []any{"ci-group-project"},
	}
	k8s = map[string]any{
		"bound_audiences": []any{aud},
		"bound_claims": map[string]any{
			"/kubernetes.io/namespace":           "ci",
			"/kubernetes.io/serviceaccount/name": "deployer",
		},
		"user_claim":     "sub",
		"claim_mappings": map[string]any{"/kubernetes.io/namespace": "namespace"},
		"token_policies": []any{"k8s-ci"},
	}
)

func (f *fixture) roles() {
	f.t.Helper()
	f.mustWrite("role/gh-prod", ghProd)
	f.mustWrite("role/gh-branches", ghBranches)
	f.mustWrite("role/gl-prod", glProd)
	f.mustWrite("role/k8s", k8s)
}

func ghMain(iss string) map[string]any {
	c := jwttest.GitHub(iss, "octo/app", "repo:octo/app:environment:production", aud, t0)
	c["environment"] = "production"
	return c
}

func glMain(iss string) map[string]any {
	return jwttest.GitLab(iss, "group/project", "https://keyward.example.com", t0)
}

func k8sCI(iss string) map[string]any {
	return jwttest.Kubernetes(iss, "ci", "deployer", []string{"https://kubernetes.default.svc", aud}, t0)
}

// with returns a copy of c with the given claims set (nil value deletes).
func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}
