package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/testsvc"
)

// rawDo sends a request with a path written as is on the wire, so encoded
// traversal reaches the server untouched by Go's URL cleaning.
func rawDo(t *testing.T, base, method, rawPath, token string, body []byte) (int, []byte) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, rawPath, host)
	if token != "" {
		fmt.Fprintf(&b, "X-Vault-Token: %s\r\n", token)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawPath, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func do(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// T04: without a token, an existing mount and a missing one look the same.
func TestUnauthenticatedProbingLooksTheSame(t *testing.T) {
	n := nodetest.Start(t)
	for _, method := range []string{"GET", "PUT", "DELETE", "LIST"} {
		s1, b1 := do(t, method, n.URL+"/v1/secret/data/x", "", map[string]any{"data": map[string]any{"a": "b"}})
		s2, b2 := do(t, method, n.URL+"/v1/nomount/data/x", "", map[string]any{"data": map[string]any{"a": "b"}})
		if s1 != s2 || !bytes.Equal(b1, b2) || s1 != http.StatusForbidden {
			t.Errorf("%s: existing mount %d %s vs missing mount %d %s; want identical 403s", method, s1, b1, s2, b2)
		}
		s3, b3 := do(t, method, n.URL+"/v1/secret/data/x", "kws_not-a-real-token", nil)
		if s3 != http.StatusForbidden || !bytes.Equal(b1, b3) {
			t.Errorf("%s with a wrong token: %d %s; want the same 403", method, s3, b3)
		}
	}
}

// T07: traversal in any spelling is refused before the ACL and touches
// nothing.
func TestTraversalRejectedEndToEnd(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().PutPolicy("team-a", `path "secret/data/team-a/*" { capabilities = ["create", "read", "update", "delete", "list"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"team-a"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	tok := sec.Auth.ClientToken
	if _, err := root.KVv2("secret").Put(context.Background(), "team-b/db", map[string]any{"password": "team-b-pass"}); err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"/v1/secret/data/team-a/../../../sys/policies/acl/root",
		"/v1/secret/data/team-a/../team-b/db",
		"/v1/secret/data/team-a/%2e%2e/team-b/db",
		"/v1/secret/data/team-a/%2E%2e%2Fteam-b/db",
		"/v1/secret/data/team-a/..%2fteam-b/db",
		"/v1/secret/data/team-a/./../team-b/db",
		"/v1/secret/data/team-a//../team-b/db",
		"/v1/secret/data/team-a/x/..",
		"/v1/secret/data/team-a/%00/db",
		"/v1/secret/data/team-a\\..\\team-b/db",
		"/v1/secret/data/team-a/%c0%ae%c0%ae/team-b/db",
		"/v1/secret/data/team-a/%252e%252e/team-b/db",
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "PUT", "DELETE", "LIST", "PATCH"} {
			status, body := rawDo(t, n.URL, m, p, tok, []byte(`{"data":{"password":"overwritten"}}`))
			if status != http.StatusBadRequest && status != http.StatusForbidden {
				t.Errorf("%s %s = %d %s; want 400 or 403", m, p, status, body)
			}
			if bytes.Contains(body, []byte("team-b-pass")) {
				t.Errorf("%s %s leaked team-b's secret", m, p)
			}
		}
	}
	s, err := root.KVv2("secret").Get(context.Background(), "team-b/db")
	if err != nil || s.Data["password"] != "team-b-pass" || s.VersionMetadata.Version != 1 {
		t.Fatalf("team-b's secret changed: %+v, %v", s, err)
	}
}

// T11: policies spelled like root never grant root.
func TestRootBySpelling(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	for _, name := range []string{"Root", "ROOT", " root", "root ", "root\u200b", "r\u043e\u043et", "root\x00"} {
		_, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}})
		if err == nil {
			t.Errorf("token with policy %q was created", name)
		}
		if err := root.Sys().PutPolicy(name, `path "*" { capabilities = ["sudo", "read"] }`); err == nil {
			t.Errorf("policy %q was written", name)
		}
	}
	// A non-root token cannot mint a root token.
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	c := nodetest.VaultClient(t, n.URL, sec.Auth.ClientToken)
	if _, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}}); err == nil {
		t.Fatal("a default-policy token created a root token")
	}
}

// T15: a token with num_uses=1 works exactly once under 200 concurrent uses.
func TestUseLimitRace(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if _, err := root.KVv2("secret").Put(context.Background(), "x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}, NumUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := do(t, "GET", n.URL+"/v1/secret/data/x", sec.Auth.ClientToken, nil)
			if status == http.StatusOK {
				ok.Add(1)
			} else if status != http.StatusForbidden {
				t.Errorf("status %d, want 200 or 403", status)
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got != 1 {
		t.Fatalf("%d requests succeeded, want exactly 1", got)
	}
}

// T28: sealed means every endpoint but the status ones answers 503.
func TestSealedMeansSealed(t *testing.T) {
	n := nodetest.Start(t)
	tok := n.RootToken.Reveal()
	if status, body := do(t, "PUT", n.URL+"/v1/sys/seal", tok, nil); status != http.StatusNoContent {
		t.Fatalf("seal = %d %s", status, body)
	}
	for _, p := range []string{"secret/data/x", "sys/mounts", "sys/policies/acl", "auth/token/lookup-self", "sys/key-status", "nomount/x", "sys/leader"} {
		for _, m := range []string{"GET", "PUT", "DELETE", "LIST"} {
			if status, body := do(t, m, n.URL+"/v1/"+p, tok, nil); status != http.StatusServiceUnavailable {
				t.Errorf("%s %s while sealed = %d %s; want 503", m, p, status, body)
			}
		}
	}
	if status, _ := do(t, "GET", n.URL+"/v1/sys/seal-status", "", nil); status != http.StatusOK {
		t.Errorf("seal-status while sealed = %d", status)
	}
	if status, _ := do(t, "GET", n.URL+"/v1/sys/health", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("health while sealed = %d, want 503", status)
	}
}

// Bad input gets a clear 4xx and the server keeps serving.
func TestBadInput(t *testing.T) {
	n := nodetest.Start(t)
	tok := n.RootToken.Reveal()
	root := nodetest.VaultClient(t, n.URL, tok)
	revoked, _ := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
	_ = root.Auth().Token().RevokeTree(revoked.Auth.ClientToken)
	deep := []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000))
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   []byte
		want   int
		msg    string
	}{
		{"malformed json", "PUT", "secret/data/x", tok, []byte(`{"data": {`), 400, ""},
		{"not an object", "PUT", "secret/data/x", tok, []byte(`["a"]`), 400, ""},
		{"100 MB body", "PUT", "secret/data/x", tok, bytes.Repeat([]byte("a"), 100<<20), 413, ""},
		{"10,000-deep nesting", "PUT", "secret/data/x", tok, deep, 400, ""},
		{"10,000-deep nesting unauthenticated", "PUT", "auth/token/lookup", "", deep, 400, ""},
		{"kv data not an object", "PUT", "secret/data/x", tok, []byte(`{"data":"s3cr3t-canary"}`), 400, "data"},
		{"unknown field in mount", "PUT", "sys/mounts/m1", tok, []byte(`{"type":"kv","bogus":1}`), 400, "bogus"},
		{"wrong token", "GET", "secret/data/x", "kws_wrong", nil, 403, "permission denied"},
		{"revoked token", "GET", "secret/data/x", revoked.Auth.ClientToken, nil, 403, "permission denied"},
		{"no token", "GET", "secret/data/x", "", nil, 403, "permission denied"},
		{"lookup of an unknown token", "PUT", "auth/token/lookup", tok, []byte(`{"token":"kws_unknown"}`), 403, "permission denied"},
		{"renew of an unknown token", "PUT", "auth/token/renew", tok, []byte(`{"token":"kws_unknown"}`), 403, "permission denied"},
		{"bad ttl type", "PUT", "auth/token/create", tok, []byte(`{"ttl":{"x":"s3cr3t-canary"}}`), 400, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, tt.method, n.URL+"/v1/"+tt.path, tt.token, tt.body)
			if status != tt.want {
				t.Fatalf("status = %d %s, want %d", status, truncate(body), tt.want)
			}
			var e struct{ Errors []string }
			if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
				t.Fatalf("body %s is not an error envelope", truncate(body))
			}
			if tt.msg != "" && !strings.Contains(strings.Join(e.Errors, " "), tt.msg) {
				t.Errorf("errors %q do not mention %q", e.Errors, tt.msg)
			}
			if bytes.Contains(body, []byte("s3cr3t-canary")) {
				t.Errorf("error body echoes the value: %s", body)
			}
		})
	}
	if status, _ := do(t, "GET", n.URL+"/v1/sys/health", "", nil); status != 200 {
		t.Fatalf("server unhealthy after bad input: %d", status)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func randomCanary() string {
	var b [24]byte
	rand.Read(b[:])
	return "canary-" + hex.EncodeToString(b[:])
}

// The store file and the logs never hold a secret value, a token or an
// unseal share: plant them, then search the raw bytes in every encoding.
func TestCanarySweepStoreAndLogs(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, Shares: 3, Threshold: 2})
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	var canaries []string
	for i := 0; i < 50; i++ {
		v := randomCanary()
		canaries = append(canaries, v)
		if _, err := root.KVv2("secret").Put(ctx, fmt.Sprintf("app/%d", i), map[string]any{"password": v}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		canaries = append(canaries, sec.Auth.ClientToken)
		c := nodetest.VaultClient(t, n.URL, sec.Auth.ClientToken)
		_, _ = c.Logical().Read("secret/data/app/1") // denied: logs the attempt
	}
	canaries = append(canaries, n.RootToken.Reveal())
	for _, s := range n.Shares {
		canaries = append(canaries, string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s))
	}
	// A failed write with a secret in the wrong place.
	leak := randomCanary()
	canaries = append(canaries, leak)
	_, _ = root.Logical().Write("secret/data/bad", map[string]any{"data": leak})
	_, _ = root.Logical().Write("auth/token/create", map[string]any{"ttl": leak})
	n.Close()

	raw, err := os.ReadFile(filepath.Join(dir, node.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	logs := n.Logs.Bytes()
	for _, c := range canaries {
		for _, form := range []string{c, hex.EncodeToString([]byte(c)), base64.StdEncoding.EncodeToString([]byte(c)), base64.RawURLEncoding.EncodeToString([]byte(c))} {
			if len(form) < 8 {
				continue
			}
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("store file holds a planted secret (%d bytes)", len(c))
			}
			if bytes.Contains(logs, []byte(form)) {
				t.Errorf("logs hold a planted secret (%d bytes)", len(c))
			}
		}
	}
}

// T31: a tampered value in the store is an error, never garbage or another
// key's plaintext.
func TestTamperedStoreValue(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	if _, err := root.KVv2("secret").Put(ctx, "a", map[string]any{"v": "value-a"}); err != nil {
		t.Fatal(err)
	}
	shares := n.Shares
	n.Close()

	s, err := bolt.Open(filepath.Join(dir, node.DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := allKeys(t, s, "logical/")
	for _, k := range keys {
		v, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		v[len(v)/2] ^= 0x01
		if err := s.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	status, body := do(t, "GET", n2.URL+"/v1/secret/data/a", n2.RootToken.Reveal(), nil)
	if status == http.StatusOK || bytes.Contains(body, []byte("value-a")) {
		t.Fatalf("tampered read = %d %s; want an error without data", status, body)
	}
	if status != http.StatusForbidden && status != http.StatusInternalServerError {
		t.Fatalf("tampered read status = %d, want 500", status)
	}
}

type lister interface {
	List(ctx context.Context, prefix string) ([]string, error)
}

func allKeys(t *testing.T, s lister, prefix string) []string {
	t.Helper()
	names, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, nm := range names {
		if strings.HasSuffix(nm, "/") {
			out = append(out, allKeys(t, s, prefix+nm)...)
		} else {
			out = append(out, prefix+nm)
		}
	}
	return out
}

// Policies with min/max_wrapping_ttl force wrapping within those bounds.
func TestPolicyWrappingTTLs(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if _, err := root.KVv2("secret").Put(context.Background(), "wrapme", map[string]any{"k": "wrapped-value"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("wrap", `path "secret/data/wrapme" {
  capabilities = ["read"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "60s"
}`); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"wrap"}})
	if err != nil {
		t.Fatal(err)
	}
	read := func(wrap string) (int, []byte) {
		req, _ := http.NewRequest("GET", n.URL+"/v1/secret/data/wrapme", nil)
		req.Header.Set("X-Vault-Token", sec.Auth.ClientToken)
		if wrap != "" {
			req.Header.Set("X-Vault-Wrap-TTL", wrap)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, wrap := range []string{"", "1h"} {
		if status, body := read(wrap); status != http.StatusBadRequest || bytes.Contains(body, []byte("wrapped-value")) {
			t.Errorf("read with wrap %q = %d %s, want 400 without the value", wrap, status, body)
		}
	}
	status, body := read("30s")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"wrap_info":{"token"`)) || bytes.Contains(body, []byte("wrapped-value")) {
		t.Fatalf("wrapped read = %d %s, want wrap_info only", status, body)
	}
}

// Password policies are served at sys/policies/password and generate
// passwords that follow them.
func TestPasswordPolicies(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	pol := `length = 24
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 2
}
rule "charset" {
  charset = "0123456789"
  min-chars = 3
}`
	if _, err := root.Logical().Write("sys/policies/password/db", map[string]any{"policy": pol}); err != nil {
		t.Fatalf("write policy: %v", err)
	}
	for i := 0; i < 20; i++ {
		s, err := root.Logical().Read("sys/policies/password/db/generate")
		if err != nil {
			t.Fatalf("generate: %v", err)
		}
		pw, _ := s.Data["password"].(string)
		digits := 0
		for _, r := range pw {
			if r >= '0' && r <= '9' {
				digits++
			} else if r < 'a' || r > 'z' {
				t.Fatalf("generated %q has a character outside the policy", pw)
			}
		}
		if len(pw) != 24 || digits < 3 {
			t.Fatalf("generated %q breaks the policy", pw)
		}
	}
	list, err := root.Logical().List("sys/policies/password")
	if err != nil || list == nil {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := root.Logical().Delete("sys/policies/password/db"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := root.Logical().Read("sys/policies/password/db/generate"); err == nil {
		t.Fatal("generate from a deleted policy succeeded")
	}
}

// A database connection can name a password policy; issued credentials
// follow it (real PostgreSQL on 127.0.0.1).
func TestDatabaseNamedPasswordPolicy(t *testing.T) {
	testsvc.Postgres(t)
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("sys/policies/password/digits", map[string]any{"policy": `length = 30
rule "charset" {
  charset = "0123456789"
  min-chars = 30
}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("database/config/pg", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL,
		"username": "postgres", "password": "unused-with-trust-auth", "allowed_roles": "app", "password_policy": "digits",
	}); err != nil {
		t.Fatalf("config with a named policy: %v", err)
	}
	if _, err := root.Logical().Write("database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "1m",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}); err != nil {
		t.Fatal(err)
	}
	s, err := root.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatalf("creds: %v", err)
	}
	defer root.Sys().RevokePrefix("database/creds/app")
	pw, _ := s.Data["password"].(string)
	if len(pw) != 30 || strings.Trim(pw, "0123456789") != "" {
		t.Fatalf("password %q does not follow the policy", pw)
	}
	if s.LeaseID == "" || s.LeaseDuration <= 0 {
		t.Fatalf("creds without a lease: %+v", s)
	}
}
