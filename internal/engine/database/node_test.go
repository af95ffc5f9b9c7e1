package database_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/testsvc"
)

// policyClient writes the policy name (HCL hcl) through root and returns a
// client of the server at url holding a new token with only that policy.
func policyClient(t testing.TB, root *vault.Client, url, name, hcl string) *vault.Client {
	t.Helper()
	if err := root.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.VaultClient(t, url, tok.Auth.ClientToken)
}

// setupNodeDB mounts the engine on a real server and configures the test
// PostgreSQL with role "ro", through the official Vault client. The users
// it issues are named after a fresh prefix and dropped at cleanup; it
// returns an admin connection to check them, and the prefix.
func setupNodeDB(t *testing.T, c *vault.Client, ttl string) (*pgx.Conn, string) {
	t.Helper()
	admin := testsvc.Postgres(t)
	prefix := "kwt" + strings.ToLower(rand.Text()[:6])
	testsvc.DropPostgresRoles(t, admin, prefix)
	if err := c.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := c.Logical().Write("database/config/pg", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL,
		"username": "postgres", "password": "x", "allowed_roles": []string{"ro"},
		"username_template": prefix + `-{{.RoleName}}-{{random 8}}`,
	}); err != nil {
		t.Fatalf("write config: %v", err)
	}
	if _, err := c.Logical().Write("database/roles/ro", map[string]any{
		"db_name": "pg", "default_ttl": ttl, "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	return admin, prefix
}

// The official Vault Go client drives the whole flow: config, roles, creds,
// Sys().Lookup/Renew/Revoke/RevokePrefix.
func TestVaultClientDatabase(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	admin, prefix := setupNodeDB(t, c, "10m")
	if _, err := c.Logical().Write("database/config/pg", map[string]any{"password": "canary-admin-pw-7f3a"}); err != nil {
		t.Fatal(err)
	}

	cfg, err := c.Logical().Read("database/config/pg")
	if err != nil || cfg.Data["plugin_name"] != "postgresql-database-plugin" {
		t.Fatalf("read config: %v %v", cfg, err)
	}
	if strings.Contains(strings.ToLower(toJSON(cfg.Data)), `"password"`) {
		t.Fatal("config read returns the password")
	}
	s, err := c.Logical().Read("database/creds/ro")
	if err != nil {
		t.Fatalf("read creds: %v", err)
	}
	user, _ := s.Data["username"].(string)
	password, _ := s.Data["password"].(string)
	t.Cleanup(func() {
		// Canary sweep: neither the issued nor the admin password is logged.
		for _, secret := range []string{password, "canary-admin-pw-7f3a"} {
			if secret == "" || bytes.Contains(n.Logs.Bytes(), []byte(secret)) {
				t.Errorf("a password reached the server logs")
			}
		}
	})
	if s.LeaseID == "" || !strings.HasPrefix(s.LeaseID, "database/creds/ro/") || s.LeaseDuration != 600 || !s.Renewable {
		t.Fatalf("lease fields: id %q duration %d renewable %v", s.LeaseID, s.LeaseDuration, s.Renewable)
	}
	if !pgExists(t, admin, user) {
		t.Fatal("user not created")
	}
	lk, err := c.Sys().Lookup(s.LeaseID)
	if err != nil || lk.Data["id"] != s.LeaseID || lk.Data["revoke_state"] != "active" {
		t.Fatalf("lookup: %v %v", lk, err)
	}
	r, err := c.Sys().Renew(s.LeaseID, 1200)
	if err != nil || r.LeaseDuration != 1200 || r.LeaseID != s.LeaseID {
		t.Fatalf("renew: %+v %v", r, err)
	}
	if err := c.Sys().Revoke(s.LeaseID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if pgExists(t, admin, user) {
		t.Fatal("user survived Sys().Revoke")
	}
	for range 3 {
		if _, err := c.Logical().Read("database/creds/ro"); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.Logical().List("sys/leases/lookup/database/creds/ro/")
	if err != nil || len(list.Data["keys"].([]any)) != 3 {
		t.Fatalf("list leases: %v %v", list, err)
	}
	cnt, err := c.Logical().Read("sys/leases/count")
	if err != nil || toJSON(cnt.Data["lease_count"]) != "3" {
		t.Fatalf("count: %v %v", cnt, err)
	}
	if err := c.Sys().RevokePrefix("database/creds/ro"); err != nil {
		t.Fatalf("revoke-prefix: %v", err)
	}
	if got := testsvc.PostgresRoles(t, admin, prefix); got != 0 {
		t.Fatalf("%d users left after revoke-prefix", got)
	}
}

// T13: a token may not renew or revoke another token's lease, even with a
// policy on sys/leases; revoking a token revokes its own leases.
func TestLeaseOwnershipOverHTTP(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	admin, _ := setupNodeDB(t, root, "10m")
	other := policyClient(t, root, n.URL, "leaser", `
path "database/creds/*" { capabilities = ["read"] }
path "sys/leases/*" { capabilities = ["update"] }
`)

	rootLease, err := root.Logical().Read("database/creds/ro")
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"renew":  func() error { _, err := other.Sys().Renew(rootLease.LeaseID, 60); return err },
		"revoke": func() error { return other.Sys().Revoke(rootLease.LeaseID) },
	} {
		var re *vault.ResponseError
		if err := f(); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("%s of another token's lease: %v, want 403", name, err)
		}
	}
	if !pgExists(t, admin, rootLease.Data["username"].(string)) {
		t.Fatal("another token's lease was revoked")
	}
	own, err := other.Logical().Read("database/creds/ro")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Sys().Renew(own.LeaseID, 60); err != nil {
		t.Fatalf("renew own lease: %v", err)
	}
	ownUser := own.Data["username"].(string)
	if err := root.Auth().Token().RevokeTree(other.Token()); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "token's lease revoked with it", func() bool { return !pgExists(t, admin, ownUser) })
}

// The server stops with leases outstanding; when it comes back after their
// TTL, unseal revokes the overdue ones in the background (T43 in small).
func TestRestartRevokesOverdueLeases(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	c := n.Client(t)
	admin, prefix := setupNodeDB(t, c, "1s")
	var users []string
	for range 5 {
		s, err := c.Logical().Read("database/creds/ro")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, s.Data["username"].(string))
	}
	// A lease whose user an operator dropped by hand still expires cleanly.
	if _, err := admin.Exec(t.Context(), `DROP ROLE "`+users[0]+`"`); err != nil {
		t.Fatal(err)
	}
	shares := n.Shares
	issued := time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testsvc.PostgresRoles(t, admin, prefix); got != 4 {
		t.Fatalf("%d users before restart, want 4 (leases must outlive the stop)", got)
	}
	for time.Since(issued) < 1100*time.Millisecond {
		time.Sleep(50 * time.Millisecond) // the server is down while the TTL passes
	}
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	clocktest.Eventually(t, "overdue leases revoked after restart", func() bool { return testsvc.PostgresRoles(t, admin, prefix) == 0 })
	c2 := nodetest.VaultClient(t, n2.URL, n.RootToken.Reveal())
	clocktest.Eventually(t, "lease records gone", func() bool {
		cnt, err := c2.Logical().Read("sys/leases/count")
		return err == nil && toJSON(cnt.Data["lease_count"]) == "0"
	})
}

// T13: sudo on the lease endpoint lets an operator revoke any token's lease.
func TestLeaseSudoOverHTTP(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	admin, _ := setupNodeDB(t, root, "10m")
	op := policyClient(t, root, n.URL, "lease-admin", `path "sys/leases/revoke" { capabilities = ["update", "sudo"] }`)
	lease, err := root.Logical().Read("database/creds/ro")
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Sys().Revoke(lease.LeaseID); err != nil {
		t.Fatalf("sudo revoke of another token's lease: %v", err)
	}
	if pgExists(t, admin, lease.Data["username"].(string)) {
		t.Fatal("the lease's user still exists after a sudo revoke")
	}
}
