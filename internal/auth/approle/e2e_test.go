package approle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// client is the official Vault Go client, dialing from local address from
// ("" for the default).
func client(t testing.TB, addr, token, from string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if from != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		cfg.HttpClient.Transport.(*http.Transport).DialContext = d.DialContext
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func setup(t testing.TB) (*nodetest.Node, *vault.Client) {
	t.Helper()
	n := nodetest.Start(t)
	root := client(t, n.URL, n.RootToken.Reveal(), "")
	if err := root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("ci", `path "secret/data/ci/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("secret/data/ci/app", map[string]any{"data": map[string]any{"db": "pa55"}}); err != nil {
		t.Fatal(err)
	}
	return n, root
}

func write(t testing.TB, c *vault.Client, path string, data map[string]any) *vault.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

// Secure introduction: the secret_id travels wrapped, is unwrapped once by
// the job, and logs it in once; replays fail and are logged.
func TestSecureIntroduction(t *testing.T) {
	n, root := setup(t)
	write(t, root, "auth/approle/role/ci", map[string]any{"token_policies": "ci", "secret_id_num_uses": 1, "token_ttl": "10m"})
	rs, err := root.Logical().Read("auth/approle/role/ci/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID := rs.Data["role_id"].(string)

	wrapper := client(t, n.URL, n.RootToken.Reveal(), "")
	wrapper.SetWrappingLookupFunc(func(string, string) string { return "2m" })
	ws := write(t, wrapper, "auth/approle/role/ci/secret-id", nil)
	if ws.WrapInfo == nil || ws.Data != nil || !strings.HasPrefix(ws.WrapInfo.Token, "kww_") {
		t.Fatalf("wrapped response = %+v", ws)
	}
	if ws.WrapInfo.CreationPath != "auth/approle/role/ci/secret-id" || ws.WrapInfo.TTL != 120 {
		t.Errorf("wrap_info = %+v", ws.WrapInfo)
	}

	job := client(t, n.URL, "", "")
	lk, err := job.Logical().Write("sys/wrapping/lookup", map[string]any{"token": ws.WrapInfo.Token})
	if err != nil || lk.Data["creation_path"] != "auth/approle/role/ci/secret-id" || lk.Data["secret_id"] != nil {
		t.Fatalf("lookup = %v, %v", lk, err)
	}
	un, err := job.Logical().Unwrap(ws.WrapInfo.Token)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	secretID, _ := un.Data["secret_id"].(string)
	if secretID == "" {
		t.Fatalf("unwrapped = %v", un.Data)
	}
	if _, err := job.Logical().Unwrap(ws.WrapInfo.Token); err == nil {
		t.Fatal("second unwrap succeeded")
	}

	login, err := job.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || login.Auth == nil {
		t.Fatalf("login: %v", err)
	}
	job.SetToken(login.Auth.ClientToken)
	got, err := job.Logical().Read("secret/data/ci/app")
	if err != nil || got.Data["data"].(map[string]any)["db"] != "pa55" {
		t.Fatalf("read with the AppRole token = %v, %v", got, err)
	}
	job.SetToken("")
	if _, err := job.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID}); err == nil {
		t.Fatal("second login with a num_uses=1 secret_id succeeded")
	}

	logs := string(n.Logs.Bytes())
	if !strings.Contains(logs, "wrapping token used again") || !strings.Contains(logs, ws.WrapInfo.Accessor) {
		t.Error("the second unwrap was not logged as suspicious with its accessor")
	}
	for _, secret := range []string{ws.WrapInfo.Token, secretID, login.Auth.ClientToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("server logs contain a secret (%d bytes)", len(secret))
		}
	}
}

func TestWrapEndpointWithVaultClient(t *testing.T) {
	n, root := setup(t)
	root.SetWrappingLookupFunc(func(string, string) string { return "1m" })
	s := write(t, root, "sys/wrapping/wrap", map[string]any{"api_key": "k-123"})
	if s.WrapInfo == nil {
		t.Fatalf("wrap = %+v", s)
	}
	un, err := client(t, n.URL, "", "").Logical().Unwrap(s.WrapInfo.Token)
	if err != nil || un.Data["api_key"] != "k-123" {
		t.Fatalf("unwrap = %v, %v", un, err)
	}
}

// CIDR-bound secret_ids and tokens refuse other source addresses.
func TestCIDRFromAnotherAddress(t *testing.T) {
	n, root := setup(t)
	write(t, root, "auth/approle/role/ci", map[string]any{"token_policies": "ci"})
	roleID := must(root.Logical().Read("auth/approle/role/ci/role-id")).Data["role_id"].(string)
	sid := write(t, root, "auth/approle/role/ci/secret-id", map[string]any{
		"cidr_list": "127.0.0.1/32", "token_bound_cidrs": "127.0.0.1/32",
	}).Data["secret_id"].(string)

	other := client(t, n.URL, "", "127.0.0.2")
	if _, err := other.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": sid}); err == nil {
		t.Fatal("login from 127.0.0.2 with a secret_id bound to 127.0.0.1/32 succeeded")
	}
	local := client(t, n.URL, "", "127.0.0.1")
	s, err := local.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": sid})
	if err != nil {
		t.Fatalf("login from 127.0.0.1: %v", err)
	}
	other.SetToken(s.Auth.ClientToken)
	if _, err := other.Logical().Read("secret/data/ci/app"); err == nil {
		t.Fatal("token bound to 127.0.0.1/32 worked from 127.0.0.2")
	}
}

// T24 and T15 over HTTP: 200 concurrent logins with a one-use secret_id
// give one token; 200 concurrent unwraps give one payload.
func TestConcurrentOverHTTP(t *testing.T) {
	n, root := setup(t)
	write(t, root, "auth/approle/config", map[string]any{"lockout_disable": true})
	write(t, root, "auth/approle/role/ci", map[string]any{"token_policies": "ci", "secret_id_num_uses": 1})
	roleID := must(root.Logical().Read("auth/approle/role/ci/role-id")).Data["role_id"].(string)
	sid := write(t, root, "auth/approle/role/ci/secret-id", nil).Data["secret_id"].(string)
	if n := race(t, n.URL+"/v1/auth/approle/login", map[string]any{"role_id": roleID, "secret_id": sid}, "auth"); n != 1 {
		t.Errorf("%d of 200 concurrent logins got a token, want 1", n)
	}
	root.SetWrappingLookupFunc(func(string, string) string { return "1m" })
	wt := write(t, root, "sys/wrapping/wrap", map[string]any{"k": "v"}).WrapInfo.Token
	if n := race(t, n.URL+"/v1/sys/wrapping/unwrap", map[string]any{"token": wt}, "data"); n != 1 {
		t.Errorf("%d of 200 concurrent unwraps got the payload, want 1", n)
	}
	if _, err := client(t, n.URL, "", "").Logical().Write("sys/wrapping/lookup", map[string]any{"token": wt}); err == nil {
		t.Error("lookup after unwrap succeeded")
	}
}

func race(t testing.TB, url string, body map[string]any, field string) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	defer hc.CloseIdleConnections()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), "POST", url, bytes.NewReader(raw))
			resp, err := hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode == 200 && out[field] != nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load())
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A secret_id's metadata is chosen by whoever generates the secret_id (a CI
// orchestrator), not vouched for by the auth method, so it cannot give the
// login an environment: otherwise a holder of secret-id rights mints itself
// a "prod" caller, as a token-store child could before environments were
// taken only from logins (docs/governance.md).
func TestSecretIDMetadataSetsNoEnvironment(t *testing.T) {
	n, root := setup(t)
	if err := root.Sys().Mount("kv-prod", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	write(t, root, "sys/mounts/kv-prod/tune", map[string]any{"environment": "prod"})
	write(t, root, "kv-prod/data/db", map[string]any{"data": map[string]any{"password": "pw-prod"}})
	if err := root.Sys().PutPolicy("deploy", `
path "kv-prod/data/*" {
  capabilities = ["read"]
  condition { environments = ["prod"] }
}
path "kv-prod/metadata/*" {
  capabilities = ["read"]
  condition { environment_match = true }
}`); err != nil {
		t.Fatal(err)
	}
	write(t, root, "auth/approle/role/deploy", map[string]any{"token_policies": "deploy"})
	roleID := must(root.Logical().Read("auth/approle/role/deploy/role-id")).Data["role_id"].(string)
	for _, meta := range []any{map[string]any{"environment": "prod"}, `{"environment":"prod","team":"a"}`} {
		s, err := root.Logical().Write("auth/approle/role/deploy/secret-id", map[string]any{"metadata": meta})
		if err != nil {
			if !strings.Contains(err.Error(), "environment") {
				t.Errorf("secret-id with metadata %v refused without naming the key: %v", meta, err)
			}
			continue
		}
		login := write(t, client(t, n.URL, "", ""), "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": s.Data["secret_id"]})
		job := client(t, n.URL, login.Auth.ClientToken, "")
		if _, err := job.Logical().Read("kv-prod/data/db"); err == nil {
			t.Errorf("secret-id metadata %v gave the login the prod environment (environments condition)", meta)
		}
		if _, err := job.Logical().Read("kv-prod/metadata/db"); err == nil {
			t.Errorf("secret-id metadata %v gave the login the prod environment (environment_match)", meta)
		}
	}
	// Other metadata keys still reach the token, as in Vault.
	s := write(t, root, "auth/approle/role/deploy/secret-id", map[string]any{"metadata": map[string]any{"team": "payments"}})
	login := write(t, client(t, n.URL, "", ""), "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": s.Data["secret_id"]})
	if login.Auth.Metadata["team"] != "payments" {
		t.Fatalf("login metadata = %v, want team=payments", login.Auth.Metadata)
	}
}
