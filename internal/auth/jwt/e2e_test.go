package jwt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// server is a real Keyward server with the jwt method enabled and
// configured against a test issuer, two repositories' secrets and one
// policy per repository.
type server struct {
	n    *nodetest.Node
	root *vault.Client
	is   *jwttest.Issuer
}

func startServer(t testing.TB) *server {
	t.Helper()
	s := &server{n: nodetest.Start(t), is: jwttest.NewIssuer(t)}
	s.root = nodetest.VaultClient(t, s.n.URL, s.n.RootToken.Reveal())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	_, err := s.root.Logical().Write("auth/jwt/config", map[string]any{
		"oidc_discovery_url": s.is.URL, "oidc_discovery_ca_pem": s.is.CAPEM, "allow_private_network": true,
	})
	must(err)
	for _, repo := range []string{"app", "other"} {
		must(s.root.Sys().PutPolicy("ci-octo-"+repo, `path "secret/data/ci/octo/`+repo+`/*" { capabilities = ["read"] }`))
		_, err := s.root.Logical().Write("secret/data/ci/octo/"+repo+"/db", map[string]any{"data": map[string]any{"password": "pw-" + repo}})
		must(err)
		_, err = s.root.Logical().Write("auth/jwt/role/"+repo, map[string]any{
			"role_type":       "jwt",
			"bound_audiences": []string{aud},
			"bound_subject":   "repo:octo/" + repo + ":environment:production",
			"bound_claims":    map[string]any{"repository": "octo/" + repo},
			"user_claim":      "sub",
			"claim_mappings":  map[string]string{"repository": "repository", "environment": "environment"},
			"token_policies":  []string{"ci-octo-" + repo},
			"token_ttl":       "5m",
		})
		must(err)
	}
	return s
}

func (s *server) token(t testing.TB, repo string, kv ...any) string {
	t.Helper()
	c := jwttest.GitHub(s.is.URL, "octo/"+repo, "repo:octo/"+repo+":environment:production", aud, time.Now())
	c["environment"] = "production"
	return jwttest.Sign(t, jwttest.KidRSA, with(c, kv...), nil)
}

// TestEndToEnd (T57): a job logs in over HTTP with the official Vault
// client and with Keyward's client; its token reads its repository's path
// and nothing else; wrong-audience, fork and other-repo tokens get nothing.
func TestEndToEnd(t *testing.T) {
	s := startServer(t)
	jwtApp := s.token(t, "app")

	// Official Vault client, raw write.
	vc := nodetest.VaultClient(t, s.n.URL, "")
	sec, err := vc.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": jwtApp})
	if err != nil {
		t.Fatalf("vault client login: %v", err)
	}
	if sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("no token: %+v", sec)
	}
	if sec.Auth.Metadata["repository"] != "octo/app" || sec.Auth.Metadata["role"] != "app" {
		t.Errorf("metadata = %v", sec.Auth.Metadata)
	}
	if sec.Auth.LeaseDuration != 300 {
		t.Errorf("lease duration = %d, want 300", sec.Auth.LeaseDuration)
	}
	job := nodetest.VaultClient(t, s.n.URL, sec.Auth.ClientToken)
	got, err := job.Logical().Read("secret/data/ci/octo/app/db")
	if err != nil || got == nil {
		t.Fatalf("read own path: %v", err)
	}
	if pw := got.Data["data"].(map[string]any)["password"]; pw != "pw-app" {
		t.Errorf("password = %v", pw)
	}
	if _, err := job.Logical().Read("secret/data/ci/octo/other/db"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("read other repo's path: err = %v, want 403", err)
	}
	self, err := job.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if self.Data["display_name"] == "" || !strings.Contains(self.Data["path"].(string), "auth/jwt/login") {
		t.Errorf("lookup-self = %v", self.Data)
	}

	// Keyward's own client.
	kc, err := api.New(api.Config{Address: s.n.URL})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kc.Write(context.Background(), "auth/jwt/login", map[string]any{"role": "other", "jwt": s.token(t, "other")})
	if err != nil || ks.Auth == nil || ks.Auth.ClientToken == "" {
		t.Fatalf("keyward client login: %v %+v", err, ks)
	}
	kc.SetToken(ks.Auth.ClientToken)
	if _, err := kc.Read(context.Background(), "secret/data/ci/octo/other/db", nil); err != nil {
		t.Errorf("other reads its path: %v", err)
	}
	if _, err := kc.Read(context.Background(), "secret/data/ci/octo/app/db", nil); err == nil {
		t.Error("other read app's path")
	}

	// Refusals over HTTP, each recorded by the audit log.
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.root.Sys().EnableAuditWithOptions("file", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": auditPath}}); err != nil {
		t.Fatalf("enable audit: %v", err)
	}
	refused := []struct{ name, role, jwt, want string }{
		{"wrong audience", "app", s.token(t, "app", "aud", "https://github.com/octo"), "audience does not match"},
		{"fork pull request", "app", s.token(t, "app", "sub", "repo:octo/app:pull_request", "event_name", "pull_request"), "bound_subject"},
		{"other repo's token", "app", s.token(t, "other"), "bound_subject"},
		{"other branch", "app", s.token(t, "app", "sub", "repo:octo/app:ref:refs/heads/dev"), "bound_subject"},
		{"alg none", "app", jwttest.Raw(`{"alg":"none"}`, `{"sub":"repo:octo/app:environment:production","aud":"keyward"}`, nil), "not allowed"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := vc.Logical().Write("auth/jwt/login", map[string]any{"role": tc.role, "jwt": tc.jwt})
			if err == nil {
				t.Fatalf("accepted: %+v", sec.Auth)
			}
			if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want 403 %q", err, tc.want)
			}
		})
	}
	// One response entry with the refusal per rejected login, and never
	// the JWT itself.
	auditLog, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, line := range bytes.Split(auditLog, []byte("\n")) {
		var e struct {
			Type    string `json:"type"`
			Error   string `json:"error"`
			Request struct {
				Path string `json:"path"`
			} `json:"request"`
		}
		if json.Unmarshal(line, &e) == nil && e.Type == "response" && e.Request.Path == "auth/jwt/login" && e.Error != "" {
			refusals++
		}
	}
	if refusals != len(refused) {
		t.Errorf("audit log holds %d refused logins, want %d", refusals, len(refused))
	}
	for _, tc := range refused {
		if bytes.Contains(auditLog, []byte(tc.jwt)) {
			t.Errorf("audit log holds the %s JWT", tc.name)
		}
	}
	// No JWT in the server's logs.
	if logs := s.n.Logs.Bytes(); bytes.Contains(logs, []byte(jwtApp)) || bytes.Contains(logs, []byte(strings.Split(jwtApp, ".")[2])) {
		t.Error("server logs contain a login JWT")
	}
}

func TestOIDCAliasType(t *testing.T) {
	s := startServer(t)
	if err := s.root.Sys().EnableAuthWithOptions("oidc", &vault.EnableAuthOptions{Type: "oidc"}); err != nil {
		t.Fatalf("enable oidc: %v", err)
	}
	if _, err := s.root.Logical().Write("auth/oidc/config", map[string]any{
		"oidc_discovery_url": s.is.URL, "oidc_discovery_ca_pem": s.is.CAPEM, "allow_private_network": true,
	}); err != nil {
		t.Fatal(err)
	}
	l, err := s.root.Logical().List("auth/jwt/role")
	if err != nil || l == nil || len(l.Data["keys"].([]any)) != 2 {
		t.Fatalf("list roles: %v %v", l, err)
	}
}
