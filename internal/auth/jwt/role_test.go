package jwt_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

func TestRoleValidation(t *testing.T) {
	f := newFixture(t, 0)
	tests := []struct {
		name string
		data map[string]any
		want string // "" = accepted
	}{
		{"audience only (Datadog case)", map[string]any{"bound_audiences": aud, "user_claim": "sub"}, "binds no subject"},
		{"audience and ref only", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_claims": map[string]any{"ref": "refs/heads/main"}}, "binds no subject"},
		{"scope claim bound only by wildcards", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_claims_type": "glob", "bound_claims": map[string]any{"sub": "**"}}, "binds no subject"},
		{"explicit allow_unbound", map[string]any{"bound_audiences": aud, "user_claim": "sub", "allow_unbound": true}, ""},
		{"no audience", map[string]any{"user_claim": "sub", "bound_subject": "repo:o/r:ref:refs/heads/main"}, "bound_audiences is required"},
		{"any audience opt-in", map[string]any{"allow_any_audience": true, "user_claim": "sub", "bound_subject": "x"}, ""},
		{"no user_claim", map[string]any{"bound_audiences": aud, "bound_subject": "x"}, "user_claim is required"},
		{"oidc role type", map[string]any{"role_type": "oidc", "bound_audiences": aud, "user_claim": "sub", "bound_subject": "x"}, "not supported"},
		{"bad claims type", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "bound_claims_type": "regex"}, "string or glob"},
		{"reserved metadata", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "claim_mappings": map[string]any{"sub": "role"}}, "reserved"},
		{"bad cidr", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "token_bound_cidrs": "10.0.0.0/33"}, "token_bound_cidrs"},
		{"ttl above max", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "token_ttl": "2h", "token_max_ttl": "1h"}, "token_max_ttl"},
		{"negative leeway", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "clock_skew_leeway": -1}, "duration"},
		{"huge leeway", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "expiration_leeway": "1h"}, "between 0"},
		{"root policy", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "token_policies": "root"}, "root"},
		{"fullwidth policy name", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "token_policies": "ａdmin"}, "policy name"},
		{"policy name with a semicolon", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "token_policies": []any{"dev;admin"}}, "policy name"},
		{"policy name with a newline", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "policies": []any{"dev\nadmin"}}, "policy name"},
		{"unknown field", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "bound_cidr": "x"}, "unknown field"},
		{"bound claim object value", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "x", "bound_claims": map[string]any{"a": map[string]any{}}}, "values must be"},
		{"kubernetes pointer scope", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_claims": map[string]any{"/kubernetes.io/namespace": "ci"}}, ""},
		{"repository_id scope", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_claims": map[string]any{"repository_id": 74}}, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.write(fmt.Sprintf("role/r%d", i), tc.data)
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRoleCRUD(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	resp, err := f.do(logical.ListOperation, "role/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data["keys"].([]string); !slices.Equal(got, []string{"gh-branches", "gh-prod", "gl-prod", "k8s"}) {
		t.Errorf("list = %v", got)
	}
	resp, err = f.do(logical.ReadOperation, "role/gh-prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["bound_subject"] != "repo:octo/app:environment:production" || resp.Data["token_ttl"] != int64(600) {
		t.Errorf("read = %v", resp.Data)
	}
	// Update keeps fields not sent.
	f.mustWrite("role/gh-prod", map[string]any{"token_ttl": "5m"})
	resp, _ = f.do(logical.ReadOperation, "role/gh-prod", nil)
	if resp.Data["token_ttl"] != int64(300) || resp.Data["bound_subject"] != "repo:octo/app:environment:production" {
		t.Errorf("after update = %v", resp.Data)
	}
	if _, err := f.do(logical.DeleteOperation, "role/gh-prod", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("gh-prod", f.sign(ghMain(f.is.URL))); err == nil {
		t.Error("login with a deleted role")
	}
}

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		role jwt.Role
		want []string // codes expected
		not  []string // codes that must not appear
	}{
		{"safe github role", jwt.Role{BoundClaimsType: "string", BoundSubject: "repo:octo/app:environment:production",
			BoundClaims: map[string][]string{"repository_id": {"74"}}, Token: tokenparams.Params{TTL: 600e9}},
			nil, []string{jwt.LintPullRequest, jwt.LintUnprotectedRef, jwt.LintLongTTL, jwt.LintBroadGlob, jwt.LintAudienceOnly}},
		{"pull request subject", jwt.Role{BoundClaimsType: "string", BoundSubject: "repo:octo/app:pull_request", Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintPullRequest}, nil},
		{"pull_request_target", jwt.Role{BoundClaimsType: "string", BoundClaims: map[string][]string{"repository_id": {"74"}, "event_name": {"pull_request_target"}}, Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintPRTarget, jwt.LintPullRequest, jwt.LintUnprotectedRef}, nil},
		{"repo wildcard glob", jwt.Role{BoundClaimsType: "glob", BoundClaims: map[string][]string{"sub": {"repo:octo/app:**"}}, Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintPullRequest, jwt.LintBroadGlob}, nil},
		{"org-wide glob", jwt.Role{BoundClaimsType: "glob", BoundClaims: map[string][]string{"sub": {"repo:octo/*:ref:refs/heads/main"}}, Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintBroadGlob}, []string{jwt.LintPullRequest}},
		{"prefix glob", jwt.Role{BoundClaimsType: "glob", BoundClaims: map[string][]string{"sub": {"repo:octo/app*:ref:refs/heads/main"}}, Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintPrefixGlob}, nil},
		{"star", jwt.Role{BoundClaimsType: "glob", BoundClaims: map[string][]string{"repository": {"*"}}},
			[]string{jwt.LintBroadGlob, jwt.LintAudienceOnly, jwt.LintLongTTL}, nil},
		{"mutable names", jwt.Role{BoundClaimsType: "string", BoundClaims: map[string][]string{"repository": {"octo/app"}, "project_path": {"g/p"}}},
			[]string{jwt.LintMutableName}, nil},
		{"gitlab unprotected", jwt.Role{BoundClaimsType: "string", BoundClaims: map[string][]string{"project_id": {"20"}, "ref": {"main"}}, Token: tokenparams.Params{TTL: 600e9}},
			[]string{jwt.LintUnprotectedRef, jwt.LintRefWithoutType}, nil},
		{"gitlab protected", jwt.Role{BoundClaimsType: "string", BoundClaims: map[string][]string{"project_id": {"20"}, "ref_protected": {"true"}, "ref_type": {"branch"}, "ref": {"main"}}, Token: tokenparams.Params{TTL: 600e9}},
			nil, []string{jwt.LintUnprotectedRef, jwt.LintRefWithoutType}},
		{"audience only", jwt.Role{BoundClaimsType: "string", AllowUnbound: true, AllowAnyAud: true, Token: tokenparams.Params{Period: 3600e9}},
			[]string{jwt.LintAudienceOnly, jwt.LintAnyAudience, jwt.LintLongTTL}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var codes []string
			for _, f := range jwt.Lint(&tc.role, nil) {
				codes = append(codes, f.Code)
			}
			for _, w := range tc.want {
				if !slices.Contains(codes, w) {
					t.Errorf("Lint = %v, missing %s", codes, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(codes, n) {
					t.Errorf("Lint = %v, unexpected %s", codes, n)
				}
			}
		})
	}
}

func TestLintEndpoint(t *testing.T) {
	f := newFixture(t, 0)
	resp := f.mustWrite("role/pr", map[string]any{"bound_audiences": aud, "user_claim": "sub", "bound_subject": "repo:octo/app:pull_request"})
	if resp == nil || len(resp.Warnings) == 0 {
		t.Fatalf("writing a pull-request role gave no warning: %+v", resp)
	}
	resp, err := f.do(logical.ReadOperation, "role/pr/lint", nil)
	if err != nil {
		t.Fatal(err)
	}
	findings := resp.Data["findings"].([]any)
	if len(findings) == 0 || findings[0].(map[string]any)["code"] != jwt.LintPullRequest {
		t.Errorf("findings = %v", findings)
	}
}

// TestGlob pins the glob semantics (T22).
func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"repo:org/app*", "repo:org/app-evil:ref:refs/heads/main", false},
		{"repo:org/app*", "repo:org/app-evil", true},
		{"repo:org/app:*", "repo:org/app:pull_request", true},
		{"repo:org/app:*", "repo:org/app:ref:refs/heads/main", false},
		{"repo:org/app:ref:refs/heads/*", "repo:org/app:ref:refs/heads/main", true},
		{"repo:org/app:ref:refs/heads/*", "repo:org/app:ref:refs/heads/a/b", false},
		{"repo:org/app:**", "repo:org/app:ref:refs/heads/a/b", true},
		{"repo:org/*:ref:refs/heads/main", "repo:org/x:ref:refs/heads/main", true},
		{"repo:org/*:ref:refs/heads/main", "repo:org/x/y:ref:refs/heads/main", false},
		{"*", "", false},
		{"*", "anything", true},
		{"*", "a:b", false},
		{"**", "a:b/c", true},
		{"a.b", "axb", false},
		{"a+b", "a+b", true},
		{"(x)", "(x)", true},
		{"exact", "exact", true},
		{"exact", "exact2", false},
		{"*main", "refs/heads/main", false},
		{"***", "a/b", true},
	}
	for _, tc := range tests {
		if got := jwt.GlobMatch(tc.pattern, tc.value); got != tc.want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.want)
		}
	}
}

// TestGlobClaims: glob mode through login, with absent, empty and list
// claims (any-of-any) and non-string claims compared exactly.
func TestGlobClaims(t *testing.T) {
	f := newFixture(t, 0)
	f.mustWrite("role/g", map[string]any{
		"bound_audiences": aud, "user_claim": "sub", "bound_claims_type": "glob",
		"bound_claims": map[string]any{"repository_id": "74", "team": []any{"ops-*", "sre"}, "run_attempt": "*"},
	})
	base := ghMain(f.is.URL)
	tests := []struct {
		name string
		kv   []any
		ok   bool
	}{
		{"list claim any-of-any", []any{"team", []any{"dev", "ops-eu"}}, true},
		{"string claim", []any{"team", "sre"}, true},
		{"no element matches", []any{"team", []any{"dev", "ops/eu"}}, false},
		{"claim absent", []any{"team", nil}, false},
		{"glob * vs empty claim", []any{"team", "sre", "run_attempt", ""}, false},
		{"glob * vs absent claim", []any{"team", "sre", "run_attempt", nil}, false},
		{"numeric claim compared exactly", []any{"team", "sre", "repository_id", 74}, true},
		{"numeric claim not globbed", []any{"team", "sre", "repository_id", 745}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.login("g", f.sign(with(base, tc.kv...)))
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
