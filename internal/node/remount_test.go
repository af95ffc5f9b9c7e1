package node_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/testsvc"
)

// `secrets move` of a database mount with live leases and of a KV mount:
// every secret stays readable at the new path, every lease is found,
// renewed and revoked there (reaching PostgreSQL), also by the id the
// client holds and after a restart; the old path serves nothing.
func TestVaultClientSecretsMoveKeepsSecretsAndLeases(t *testing.T) {
	admin := testsvc.Postgres(t)
	prefix := "kwmv" + strings.ToLower(rand.Text()[:6])
	testsvc.DropPostgresRoles(t, admin, prefix)
	roles := func() int { return testsvc.PostgresRoles(t, admin, prefix) }
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	if err := c.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("database/config/pg", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL,
		"username": "postgres", "password": "x", "allowed_roles": []string{"ro"}, "username_template": prefix + `-{{random 8}}`,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("database/roles/ro", map[string]any{"db_name": "pg", "default_ttl": "10m", "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}}); err != nil {
		t.Fatal(err)
	}
	var leases []string
	for range 3 {
		s, err := c.Logical().Read("database/creds/ro")
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, s.LeaseID)
	}
	if _, err := c.KVv2("secret").Put(ctx, "app/config", map[string]any{"k": "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Put(ctx, "app/config", map[string]any{"k": "v2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("dbapp", `path "database/creds/ro" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}

	// The client's Remount starts the move and polls its status.
	if err := c.Sys().Remount("database", "dbnew"); err != nil {
		t.Fatalf("Remount(database, dbnew): %v", err)
	}
	start, err := c.Sys().StartRemount("secret", "kv-moved")
	if err != nil || start.MigrationID == "" {
		t.Fatalf("StartRemount(secret, kv-moved) = %+v, %v", start, err)
	}
	st, err := c.Sys().RemountStatus(start.MigrationID)
	if err != nil || st.MigrationInfo.MigrationStatus != "success" || st.MigrationInfo.SourceMount != "secret/" || st.MigrationInfo.TargetMount != "kv-moved/" {
		t.Fatalf("RemountStatus = %+v, %v", st.MigrationInfo, err)
	}
	mounts, err := c.Sys().ListMounts()
	if err != nil || mounts["dbnew/"] == nil || mounts["kv-moved/"] == nil || mounts["database/"] != nil || mounts["secret/"] != nil {
		t.Fatalf("mounts after the moves: %v, %v", keysOf(mounts), err)
	}
	if raw, err := c.Logical().ReadRaw("database/creds/ro"); raw == nil || raw.StatusCode != http.StatusNotFound {
		t.Errorf("read at the old path = %v, %v; want 404", raw, err)
	} else {
		raw.Body.Close()
	}

	check := func(t *testing.T, c *vault.Client) {
		t.Helper()
		s, err := c.KVv2("kv-moved").Get(ctx, "app/config")
		if err != nil || s.Data["k"] != "v2" || s.VersionMetadata.Version != 2 {
			t.Fatalf("KV at the new path: %+v, %v", s, err)
		}
		v1, err := c.KVv2("kv-moved").GetVersion(ctx, "app/config", 1)
		if err != nil || v1.Data["k"] != "v1" {
			t.Fatalf("KV history at the new path: %+v, %v", v1, err)
		}
		list, err := c.Logical().List("sys/leases/lookup/dbnew/creds/ro/")
		if err != nil || list == nil || len(list.Data["keys"].([]any)) != len(leases) {
			t.Fatalf("leases listed at the new path: %v, %v", list, err)
		}
		if old, err := c.Logical().List("sys/leases/lookup/database/creds/ro/"); err != nil || (old != nil && len(old.Data["keys"].([]any)) != 0) {
			t.Fatalf("leases listed at the old path: %v, %v", old, err)
		}
		for _, id := range leases {
			moved := "dbnew/" + strings.TrimPrefix(id, "database/")
			for _, name := range []string{moved, id} {
				lk, err := c.Sys().Lookup(name)
				if err != nil || lk.Data["id"] != moved {
					t.Fatalf("Lookup(%s) = %v, %v; want the lease as %s", name, lk, err, moved)
				}
			}
		}
	}
	check(t, c)
	// Renewal reaches PostgreSQL at the new mount.
	moved0 := "dbnew/" + strings.TrimPrefix(leases[0], "database/")
	r, err := c.Sys().Renew(moved0, 1200)
	if err != nil || r.LeaseDuration != 1200 || r.LeaseID != moved0 {
		t.Fatalf("Renew(%s) = %+v, %v", moved0, r, err)
	}
	// The id the client holds still works, for renew and revoke alike.
	if _, err := c.Sys().Renew(leases[1], 600); err != nil {
		t.Fatalf("Renew by the old id: %v", err)
	}
	if roles() != 3 {
		t.Fatalf("%d database users before revocation, want 3", roles())
	}
	if err := c.Sys().Revoke(leases[1]); err != nil {
		t.Fatalf("Revoke by the old id: %v", err)
	}
	if roles() != 2 {
		t.Fatalf("%d database users after revoking one, want 2", roles())
	}
	leases = slices.Delete(leases, 1, 2)

	// Everything survives a restart.
	shares := n.Shares
	n.Close()
	n = nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	c = nodetest.VaultClient(t, n.URL, c.Token())
	check(t, c)
	s, err := c.Logical().Read("dbnew/creds/ro")
	if err != nil || !strings.HasPrefix(s.LeaseID, "dbnew/creds/ro/") {
		t.Fatalf("new creds at the new path: %+v, %v", s, err)
	}
	if err := c.Sys().RevokePrefix("dbnew/creds/ro"); err != nil {
		t.Fatalf("RevokePrefix at the new path: %v", err)
	}
	if got := roles(); got != 0 {
		t.Fatalf("%d database users left after revoke-prefix at the new path", got)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The move answers with a warning naming the policies that still grant the
// old path (policies are not rewritten), and is in the audit log.
func TestRemountWarnsAboutPoliciesAndIsAudited(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{AuditDir: dir})
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	logPath := filepath.Join(dir, "audit.log")
	enableFileAudit(t, c, logPath)
	if err := c.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("unrelated", `path "other/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Logical().Write("sys/remount", map[string]any{"from": "secret", "to": "kv"})
	if err != nil || resp == nil || resp.Data["migration_id"] == "" {
		t.Fatalf("sys/remount = %+v, %v", resp, err)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "app") || strings.Contains(resp.Warnings[0], "unrelated") {
		t.Fatalf("warnings = %q, want one naming policy app only", resp.Warnings)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var sawRequest, sawResponse bool
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if strings.Contains(line, `"path":"sys/remount"`) {
			sawRequest = sawRequest || strings.Contains(line, `"type":"request"`)
			sawResponse = sawResponse || strings.Contains(line, `"type":"response"`)
		}
	}
	if !sawRequest || !sawResponse {
		t.Fatalf("audit log lacks the sys/remount request or response:\n%s", log)
	}
}

// `kv enable-versioning` (a tune of options.version to 2) upgrades a KV
// version 1 mount in place: through the official client's KVv2 API every
// secret is there, at version 1, and history goes on from there.
func TestVaultClientKVEnableVersioning(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	if err := c.Sys().Mount("kv1", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]map[string]any{
		"app/db":    {"password": "s3cr3t", "user": "app"},
		"app/api":   {"key": "k-1"},
		"top-level": {"ttl": "1h", "v": "x"},
	}
	for p, d := range secrets {
		if err := c.KVv1("kv1").Put(ctx, p, d); err != nil {
			t.Fatalf("v1 put %s: %v", p, err)
		}
	}
	// What the CLI's enable-versioning sends.
	if err := c.Sys().TuneMountAllowNil("kv1", vault.TuneMountConfigInput{Options: &map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("tune to version 2: %v", err)
	}
	m, err := c.Sys().GetMount("kv1")
	if err != nil || m.Options["version"] != "2" {
		t.Fatalf("mount after upgrade: %+v, %v", m, err)
	}
	kv2 := c.KVv2("kv1")
	for p, want := range secrets {
		s, err := kv2.Get(ctx, p)
		if err != nil {
			t.Fatalf("KVv2 get %s: %v", p, err)
		}
		for k, v := range want {
			if s.Data[k] != v {
				t.Errorf("%s: %s = %v, want %v", p, k, s.Data[k], v)
			}
		}
		if s.VersionMetadata == nil || s.VersionMetadata.Version != 1 {
			t.Errorf("%s: version metadata %+v, want version 1", p, s.VersionMetadata)
		}
		vs, err := kv2.GetVersionsAsList(ctx, p)
		if err != nil || len(vs) != 1 || vs[0].Version != 1 {
			t.Errorf("%s: versions %+v, %v; want just version 1", p, vs, err)
		}
	}
	list, err := c.Logical().List("kv1/metadata/app")
	if err != nil || list == nil {
		t.Fatalf("list metadata: %v", err)
	}
	keys := list.Data["keys"].([]any)
	if !slices.Equal(keys, []any{"api", "db"}) {
		t.Errorf("LIST kv1/metadata/app = %v", keys)
	}
	s, err := kv2.Put(ctx, "app/db", map[string]any{"password": "rotated"})
	if err != nil || s.VersionMetadata.Version != 2 {
		t.Fatalf("write after upgrade: %+v, %v; want version 2", s, err)
	}
	old, err := kv2.GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "s3cr3t" {
		t.Fatalf("version 1 after a new write: %+v, %v", old, err)
	}
	// Version 2 never goes back.
	err = c.Sys().TuneMountAllowNil("kv1", vault.TuneMountConfigInput{Options: &map[string]string{"version": "1"}})
	if !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("downgrade to version 1 = %v, want 400", err)
	}
}

// Moving an auth mount keeps its users, its accessor and the tokens it
// issued: a token whose policy is templated on its identity still reads
// its own secrets and still renews after `auth move`; logins work at the
// new path only.
func TestVaultClientAuthMoveKeepsTokens(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	if err := c.Sys().EnableAuthWithOptions("people", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("own", `path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/people/users/alice", map[string]any{"password": "pw-alice-1", "token_policies": "own"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Put(ctx, "alice/db", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	before, err := c.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	login, err := c.Logical().Write("auth/people/login/alice", map[string]any{"password": "pw-alice-1"})
	if err != nil {
		t.Fatal(err)
	}
	alice := nodetest.VaultClient(t, n.URL, login.Auth.ClientToken)
	if _, err := alice.KVv2("secret").Get(ctx, "alice/db"); err != nil {
		t.Fatalf("templated read before the move: %v", err)
	}

	if err := c.Sys().Remount("auth/people", "auth/staff"); err != nil {
		t.Fatalf("Remount(auth/people, auth/staff): %v", err)
	}
	after, err := c.Sys().ListAuth()
	if err != nil || after["staff/"] == nil || after["people/"] != nil || after["staff/"].Accessor != before["people/"].Accessor {
		t.Fatalf("auth mounts after the move: %v, %v", keysOf(after), err)
	}
	if _, err := alice.KVv2("secret").Get(ctx, "alice/db"); err != nil {
		t.Fatalf("templated read with a token issued before the move: %v", err)
	}
	if _, err := alice.Auth().Token().RenewSelf(60); err != nil {
		t.Fatalf("renew of a token issued before the move: %v", err)
	}
	if _, err := c.Logical().Write("auth/staff/login/alice", map[string]any{"password": "pw-alice-1"}); err != nil {
		t.Fatalf("login at the new path: %v", err)
	}
	if _, err := c.Logical().Write("auth/people/login/alice", map[string]any{"password": "pw-alice-1"}); err == nil {
		t.Fatal("login at the old path still works")
	}

	// A new mount at the old path is not the issuer of the old tokens: its
	// own user alice gets her own identity, the old token keeps the moved one.
	if err := c.Sys().EnableAuthWithOptions("people", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.KVv2("secret").Get(ctx, "alice/db"); err != nil {
		t.Fatalf("templated read after a new mount took the old path: %v", err)
	}
}

// sys/remount needs update and sudo on sys/remount, as in Vault, and is
// also authorized as a disable at sys/mounts/FROM and an enable at
// sys/mounts/TO (sys/auth/... for auth methods).
func TestRemountAuthorization(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	for _, m := range []string{"team-a", "team-b"} {
		if err := root.Sys().Mount(m, &vault.MountInput{Type: "kv"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Sys().EnableAuthWithOptions("up", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	remount := `path "sys/remount" { capabilities = ["update", "sudo"] }
path "sys/remount/status/*" { capabilities = ["read"] }
`
	cases := []struct {
		name, policy, from, to string
		allowed                bool
	}{
		{"remount grant without sudo", `path "sys/remount" { capabilities = ["update"] }
path "sys/mounts/*" { capabilities = ["update", "delete"] }`, "team-a", "team-a2", false},
		{"remount grant only", remount, "team-a", "team-a2", false},
		{"source not grantable", remount + `path "sys/mounts/team-a-moved" { capabilities = ["update"] }`, "team-a", "team-a-moved", false},
		{"destination not grantable", remount + `path "sys/mounts/team-a" { capabilities = ["delete"] }`, "team-a", "elsewhere", false},
		{"destination denied", remount + `path "sys/mounts/*" { capabilities = ["update", "delete"] }
path "sys/mounts/secret*" { capabilities = ["deny"] }`, "team-a", "secret-b", false},
		{"auth without sudo on sys/auth", remount + `path "sys/auth/*" { capabilities = ["update", "delete"] }`, "auth/up", "auth/up2", false},
		{"source and destination granted", remount + `path "sys/mounts/team-b" { capabilities = ["delete"] }
path "sys/mounts/team-b-moved" { capabilities = ["update"] }`, "team-b", "team-b-moved", true},
		{"auth with sudo on sys/auth", remount + `path "sys/auth/*" { capabilities = ["update", "delete", "sudo"] }`, "auth/up", "auth/up2", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "p" + string(rune('a'+i))
			if err := root.Sys().PutPolicy(name, tc.policy); err != nil {
				t.Fatal(err)
			}
			tok, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			err = nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken).Sys().Remount(tc.from, tc.to)
			if tc.allowed && err != nil {
				t.Fatalf("Remount(%s, %s) = %v, want allowed", tc.from, tc.to, err)
			}
			if !tc.allowed && !isStatus(err, http.StatusForbidden) {
				t.Fatalf("Remount(%s, %s) = %v, want 403", tc.from, tc.to, err)
			}
		})
	}
}

// Moves that would break the mount table, or land where no mount may be
// enabled, are refused with 400 and change nothing.
func TestRemountRefusals(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := c.Sys().Mount("kv1", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().Mount("team/a", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"onto an existing mount", map[string]any{"from": "secret", "to": "kv1"}, "already in use"},
		{"under an existing mount", map[string]any{"from": "secret", "to": "kv1/inner"}, "already in use"},
		{"above an existing mount", map[string]any{"from": "secret", "to": "team"}, "already in use"},
		{"into sys", map[string]any{"from": "secret", "to": "sys/x"}, "reserved"},
		{"into cubbyhole", map[string]any{"from": "secret", "to": "cubbyhole"}, "reserved"},
		{"into identity", map[string]any{"from": "secret", "to": "identity"}, "reserved"},
		{"secrets engine into auth", map[string]any{"from": "secret", "to": "auth/x"}, "between auth/"},
		{"auth into secrets", map[string]any{"from": "auth/token", "to": "tok"}, "between auth/"},
		{"the token store", map[string]any{"from": "auth/token", "to": "auth/tok2"}, "cannot move"},
		{"sys", map[string]any{"from": "sys", "to": "system"}, "cannot move"},
		{"upper case", map[string]any{"from": "secret", "to": "Secret2"}, "invalid mount path"},
		{"look-alike", map[string]any{"from": "secret", "to": "ѕecret"}, "invalid mount path"},
		{"trailing dot", map[string]any{"from": "secret", "to": "secret."}, "invalid mount path"},
		{"traversal", map[string]any{"from": "secret", "to": "a/../b"}, "invalid mount path"},
		{"glob", map[string]any{"from": "secret", "to": "a*"}, "invalid mount path"},
		{"same path", map[string]any{"from": "secret", "to": "secret/"}, "same mount path"},
		{"no such mount", map[string]any{"from": "nope", "to": "nope2"}, "no mount at"},
		{"missing to", map[string]any{"from": "secret"}, "missing required"},
		{"unknown field", map[string]any{"from": "secret", "to": "x", "force": true}, "force"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Logical().Write("sys/remount", tc.body)
			if !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("sys/remount %v = %v, want 400 %q", tc.body, err, tc.msg)
			}
		})
	}
	mounts, err := c.Sys().ListMounts()
	if err != nil || mounts["secret/"] == nil || mounts["kv1/"] == nil || mounts["identity/"] == nil || len(mounts) != 5 {
		t.Fatalf("mounts after refused moves: %v, %v", keysOf(mounts), err)
	}
}

// A token whose auth method was disabled cannot be renewed: nobody is left
// to approve it, and a mount enabled later at the same path is not its
// issuer.
func TestTokenOfDisabledAuthMountIsNotRenewed(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := c.Sys().EnableAuthWithOptions("up", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/up/users/bob", map[string]any{"password": "pw-bob-1"}); err != nil {
		t.Fatal(err)
	}
	login, err := c.Logical().Write("auth/up/login/bob", map[string]any{"password": "pw-bob-1"})
	if err != nil {
		t.Fatal(err)
	}
	bob := nodetest.VaultClient(t, n.URL, login.Auth.ClientToken)
	if _, err := bob.Auth().Token().RenewSelf(60); err != nil {
		t.Fatalf("renew while the mount exists: %v", err)
	}
	if err := c.Sys().DisableAuth("up"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().EnableAuthWithOptions("up", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Auth().Token().RenewSelf(60); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("renew of a token from a disabled mount = %v, want 403", err)
	}
}

// A token from an auth method that was disabled no longer works, as in
// Vault (which revokes them); one from a method mounted later at the same
// path is not its issuer either.
func TestTokenOfDisabledAuthMountIsRefused(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/userpass/users/u", map[string]any{"password": "pw-123456", "token_policies": "default"}); err != nil {
		t.Fatal(err)
	}
	login, err := root.Logical().Write("auth/userpass/login/u", map[string]any{"password": "pw-123456"})
	if err != nil {
		t.Fatal(err)
	}
	tok := login.Auth.ClientToken
	if status, _ := do(t, "GET", n.URL+"/v1/auth/token/lookup-self", tok, nil); status != http.StatusOK {
		t.Fatalf("lookup-self before the disable = %d", status)
	}
	if err := root.Sys().DisableAuth("userpass"); err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, "GET", n.URL+"/v1/auth/token/lookup-self", tok, nil); status != http.StatusForbidden {
		t.Fatalf("lookup-self after the disable = %d, want 403", status)
	}
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, "GET", n.URL+"/v1/auth/token/lookup-self", tok, nil); status != http.StatusForbidden {
		t.Fatalf("lookup-self with a new mount at the old path = %d, want 403", status)
	}
}
