package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// fakeGitHubRequestToken is what the fake Actions runtime expects as the
// bearer of token requests.
const fakeGitHubRequestToken = "req-token-5b8e"

// TestJWTScripts runs testdata/jwt/*.txt against a fresh server with a jwt
// mount configured against a local HTTPS issuer, and a fake GitHub Actions
// token endpoint. Scripts get KEYWARD_ADDR, HOME, ROOT_TOKEN (KEYWARD_TOKEN
// is unset), ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, GH_JWT (the token the
// endpoint hands out for audience "keyward"), GL_TOKEN (a GitLab id_token)
// and SA_TOKEN_FILE (a Kubernetes service-account token).
func TestJWTScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/jwt",
		UpdateScripts: *update,
		Setup: serverSetup(scriptServer{noToken: true, extra: func(e *testscript.Env, tb testing.TB, n *nodetest.Node) error {
			is := jwttest.NewIssuer(tb)
			if err := setupJWTMount(n.URL, n.RootToken.Reveal(), is); err != nil {
				return err
			}
			gh := newFakeGitHub(tb, is)
			sa := filepath.Join(e.WorkDir, "sa-token")
			k8s := jwttest.Kubernetes(is.URL, "ci", "deployer", []string{"keyward"}, time.Now())
			if err := os.WriteFile(sa, []byte(jwttest.Sign(tb, jwttest.KidEC, k8s, nil)+"\n"), 0o600); err != nil {
				return err
			}
			e.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", gh.URL+"/token?api-version=2.0")
			e.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", fakeGitHubRequestToken)
			e.Setenv("GH_JWT", gh.token(tb, "keyward"))
			e.Setenv("GL_TOKEN", jwttest.Sign(tb, jwttest.KidRSA, jwttest.GitLab(is.URL, "group/project", "https://keyward.example.com", time.Now()), nil))
			e.Setenv("SA_TOKEN_FILE", sa)
			return nil
		}}),
		Cmds: scriptCmds(nil),
	})
}

// setupJWTMount enables auth/jwt against is, with roles for a GitHub
// repository (app), a GitLab project (gl), a Kubernetes service account
// (k8s) and a pull-request role for lint (pr), and a secret per repository.
func setupJWTMount(addr, root string, is *jwttest.Issuer) error {
	c, err := api.New(api.Config{Address: addr, Token: api.NewToken(root)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	writes := []struct {
		path string
		data map[string]any
	}{
		{"sys/auth/jwt", map[string]any{"type": "jwt"}},
		{"auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true}},
		{"sys/policy/ci-octo-app", map[string]any{"policy": `path "secret/data/ci/octo/app/*" { capabilities = ["read"] }`}},
		{"secret/data/ci/octo/app/db", map[string]any{"data": map[string]any{"password": "pw-app"}}},
		{"secret/data/ci/octo/other/db", map[string]any{"data": map[string]any{"password": "pw-other"}}},
		{"auth/jwt/role/app", map[string]any{
			"bound_audiences": "keyward", "bound_subject": "repo:octo/app:environment:production",
			"bound_claims": map[string]any{"repository_id": "74"}, "user_claim": "sub",
			"token_policies": "ci-octo-app", "token_ttl": "10m",
		}},
		{"auth/jwt/role/gl", map[string]any{
			"bound_audiences": "https://keyward.example.com", "user_claim": "user_login", "token_ttl": "10m",
			"bound_claims":   map[string]any{"project_id": "20", "ref_protected": "true", "ref_type": "branch", "ref": "main"},
			"token_policies": "ci-octo-app",
		}},
		{"auth/jwt/role/k8s", map[string]any{
			"bound_audiences": "keyward", "user_claim": "sub", "token_ttl": "10m",
			"bound_claims": map[string]any{"/kubernetes.io/namespace": "ci", "/kubernetes.io/serviceaccount/name": "deployer"},
		}},
		{"auth/jwt/role/pr", map[string]any{
			"bound_audiences": "keyward", "user_claim": "sub", "bound_subject": "repo:octo/app:pull_request",
		}},
	}
	for _, w := range writes {
		if _, err := c.Write(ctx, w.path, w.data); err != nil {
			return err
		}
	}
	return nil
}

// fakeGitHub is the Actions runtime's token endpoint: it checks the
// request token and mints a GitHub-shaped token for the asked audience.
type fakeGitHub struct {
	*httptest.Server
	is     *jwttest.Issuer
	mu     sync.Mutex
	tokens map[string]string
}

func newFakeGitHub(tb testing.TB, is *jwttest.Issuer) *fakeGitHub {
	g := &fakeGitHub{is: is, tokens: map[string]string{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+fakeGitHubRequestToken || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad credentials "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		aud := r.URL.Query().Get("audience")
		if aud == "" {
			aud = "https://github.com/octo"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": g.token(tb, aud)})
	}))
	tb.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) token(tb testing.TB, aud string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tokens[aud]; ok {
		return t
	}
	c := jwttest.GitHub(g.is.URL, "octo/app", "repo:octo/app:environment:production", aud, time.Now())
	c["environment"] = "production"
	t := jwttest.Sign(tb, jwttest.KidRSA, c, nil)
	g.tokens[aud] = t
	return t
}
