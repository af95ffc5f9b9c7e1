package jwt_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func TestLoginRightJobs(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	tests := []struct {
		name, role, kid string
		claims          map[string]any
		wantAlias       string
		wantMeta        map[string]string
		wantPolicies    []string
	}{
		{"github environment", "gh-prod", jwttest.KidRSA, ghMain(f.is.URL), "repo:octo/app:environment:production",
			map[string]string{"role": "gh-prod", "repository": "octo/app", "environment": "production", "ref": "refs/heads/main"}, []string{"ci-octo-app"}},
		{"github branch glob", "gh-branches", jwttest.KidEC,
			jwttest.GitHub(f.is.URL, "octo/app", "repo:octo/app:ref:refs/heads/release-1", aud, t0), "repo:octo/app:ref:refs/heads/release-1",
			map[string]string{"role": "gh-branches"}, []string{"ci-octo-app"}},
		{"gitlab protected main", "gl-prod", jwttest.KidEC, glMain(f.is.URL), "sample-user",
			map[string]string{"role": "gl-prod", "project_path": "group/project", "ref": "main"}, []string{"ci-group-project"}},
		{"kubernetes service account", "k8s", jwttest.KidEd25519, k8sCI(f.is.URL), "system:serviceaccount:ci:deployer",
			map[string]string{"role": "k8s", "namespace": "ci"}, []string{"k8s-ci"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := f.login(tc.role, jwttest.Sign(t, tc.kid, tc.claims, nil))
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if a.Alias != tc.wantAlias || a.DisplayName != tc.wantAlias {
				t.Errorf("alias %q display %q, want %q", a.Alias, a.DisplayName, tc.wantAlias)
			}
			if d := cmp.Diff(tc.wantMeta, a.Metadata); d != "" {
				t.Errorf("metadata (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantPolicies, a.Policies); d != "" {
				t.Errorf("policies (-want +got):\n%s", d)
			}
			if !a.ClientToken.Empty() {
				t.Errorf("backend filled ClientToken; the core creates tokens")
			}
		})
	}
	a, err := f.login("gh-prod", f.sign(ghMain(f.is.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if a.TTL != 10*time.Minute {
		t.Errorf("TTL = %v, want 10m", a.TTL)
	}
}

// TestLoginRefused is the negative table: forged, malformed and misbound
// tokens, each refused with a clear reason (T19-T22, T57).
func TestLoginRefused(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	iss := f.is.URL
	gh := ghMain(iss)
	valid := f.sign(gh)
	parts := strings.Split(valid, ".")
	enc := base64.RawURLEncoding
	evilPayload := enc.EncodeToString([]byte(`{"sub":"repo:evil/app:environment:production"}`))
	const payload = `{"sub":"repo:octo/app:environment:production","aud":"keyward","exp":1999999999,"repository_id":"74","ref":"refs/heads/main"}`

	tests := []struct {
		name, role, token, want string
		status                  int
	}{
		{"alg none", "gh-prod", jwttest.Raw(`{"alg":"none","typ":"JWT"}`, payload, nil), `algorithm "none" is not allowed`, 403},
		{"alg None", "gh-prod", jwttest.Raw(`{"alg":"None"}`, payload, nil), `algorithm "None" is not allowed`, 403},
		{"alg none with signature", "gh-prod", jwttest.Raw(`{"alg":"none"}`, payload, []byte("x")), "is not allowed", 403},
		{"HS256 keyed with the public key", "gh-prod", jwttest.HS256WithPublicKey(gh), `algorithm "HS256" is not allowed`, 403},
		{"HS512", "gh-prod", jwttest.Raw(`{"alg":"HS512","kid":"rsa-1"}`, payload, []byte("sig")), `"HS512" is not allowed`, 403},
		{"no alg", "gh-prod", jwttest.Raw(`{"kid":"rsa-1"}`, payload, []byte("sig")), "no alg", 403},
		{"empty signature", "gh-prod", parts[0] + "." + parts[1] + ".", "no signature", 403},
		{"jku header", "gh-prod", jwttest.Sign(t, jwttest.KidRSA, gh, map[string]any{"jku": iss + "/keys"}), `"jku" is not accepted`, 403},
		{"x5u header", "gh-prod", jwttest.Sign(t, jwttest.KidRSA, gh, map[string]any{"x5u": iss + "/cert"}), `"x5u" is not accepted`, 403},
		{"embedded jwk", "gh-prod", jwttest.Sign(t, jwttest.KidStranger, gh, map[string]any{"jwk": f.is.JWKS().Keys[0]}), `"jwk" is not accepted`, 403},
		{"x5c header", "gh-prod", jwttest.Sign(t, jwttest.KidRSA, gh, map[string]any{"x5c": []string{"MIIB"}}), `"x5c" is not accepted`, 403},
		{"crit header", "gh-prod", jwttest.Sign(t, jwttest.KidRSA, gh, map[string]any{"crit": []string{"exp"}}), `"crit" is not accepted`, 403},
		{"unknown kid", "gh-prod", jwttest.Sign(t, jwttest.KidStranger, gh, nil), "no configured key matches", 403},
		{"known kid, stranger's key", "gh-prod", jwttest.SignAs(t, jwttest.KidStranger, jwttest.KidRSA, gh, nil), "signature is not valid", 403},
		{"no kid, stranger's key", "gh-prod", jwttest.SignAs(t, jwttest.KidStranger, "", gh, nil), "signature is not valid", 403},
		{"kid of the EC key, RSA signature", "gh-prod", jwttest.SignAs(t, jwttest.KidRSA, jwttest.KidEC, gh, nil), "signature is not valid", 403},
		{"tampered payload", "gh-prod", parts[0] + "." + evilPayload + "." + parts[2], "signature is not valid", 403},
		{"tampered header", "gh-prod", enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa-1","typ":"x"}`)) + "." + parts[1] + "." + parts[2], "signature is not valid", 403},
		{"not a JWS", "gh-prod", "abc", "not a compact JWS", 403},
		{"four parts", "gh-prod", valid + ".x", "not a compact JWS", 403},
		{"header not base64", "gh-prod", "!!." + parts[1] + "." + parts[2], "not base64url", 403},
		{"header not an object", "gh-prod", enc.EncodeToString([]byte(`[1]`)) + "." + parts[1] + "." + parts[2], "not a JSON object", 403},
		{"claims not an object", "gh-prod", signRaw(t, `["sub"]`), "claims are not a JSON object", 403},
		{"wrong aud", "gh-prod", f.sign(with(gh, "aud", "https://github.com/octo")), "audience does not match", 403},
		{"no aud", "gh-prod", f.sign(with(gh, "aud", nil)), "no audience", 403},
		{"aud empty string", "gh-prod", f.sign(with(gh, "aud", "")), "no audience", 403},
		{"aud empty list", "gh-prod", f.sign(with(gh, "aud", []any{})), "no audience", 403},
		{"aud number", "gh-prod", f.sign(with(gh, "aud", 7)), `"aud" is neither`, 403},
		{"expired", "gh-prod", f.sign(with(gh, "exp", t0.Add(-2*time.Minute).Unix())), "expired", 403},
		{"nbf in the future", "gh-prod", f.sign(with(gh, "nbf", t0.Add(2*time.Minute).Unix())), "not valid yet", 403},
		{"iat in the future", "gh-prod", f.sign(with(gh, "iat", t0.Add(2*time.Minute).Unix())), "issued in the future", 403},
		{"no exp", "gh-prod", f.sign(with(gh, "exp", nil)), "no exp", 403},
		{"exp as string", "gh-prod", f.sign(with(gh, "exp", "1999999999")), `"exp" is not a number`, 403},
		{"exp 1e300", "gh-prod", signRaw(t, strings.Replace(payload, "1999999999", "1e300", 1)), `"exp" is out of range`, 403},
		{"exp negative", "gh-prod", f.sign(with(gh, "exp", -5)), `"exp" is out of range`, 403},
		{"wrong issuer", "gh-prod", f.sign(with(gh, "iss", "https://token.actions.githubusercontent.com")), "issuer does not match", 403},
		{"no issuer", "gh-prod", f.sign(with(gh, "iss", nil)), "issuer does not match", 403},
		{"another repo's sub", "gh-prod", f.sign(with(gh, "sub", "repo:octo/other:environment:production", "repository", "octo/other")), "bound_subject", 403},
		{"recycled repo name, other id", "gh-prod", f.sign(with(gh, "repository_id", "999")), `claim "repository_id" does not match`, 403},
		{"other branch", "gh-prod", f.sign(with(gh, "sub", "repo:octo/app:ref:refs/heads/feature")), "bound_subject", 403},
		{"fork pull request", "gh-prod", f.sign(with(gh, "sub", "repo:octo/app:pull_request", "event_name", "pull_request", "ref", "refs/pull/7/merge", "environment", nil)), "bound_subject", 403},
		{"pull request against branch glob", "gh-branches", f.sign(with(gh, "sub", "repo:octo/app:pull_request")), `claim "sub" does not match`, 403},
		{"glob: sibling repo app-evil", "gh-branches", f.sign(with(gh, "sub", "repo:octo/app-evil:ref:refs/heads/main")), `claim "sub" does not match`, 403},
		{"glob: star does not cross /", "gh-branches", f.sign(with(gh, "sub", "repo:octo/app:ref:refs/heads/feature/x")), `claim "sub" does not match`, 403},
		{"glob: tag is not a branch", "gh-branches", f.sign(with(gh, "sub", "repo:octo/app:ref:refs/tags/v1")), `claim "sub" does not match`, 403},
		{"bound claim missing", "gh-prod", f.sign(with(gh, "repository_id", nil)), `claim "repository_id" is missing`, 403},
		{"gitlab unprotected ref", "gl-prod", f.sign(with(glMain(iss), "ref_protected", "false")), `claim "ref_protected" does not match`, 403},
		{"gitlab tag named main", "gl-prod", f.sign(with(glMain(iss), "ref_type", "tag")), `claim "ref_type" does not match`, 403},
		{"gitlab other project id", "gl-prod", f.sign(with(glMain(iss), "project_id", "21")), `claim "project_id" does not match`, 403},
		{"gitlab other environment", "gl-prod", f.sign(with(glMain(iss), "environment", "review/x")), `claim "environment" does not match`, 403},
		{"gitlab token for a github role", "gh-prod", f.sign(with(glMain(iss), "aud", aud)), "bound_subject", 403},
		{"kubernetes other namespace", "k8s", f.sign(jwttest.Kubernetes(iss, "prod", "deployer", []string{aud}, t0)), `"/kubernetes.io/namespace" does not match`, 403},
		{"kubernetes other service account", "k8s", f.sign(jwttest.Kubernetes(iss, "ci", "default", []string{aud}, t0)), `"/kubernetes.io/serviceaccount/name" does not match`, 403},
		{"kubernetes wrong audience", "k8s", f.sign(jwttest.Kubernetes(iss, "ci", "deployer", []string{"https://kubernetes.default.svc"}, t0)), "audience does not match", 403},
		{"user claim missing", "gh-prod", f.sign(with(gh, "sub", nil)), "bound_subject", 403},
		{"unknown role", "nope", valid, `role "nope" could not be found`, 400},
		{"oversized token", "gh-prod", strings.Repeat("a", 70<<10), "too large", 403},
	}
	if len(tests) < 30 {
		t.Fatalf("negative table has %d cases, want at least 30", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := f.login(tc.role, tc.token)
			if err == nil {
				t.Fatalf("login accepted (alias %q), want refusal %q", a.Alias, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if got, _, _ := logical.StatusOf(err); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if strings.Contains(err.Error(), "octo/") || strings.Contains(err.Error(), tc.token[:min(len(tc.token), 20)]) {
				t.Errorf("error %q echoes a claim value or the token", err)
			}
		})
	}
}

// signRaw signs a raw JSON payload (odd shapes go-jose's map encoding
// cannot produce).
func signRaw(t *testing.T, payload string) string {
	t.Helper()
	return jwttest.SignRaw(t, jwttest.KidRSA, []byte(payload))
}

// TestAudience is T20: string and list aud handled alike; only a token
// naming the bound audience passes.
func TestAudience(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	tests := []struct {
		name string
		aud  any
		ok   bool
	}{
		{"other", "other", false},
		{"[other]", []any{"other"}, false},
		{"empty string", "", false},
		{"empty list", []any{}, false},
		{"absent", nil, false},
		{"[keyward, x]", []any{aud, "x"}, true},
		{"keyward", aud, true},
		{"[x, keyward]", []any{"x", aud}, true},
		{"[\"\"]", []any{""}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.login("gh-prod", f.sign(with(ghMain(f.is.URL), "aud", tc.aud)))
			if (err == nil) != tc.ok {
				t.Errorf("aud %v: err = %v, want ok=%v", tc.aud, err, tc.ok)
			}
		})
	}
}

// TestClockSkew is T21 with the server clock offset from the issuer's: the
// token has iat=nbf=t0 and exp=t0+10m; the default leeway is 60 s.
func TestClockSkew(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration
		leeway  string // expiration_leeway
		ok      bool
		wantErr string
	}{
		{"server 5m behind", -5 * time.Minute, "", false, "not valid yet"},
		{"server 61s behind", -61 * time.Second, "", false, "not valid yet"},
		{"server 59s behind", -59 * time.Second, "", true, ""},
		{"server 5m ahead", 5 * time.Minute, "", true, ""},
		{"59s after exp", 10*time.Minute + 59*time.Second, "", true, ""},
		{"61s after exp", 10*time.Minute + 61*time.Second, "", false, "expired"},
		{"exactly leeway after exp", 11 * time.Minute, "", false, "expired"},
		{"4m after exp with expiration_leeway 5m", 14 * time.Minute, "5m", true, ""},
		{"7m after exp with expiration_leeway 5m", 17 * time.Minute, "5m", false, "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.skew)
			role := with(ghProd)
			if tc.leeway != "" {
				role["expiration_leeway"] = tc.leeway
			}
			f.mustWrite("role/gh-prod", role)
			c := with(ghMain(f.is.URL), "iat", t0.Unix(), "nbf", t0.Unix(), "exp", t0.Add(10*time.Minute).Unix())
			_, err := f.login("gh-prod", f.sign(c))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestGitLabStringBooleans(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	// The role binds ref_protected with a JSON boolean; GitLab sends a string.
	for _, v := range []any{"true", true} {
		if _, err := f.login("gl-prod", f.sign(with(glMain(f.is.URL), "ref_protected", v))); err != nil {
			t.Errorf("ref_protected %v: %v", v, err)
		}
	}
	for _, v := range []any{"false", false, "TRUE", "1", 1, nil} {
		if _, err := f.login("gl-prod", f.sign(with(glMain(f.is.URL), "ref_protected", v))); err == nil {
			t.Errorf("ref_protected %v accepted", v)
		}
	}
}

func TestGitHubImmutableSubject(t *testing.T) {
	f := newFixture(t, 0)
	f.mustWrite("role/immutable", map[string]any{
		"bound_audiences": aud, "user_claim": "sub",
		"bound_subject": "repo:octo@65/app@74:environment:production",
	})
	ok := with(ghMain(f.is.URL), "sub", "repo:octo@65/app@74:environment:production")
	if _, err := f.login("immutable", f.sign(ok)); err != nil {
		t.Fatalf("immutable subject refused: %v", err)
	}
	// Same names, recreated repository (new id).
	recycled := with(ok, "sub", "repo:octo@65/app@999:environment:production")
	if _, err := f.login("immutable", f.sign(recycled)); err == nil {
		t.Fatal("recycled repository accepted")
	}
}

func TestSupportedAlgsConfig(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	f.mustWrite("config", map[string]any{"jwt_supported_algs": []any{"RS256"}})
	if _, err := f.login("k8s", jwttest.Sign(t, jwttest.KidEd25519, k8sCI(f.is.URL), nil)); err == nil || !strings.Contains(err.Error(), `"EdDSA" is not allowed`) {
		t.Fatalf("EdDSA with jwt_supported_algs=[RS256]: %v", err)
	}
	if _, err := f.login("k8s", f.sign(k8sCI(f.is.URL))); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	for _, bad := range []string{"HS256", "none", "RS1"} {
		if _, err := f.write("config", map[string]any{"jwt_supported_algs": bad}); err == nil {
			t.Errorf("jwt_supported_algs=%s accepted", bad)
		}
	}
}

func TestStaticPublicKeys(t *testing.T) {
	f := newFixture(t, 0)
	f.s = &logicaltest.InmemStorage{}
	f.mustWrite("config", map[string]any{
		"jwt_validation_pubkeys": []any{jwttest.PublicKeyPEM(jwttest.KidRSA), jwttest.PublicKeyPEM(jwttest.KidEC)},
		"bound_issuer":           "https://kubernetes.default.svc",
	})
	f.mustWrite("role/k8s", k8s)
	c := k8sCI("https://kubernetes.default.svc")
	for _, kid := range []string{jwttest.KidRSA, jwttest.KidEC} {
		if _, err := f.login("k8s", jwttest.SignAs(t, kid, "", c, nil)); err != nil {
			t.Errorf("key %s: %v", kid, err)
		}
	}
	if _, err := f.login("k8s", jwttest.SignAs(t, jwttest.KidEd25519, "", c, nil)); err == nil {
		t.Error("token signed by an unconfigured key accepted")
	}
	if _, err := f.login("k8s", f.sign(with(c, "iss", f.is.URL))); err == nil {
		t.Error("token from another issuer accepted")
	}
}

func TestMissingInput(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	for _, data := range []map[string]any{{"role": "gh-prod"}, {"jwt": "a.b.c"}, {"role": "../x", "jwt": "a.b.c"}, {"role": "gh-prod", "jwt": "a.b.c", "extra": 1}} {
		_, err := f.write("login", data)
		if got, _, _ := logical.StatusOf(err); got != http.StatusBadRequest {
			t.Errorf("login %v: err %v, want 400", data, err)
		}
	}
}
