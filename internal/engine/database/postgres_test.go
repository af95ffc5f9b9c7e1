package database_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/testsvc"
)

func TestPostgresDynamicLifecycle(t *testing.T) {
	admin := testsvc.Postgres(t)
	h := newHarness(t, lease.Options{})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "ro")
	h.write("roles/ro", map[string]any{"db_name": "pg", "default_ttl": "10s", "max_ttl": "30s",
		"creation_statements": []any{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
			`GRANT pg_read_all_data TO "{{name}}"`}})

	c := h.creds("ro")
	if !strings.HasPrefix(c.user, h.prefix+"-ro-") || len(c.pass) < 20 {
		t.Fatalf("creds: user %q, password of %d chars", c.user, len(c.pass))
	}
	if err := pgLogin(t.Context(), c.user, c.pass); err != nil {
		t.Fatalf("issued credential does not connect: %v", err)
	}
	if !pgPasswordIs(t, admin, c.user, c.pass) {
		t.Fatal("database holds a different password than the one issued")
	}

	// Renew within max TTL moves VALID UNTIL.
	var before, after time.Time
	admin.QueryRow(t.Context(), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, c.user).Scan(&before)
	h.clk.Add(5 * time.Second)
	s, _, err := h.leases.Renew(t.Context(), &logical.Request{Token: h.token}, c.leaseID, 20*time.Second)
	if err != nil || s.TTL != 20*time.Second {
		t.Fatalf("renew: %+v %v", s, err)
	}
	admin.QueryRow(t.Context(), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, c.user).Scan(&after)
	if !after.After(before) {
		t.Errorf("VALID UNTIL not extended: %v -> %v", before, after)
	}
	// Past max TTL the renewal is capped at 30 s after issue.
	h.clk.Add(10 * time.Second)
	if s, _, _ = h.leases.Renew(t.Context(), &logical.Request{Token: h.token}, c.leaseID, time.Hour); s.TTL != 15*time.Second {
		t.Errorf("renew past max: ttl %v, want 15s", s.TTL)
	}

	h.expireAll(time.Minute)
	if pgExists(t, admin, c.user) {
		t.Fatal("user still exists after its lease expired")
	}
	if err := pgLogin(t.Context(), c.user, c.pass); err == nil {
		t.Fatal("expired credential still connects")
	}
}

func TestPostgresRevokePrefixAndSessions(t *testing.T) {
	admin := testsvc.Postgres(t)
	h := newHarness(t, lease.Options{})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "a", "b")
	h.write("roles/a", map[string]any{"db_name": "pg", "default_ttl": "1h"})
	h.write("roles/b", map[string]any{"db_name": "pg", "default_ttl": "1h"})
	var users []string
	for range 3 {
		users = append(users, h.creds("a").user, h.creds("b").user)
	}
	// A user with an open session and an object it owns is still revoked:
	// the session is ended and the table handed to the admin.
	conf, _ := pgx.ParseConfig("postgres://" + testsvc.PostgresAddr + "/test?sslmode=disable")
	conf.User = users[0]
	sess, err := pgx.ConnectConfig(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	table := pgx.Identifier{"public", h.prefix + "_owned"}.Sanitize()
	admin.Exec(t.Context(), `GRANT CREATE ON SCHEMA public TO `+pgx.Identifier{users[0]}.Sanitize())
	if _, err := sess.Exec(t.Context(), `CREATE TABLE `+table+` (id int)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP TABLE IF EXISTS `+table) })

	if n, err := h.leases.RevokePrefix(t.Context(), "database/creds/a/"); n != 3 || err != nil {
		t.Fatalf("RevokePrefix = %d, %v", n, err)
	}
	for i, u := range users {
		if exists := pgExists(t, admin, u); exists != (i%2 == 1) {
			t.Errorf("user %d (%s role) exists = %v after revoking role a", i, []string{"a", "b"}[i%2], exists)
		}
	}
	if err := sess.Ping(t.Context()); err == nil {
		t.Error("revoked user's session still alive")
	}
	var owner string
	admin.QueryRow(t.Context(), `SELECT tableowner FROM pg_tables WHERE tablename = $1`, h.prefix+"_owned").Scan(&owner)
	if owner != "postgres" {
		t.Errorf("owned table went to %q, want postgres", owner)
	}
	if n, err := h.leases.RevokePrefix(t.Context(), "database/"); n != 3 || err != nil {
		t.Fatalf("RevokePrefix all = %d, %v", n, err)
	}
	if n := testsvc.PostgresRoles(t, admin, h.prefix); n != 0 {
		t.Fatalf("%d users left after revoke-prefix", n)
	}
}

// T42: hostile role, schema and user names are quoted in every statement;
// creation and revocation both succeed.
func TestPostgresHostileNames(t *testing.T) {
	admin := testsvc.Postgres(t)
	h := newHarness(t, lease.Options{})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	schema := h.prefix + `_sch"em'a; DROP TABLE x; --`
	schemaID := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(t.Context(), `CREATE SCHEMA `+schemaID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schemaID+` CASCADE`) })
	quotedSchema := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"`

	h.write("config/pg", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL,
		"username": "postgres", "password": "x", "allowed_roles": "*",
		"username_template": h.prefix + `{{.RoleName}}`})
	roles := []string{
		`ro"le`, `o'brien`, `semi;colon`, `with space`, `ünï-cødé-日本`,
		strings.Repeat("long", 20), `back\slash`, `x"; DROP ROLE postgres; --`,
	}
	for _, r := range roles {
		t.Run(r, func(t *testing.T) {
			h.write("roles/"+r, map[string]any{"db_name": "pg", "default_ttl": "1h",
				"creation_statements": []any{
					`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
					`GRANT USAGE ON SCHEMA ` + quotedSchema + ` TO "{{name}}";` +
						`CREATE TABLE ` + quotedSchema + `."t_{{name}}" (id int); ALTER TABLE ` + quotedSchema + `."t_{{name}}" OWNER TO {{name}}`,
				}})
			c := h.creds(r)
			if len(c.user) > 63 {
				t.Fatalf("user name of %d bytes exceeds PostgreSQL's 63", len(c.user))
			}
			if !pgExists(t, admin, c.user) {
				t.Fatalf("user %q not created", c.user)
			}
			if err := h.leases.Revoke(t.Context(), &logical.Request{Token: h.token}, c.leaseID); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if pgExists(t, admin, c.user) {
				t.Fatalf("user %q survived revocation", c.user)
			}
		})
	}
	var superusers int
	admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'`).Scan(&superusers)
	if superusers != 1 {
		t.Fatal("a hostile name reached the database unquoted")
	}
}

// T41: the database goes away while leases expire; revocations fail, are
// retried with backoff, turn irrevocable (visible), and a tidy sweep after
// the database returns drops every user: zero orphans.
func TestPostgresDownWhileLeasesExpire(t *testing.T) {
	admin := testsvc.Postgres(t)
	p := newProxy(t, testsvc.PostgresAddr)
	h := newHarness(t, lease.Options{MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: 2 * time.Second, RevokeTimeout: 2 * time.Second})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	h.configurePostgres("postgres://{{username}}:{{password}}@"+p.addr()+"/test?sslmode=disable&connect_timeout=2", "r")
	h.write("roles/r", map[string]any{"db_name": "pg", "default_ttl": "5s"})
	const n = 20
	for range n {
		h.creds("r")
	}
	p.cut()
	h.clk.Add(6 * time.Second)
	h.leases.Poke()
	clocktest.Eventually(t, "first failed round", func() bool { _, pending, _ := h.leases.Counts(); return pending == n })
	clocktest.Eventually(t, "irrevocable after the last attempt", func() bool {
		h.clk.Add(3 * time.Second)
		h.leases.Poke()
		_, _, irr := h.leases.Counts()
		return irr == n
	})
	if got := testsvc.PostgresRoles(t, admin, h.prefix); got != n {
		t.Fatalf("%d users in the database while it was unreachable, want %d", got, n)
	}
	p.restore()
	if k, err := h.leases.Tidy(t.Context()); k != n || err != nil {
		t.Fatalf("Tidy = %d, %v", k, err)
	}
	clocktest.Eventually(t, "sweep after recovery", func() bool { total, _, _ := h.leases.Counts(); return total == 0 })
	if got := testsvc.PostgresRoles(t, admin, h.prefix); got != 0 {
		t.Fatalf("%d orphan users after recovery", got)
	}
}

// A revocation statement that errors leaves the lease revoke_pending and
// visible, never deleted.
func TestPostgresRevocationErrorKeepsLease(t *testing.T) {
	admin := testsvc.Postgres(t)
	h := newHarness(t, lease.Options{BaseBackoff: time.Hour})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "bad")
	h.write("roles/bad", map[string]any{"db_name": "pg", "default_ttl": "1s",
		"revocation_statements": []any{`DROP ROLE "{{name}}"; SELECT no_such_function()`}})
	c := h.creds("bad")
	h.clk.Add(2 * time.Second)
	h.leases.Poke()
	clocktest.Eventually(t, "failed revocation", func() bool { i, _ := h.leases.Lookup(c.leaseID); return i.Attempts == 1 })
	info, ok := h.leases.Lookup(c.leaseID)
	if !ok || info.State != lease.StateRevokePending || !strings.Contains(info.LastError, "SQLSTATE") {
		t.Fatalf("lease after failed revocation: %+v, %v", info, ok)
	}
	if strings.Contains(info.LastError, c.pass) {
		t.Fatal("lease error holds the password")
	}
	if !pgExists(t, admin, c.user) {
		t.Fatal("statement transaction not rolled back")
	}
}

// 500 real users with short TTLs all expire: none is left behind and the
// goroutine count stays flat.
func TestPostgresManyLeasesExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 500 database users")
	}
	admin := testsvc.Postgres(t)
	h := newHarness(t, lease.Options{})
	testsvc.DropPostgresRoles(t, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "many")
	h.write("config/pg", map[string]any{"max_open_connections": 8})
	h.write("roles/many", map[string]any{"db_name": "pg", "default_ttl": "30s"})
	base := runtime.NumGoroutine()
	const n = 500
	for i := range n {
		h.creds("many")
		if i == 50 {
			base = runtime.NumGoroutine() // the connection pool is warm
		}
	}
	if got := testsvc.PostgresRoles(t, admin, h.prefix); got != n {
		t.Fatalf("%d users created, want %d", got, n)
	}
	h.expireAll(time.Minute)
	if got := testsvc.PostgresRoles(t, admin, h.prefix); got != 0 {
		t.Fatalf("%d users left behind", got)
	}
	if g := runtime.NumGoroutine(); g > base+5 {
		t.Errorf("goroutines grew from %d to %d", base, g)
	}
	t.Logf("%d users created and revoked", n)
}
