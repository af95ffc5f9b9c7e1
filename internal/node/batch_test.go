package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

func ptr[T any](v T) *T { return &v }

const batchPolicy = `
path "secret/data/ci/*" { capabilities = ["create", "read", "update"] }
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }`

// Batch tokens through HashiCorp's Go client: created with Type "batch",
// they read and write secrets and look up as batch tokens with no
// accessor; renewal, revocation and children are refused with a 400; a
// batch token dies with its parent and expires with its TTL; the audit log
// holds its HMAC only, and no log line holds it.
func TestBatchTokensVaultClient(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{AuditDir: dir})
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	auditLog := filepath.Join(dir, "audit.log")
	enableFileAudit(t, root, auditLog)
	mustOK(t, "policy", root.Sys().PutPolicy("ci", batchPolicy))
	_, err := root.KVv2("secret").Put(t.Context(), "ci/app", map[string]any{"password": "pw-1"})
	mustOK(t, "seed secret", err)

	s, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Type: "batch", Policies: []string{"ci"}, TTL: "10m", DisplayName: "job"})
	mustOK(t, "create batch token", err)
	tok := s.Auth.ClientToken
	if !strings.HasPrefix(tok, "kwb_") || s.Auth.Accessor != "" || s.Auth.Renewable || s.Auth.LeaseDuration != 600 {
		t.Fatalf("batch create auth = prefix %q accessor %q renewable %v ttl %d",
			tok[:4], s.Auth.Accessor, s.Auth.Renewable, s.Auth.LeaseDuration)
	}
	bc := nodetest.VaultClient(t, n.URL, tok)

	// Use.
	kv, err := bc.KVv2("secret").Get(t.Context(), "ci/app")
	mustOK(t, "read with the batch token", err)
	if kv.Data["password"] != "pw-1" {
		t.Fatalf("read %v", kv.Data)
	}
	_, err = bc.KVv2("secret").Put(t.Context(), "ci/out", map[string]any{"v": "1"})
	mustOK(t, "write with the batch token", err)
	if _, err := bc.KVv2("secret").Get(t.Context(), "other/app"); status(err) != http.StatusForbidden {
		t.Fatalf("batch token outside its policy: %v, want 403", err)
	}
	self, err := bc.Auth().Token().LookupSelf()
	mustOK(t, "lookup-self", err)
	if self.Data["type"] != "batch" || self.Data["accessor"] != "" || self.Data["renewable"] != false || self.Data["orphan"] != false {
		t.Errorf("lookup-self = %v", self.Data)
	}
	if acc, _ := self.TokenAccessor(); acc != "" {
		t.Errorf("lookup-self accessor %q, want none", acc)
	}

	// No renewal, no revocation on its own, no children.
	refusals := map[string]func() error{
		"renew-self": func() error { _, err := bc.Auth().Token().RenewSelf(0); return err },
		"renew":      func() error { _, err := root.Auth().Token().Renew(tok, 0); return err },
		"revoke":     func() error { return root.Auth().Token().RevokeTree(tok) },
		"revoke-self": func() error {
			return bc.Auth().Token().RevokeSelf("")
		},
		"child": func() error {
			_, err := bc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"ci"}})
			return err
		},
		"batch child": func() error {
			_, err := bc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"ci"}, Type: "batch"})
			return err
		},
	}
	for name, f := range refusals {
		if err := f(); status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "batch tokens cannot") {
			t.Errorf("%s: %v, want a 400 saying batch tokens cannot", name, err)
		}
	}
	if _, err := bc.KVv2("secret").Get(t.Context(), "ci/app"); err != nil {
		t.Fatalf("batch token after the refused calls: %v", err)
	}
	for name, req := range map[string]*vault.TokenCreateRequest{
		"num_uses":         {Type: "batch", Policies: []string{"ci"}, NumUses: 3},
		"period":           {Type: "batch", Policies: []string{"ci"}, Period: "1h"},
		"explicit_max_ttl": {Type: "batch", Policies: []string{"ci"}, ExplicitMaxTTL: "1h"},
		"root":             {Type: "batch"},
		"misspelt type":    {Type: "Batch", Policies: []string{"ci"}},
	} {
		if _, err := root.Auth().Token().Create(req); status(err) != http.StatusBadRequest {
			t.Errorf("batch create with %s: %v, want 400", name, err)
		}
	}

	// A batch child of a service token dies with it; an orphan does not.
	parent, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"ci"}, TTL: "1h"})
	mustOK(t, "create parent", err)
	pc := nodetest.VaultClient(t, n.URL, parent.Auth.ClientToken)
	child, err := pc.Auth().Token().Create(&vault.TokenCreateRequest{Type: "batch"})
	mustOK(t, "batch child of a service token", err)
	orphan, err := pc.Auth().Token().CreateOrphan(&vault.TokenCreateRequest{Type: "batch"})
	mustOK(t, "orphan batch token", err)
	if child.Auth.Orphan || !orphan.Auth.Orphan {
		t.Errorf("orphan flags: child %v, orphan %v", child.Auth.Orphan, orphan.Auth.Orphan)
	}
	mustOK(t, "revoke parent", root.Auth().Token().RevokeTree(parent.Auth.ClientToken))
	if _, err := nodetest.VaultClient(t, n.URL, child.Auth.ClientToken).Auth().Token().LookupSelf(); status(err) != http.StatusForbidden {
		t.Errorf("batch child of a revoked parent: %v, want 403", err)
	}
	if _, err := nodetest.VaultClient(t, n.URL, orphan.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
		t.Errorf("orphan batch token after its creator's revocation: %v", err)
	}

	// Expiry: a one-second token stops working (polled, no deadline on
	// the server's speed).
	short, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Type: "batch", Policies: []string{"ci"}, TTL: "1s"})
	mustOK(t, "create short batch token", err)
	sc := nodetest.VaultClient(t, n.URL, short.Auth.ClientToken)
	clocktest.Eventually(t, "the 1s batch token to expire", func() bool {
		_, err := sc.KVv2("secret").Get(t.Context(), "ci/app")
		return status(err) == http.StatusForbidden
	})

	// Audit and logs: the HMAC, never the token.
	hash, err := root.Sys().AuditHash("file", tok)
	mustOK(t, "audit-hash", err)
	raw, err := os.ReadFile(auditLog)
	mustOK(t, "read audit log", err)
	if !bytes.Contains(raw, []byte(hash)) {
		t.Error("audit log has no entry with the batch token's HMAC")
	}
	for _, secret := range []string{tok, child.Auth.ClientToken, short.Auth.ClientToken} {
		body := secret[4:40]
		if bytes.Contains(raw, []byte(body)) || strings.Contains(string(n.Logs.Bytes()), body) {
			t.Errorf("a batch token appears in the audit log or the server log")
		}
	}
}

// A JWT login issues a batch token when the role says token_type=batch, or
// when the mount is tuned to batch; the token works and is not renewable.
func TestBatchTokenJWTLogin(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	anon := nodetest.VaultClient(t, n.URL, "")
	is := jwttest.NewIssuer(t)
	mustOK(t, "policy", root.Sys().PutPolicy("ci", batchPolicy))
	_, err := root.KVv2("secret").Put(t.Context(), "ci/app", map[string]any{"password": "pw-1"})
	mustOK(t, "seed secret", err)
	claims := jwttest.GitHub(is.URL, "octo/app", "repo:octo/app:environment:production", "keyward", time.Now())
	jwt := jwttest.Sign(t, jwttest.KidRSA, claims, nil)
	for _, mount := range []string{"jwt", "jwt2"} {
		mustOK(t, "enable "+mount, root.Sys().EnableAuthWithOptions(mount, &vault.EnableAuthOptions{Type: "jwt"}))
		_, err := root.Logical().Write("auth/"+mount+"/config", map[string]any{
			"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true,
		})
		mustOK(t, "configure "+mount, err)
	}
	role := map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"keyward"}, "bound_subject": "repo:octo/app:environment:production",
		"user_claim": "sub", "token_policies": []string{"ci"}, "token_ttl": "5m",
	}
	role["token_type"] = "batch"
	_, err = root.Logical().Write("auth/jwt/role/app", role)
	mustOK(t, "write batch role", err)
	delete(role, "token_type")
	_, err = root.Logical().Write("auth/jwt2/role/app", role)
	mustOK(t, "write default role", err)
	mustOK(t, "tune jwt2 to batch", root.Sys().TuneMountAllowNil("auth/jwt2", vault.TuneMountConfigInput{TokenType: ptr("batch")}))
	if mc, err := root.Sys().MountConfig("auth/jwt2"); err != nil || mc.TokenType != "batch" {
		t.Fatalf("jwt2 tune reads %+v, %v; want token_type batch", mc, err)
	}
	if r, err := root.Logical().Read("auth/jwt/role/app"); err != nil || r.Data["token_type"] != "batch" {
		t.Fatalf("role reads %v, %v; want token_type batch", r, err)
	}
	if _, err := root.Logical().Write("auth/jwt/role/periodic", map[string]any{"role_type": "jwt", "bound_subject": "x", "user_claim": "sub", "token_type": "batch", "token_period": "1h"}); status(err) != http.StatusBadRequest {
		t.Errorf("periodic batch role: %v, want 400", err)
	}

	for _, mount := range []string{"jwt", "jwt2"} {
		s, err := anon.Logical().Write("auth/"+mount+"/login", map[string]any{"role": "app", "jwt": jwt})
		mustOK(t, mount+" login", err)
		if !strings.HasPrefix(s.Auth.ClientToken, "kwb_") || s.Auth.Accessor != "" || s.Auth.Renewable || s.Auth.LeaseDuration != 300 {
			t.Fatalf("%s login auth: prefix %q accessor %q renewable %v ttl %d", mount, s.Auth.ClientToken[:4], s.Auth.Accessor, s.Auth.Renewable, s.Auth.LeaseDuration)
		}
		bc := nodetest.VaultClient(t, n.URL, s.Auth.ClientToken)
		if _, err := bc.KVv2("secret").Get(t.Context(), "ci/app"); err != nil {
			t.Fatalf("%s batch token read: %v", mount, err)
		}
		self, err := bc.Auth().Token().LookupSelf()
		mustOK(t, "lookup-self", err)
		if self.Data["type"] != "batch" || self.Data["path"] != "auth/"+mount+"/login" || self.Data["orphan"] != true {
			t.Errorf("%s batch login lookup-self = %v", mount, self.Data)
		}
		renewRefused(t, n.URL, s.Auth.ClientToken, mount+" batch login")
	}
	// The mount forcing service wins over the role's batch.
	mustOK(t, "tune jwt to service", root.Sys().TuneMountAllowNil("auth/jwt", vault.TuneMountConfigInput{TokenType: ptr("service")}))
	s, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": jwt})
	mustOK(t, "jwt login on a service mount", err)
	if !strings.HasPrefix(s.Auth.ClientToken, "kws_") {
		t.Errorf("mount tuned to service issued a %q token", s.Auth.ClientToken[:4])
	}
}

// BenchmarkBatchLogin compares service and batch tokens through a real
// listener: an AppRole login (secret_id without a use limit, so the login
// itself writes nothing), a token create, and a KV read with the token.
// On bbolt every service token is a durable commit; a batch token is none.
//
//	go test ./internal/node -run '^$' -bench BatchLogin -benchtime 3s
func BenchmarkBatchLogin(b *testing.B) {
	for _, store := range []string{"inmem", "bolt"} {
		opts := nodetest.Options{}
		if store == "bolt" {
			opts.Dir = b.TempDir()
		}
		n := nodetest.StartWith(b, opts)
		root := n.RootToken.Reveal()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		do := func(tok, method, path string, body []byte) []byte {
			var r io.Reader
			if body != nil {
				r = bytes.NewReader(body)
			}
			req, _ := http.NewRequest(method, n.URL+"/v1/"+path, r)
			if tok != "" {
				req.Header.Set("X-Vault-Token", tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
			}
			return out
		}
		c := nodetest.VaultClient(&testing.T{}, n.URL, root)
		if err := c.Sys().PutPolicy("bench", `path "secret/data/bench/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }`); err != nil {
			b.Fatal(err)
		}
		if _, err := c.KVv2("secret").Put(b.Context(), "bench/k", map[string]any{"v": "0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
		if err := c.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			b.Fatal(err)
		}
		for _, typ := range []string{"service", "batch"} {
			role := "auth/approle/role/" + typ
			if _, err := c.Logical().Write(role, map[string]any{"token_policies": "bench", "token_ttl": "10m", "token_type": typ}); err != nil {
				b.Fatal(err)
			}
			rid, err := c.Logical().Read(role + "/role-id")
			if err != nil {
				b.Fatal(err)
			}
			sid, err := c.Logical().Write(role+"/secret-id", nil)
			if err != nil {
				b.Fatal(err)
			}
			login := []byte(fmt.Sprintf(`{"role_id":%q,"secret_id":%q}`, rid.Data["role_id"], sid.Data["secret_id"]))
			s, err := nodetest.VaultClient(&testing.T{}, n.URL, "").Logical().Write("auth/approle/login", map[string]any{"role_id": rid.Data["role_id"], "secret_id": sid.Data["secret_id"]})
			if err != nil || strings.HasPrefix(s.Auth.ClientToken, "kwb_") != (typ == "batch") {
				b.Fatalf("login with role %s: %v, %+v", typ, err, s)
			}
			tok := s.Auth.ClientToken
			b.Run(store+"/approle-login/"+typ, func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do("", "POST", "auth/approle/login", login)
					}
				})
			})
			create := []byte(fmt.Sprintf(`{"policies":["bench"],"ttl":"10m","type":%q}`, typ))
			b.Run(store+"/token-create/"+typ, func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do(root, "POST", "auth/token/create", create)
					}
				})
			})
			b.Run(store+"/kv-read/"+typ, func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do(tok, "GET", "secret/data/bench/k", nil)
					}
				})
			})
		}
		n.Close()
	}
}
