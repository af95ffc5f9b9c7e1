package database_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/testsvc"
)

func (h *harness) configureMariaDB(user, pass string) {
	h.t.Helper()
	h.write("config/my", map[string]any{"plugin_name": "mysql-database-plugin", "connection_url": testsvc.MariaDBURL,
		"username": user, "password": pass, "allowed_roles": "*", "username_template": h.template()})
}

func TestMariaDBDynamicLifecycle(t *testing.T) {
	db := testsvc.MariaDB(t)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	h.configureMariaDB("root", "")
	h.write("roles/app", map[string]any{"db_name": "my", "default_ttl": "10s",
		"creation_statements": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON test.* TO '{{name}}'@'%'"})
	c := h.creds("app")
	if len(c.user) > 80 {
		t.Fatalf("user name of %d chars exceeds MariaDB's limit", len(c.user))
	}
	if err := myLogin(t.Context(), c.user, c.pass); err != nil {
		t.Fatalf("issued credential does not connect: %v", err)
	}
	if err := myLogin(t.Context(), c.user, c.pass+"x"); err == nil {
		t.Fatal("a wrong password connects")
	}
	h.expireAll(time.Minute)
	if n := myCount(t, db, h.prefix); n != 0 {
		t.Fatalf("%d accounts left after expiry", n)
	}
	if err := myLogin(t.Context(), c.user, c.pass); err == nil {
		t.Fatal("expired credential still connects")
	}
}

// T42 for MariaDB: hostile names in default and operator-quoted statements.
func TestMariaDBHostileNames(t *testing.T) {
	db := testsvc.MariaDB(t)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	h.write("config/my", map[string]any{"plugin_name": "mysql-database-plugin", "connection_url": testsvc.MariaDBURL,
		"username": "root", "password": "", "allowed_roles": "*", "username_template": h.prefix + "{{.RoleName}}"})
	for _, r := range []string{`o'neil`, `back\slash`, `semi;colon`, "tick`s", `q"uote`, `ünï 日本`} {
		t.Run(r, func(t *testing.T) {
			stmts := map[string]any{"db_name": "my", "default_ttl": "1h"}
			if strings.Contains(r, "i") {
				stmts["creation_statements"] = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"
				stmts["revocation_statements"] = "DROP USER '{{name}}'@'%'"
			}
			h.write("roles/"+r, stmts)
			c := h.creds(r)
			if err := myLogin(t.Context(), c.user, c.pass); err != nil {
				t.Fatalf("hostile-named user cannot connect: %v", err)
			}
			if err := h.leases.Revoke(t.Context(), &logical.Request{Token: h.token}, c.leaseID); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if err := myLogin(t.Context(), c.user, c.pass); err == nil {
				t.Fatal("revoked user still connects")
			}
		})
	}
	if n := myCount(t, db, h.prefix); n != 0 {
		t.Fatalf("%d accounts left", n)
	}
}

func TestRedisDynamicLifecycle(t *testing.T) {
	rc := testsvc.Redis(t)
	h := newHarness(t, lease.Options{})
	t.Cleanup(func() {
		for _, u := range redisUsers(t, rc, h.prefix) {
			rc.Do(context.Background(), "ACL", "DELUSER", u)
		}
	})
	h.write("config/rd", map[string]any{"plugin_name": "redis-database-plugin", "connection_url": testsvc.RedisURL,
		"allowed_roles": "*", "username_template": h.template()})
	h.write("roles/cache", map[string]any{"db_name": "rd", "default_ttl": "10s",
		"creation_statements": `["~app:* +get +set"]`})
	h.write("roles/bad", map[string]any{"db_name": "rd", "creation_statements": `>injected`})
	if _, err := h.do(logical.ReadOperation, "creds/bad", nil); err == nil {
		t.Fatal("a statement setting a password was accepted")
	}
	c := h.creds("cache")
	if err := redisLogin(t.Context(), c.user, c.pass); err != nil {
		t.Fatalf("issued credential does not connect: %v", err)
	}
	if err := redisLogin(t.Context(), c.user, "wrong"); err == nil {
		t.Fatal("a wrong password connects")
	}
	h.expireAll(time.Minute)
	if u := redisUsers(t, rc, h.prefix); len(u) != 0 {
		t.Fatalf("users left: %d", len(u))
	}
	if err := redisLogin(t.Context(), c.user, c.pass); err == nil {
		t.Fatal("expired credential still connects")
	}
}

// myUser creates an account the test owns, with a known password.
func myUser(t *testing.T, h *harness, suffix, grants string) string {
	t.Helper()
	db := testsvc.MariaDB(t)
	user := h.prefix + suffix
	if _, err := db.Exec("CREATE USER " + myQuote(user) + "@'%' IDENTIFIED BY 'initial-Pw1'"); err != nil {
		t.Fatal(err)
	}
	if grants != "" {
		if _, err := db.Exec("GRANT " + grants + " TO " + myQuote(user) + "@'%'"); err != nil {
			t.Fatal(err)
		}
	}
	return user
}

func staticCreds(t *testing.T, h *harness, role string) (user, pass string) {
	t.Helper()
	resp, err := h.do(logical.ReadOperation, "static-creds/"+role, nil)
	if err != nil {
		t.Fatalf("static-creds: %v", err)
	}
	return resp.Data["username"].(string), resp.Data["password"].(string)
}

// A static role rotates on its schedule; the old password stops working.
func TestMariaDBStaticRotation(t *testing.T) {
	db := testsvc.MariaDB(t)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	h.configureMariaDB("root", "")
	user := myUser(t, h, "-static", "")
	h.write("static-roles/svc", map[string]any{"db_name": "my", "username": user, "rotation_period": "1s"})
	if err := myLogin(t.Context(), user, "initial-Pw1"); err == nil {
		t.Fatal("the initial password still works after the role was created")
	}
	u1, p1 := staticCreds(t, h, "svc")
	if u1 != user || myLogin(t.Context(), user, p1) != nil {
		t.Fatal("static credential does not connect")
	}
	var p2 string
	clocktest.Eventually(t, "scheduled rotation", func() bool { _, p2 = staticCreds(t, h, "svc"); return p2 != p1 })
	if err := myLogin(t.Context(), user, p2); err != nil {
		t.Fatalf("rotated password does not connect: %v", err)
	}
	if err := myLogin(t.Context(), user, p1); err == nil {
		t.Fatal("old password still works after rotation")
	}
	resp, _ := h.do(logical.ReadOperation, "static-roles/svc", nil)
	if resp.Data["failed_rotations"] != 0 {
		t.Errorf("failed_rotations = %v", resp.Data["failed_rotations"])
	}
}

// Graceful mode: two users alternate, so the previous credential keeps
// working for one more period.
func TestMariaDBStaticGraceful(t *testing.T) {
	db := testsvc.MariaDB(t)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	h.configureMariaDB("root", "")
	a, b := myUser(t, h, "-blue", ""), myUser(t, h, "-green", "")
	h.write("static-roles/g", map[string]any{"db_name": "my", "username": a, "alternate_username": b, "rotation_period": "1h"})
	u1, p1 := staticCreds(t, h, "g")
	h.write("rotate-role/g", nil)
	u2, p2 := staticCreds(t, h, "g")
	if u1 == u2 {
		t.Fatalf("graceful rotation kept user %q", u1)
	}
	if err := myLogin(t.Context(), u1, p1); err != nil {
		t.Fatalf("previous credential (%s) does not connect after one rotation: %v", u1, err)
	}
	if err := myLogin(t.Context(), u2, p2); err != nil {
		t.Fatalf("current credential (%s) does not connect after one rotation: %v", u2, err)
	}
	h.write("rotate-role/g", nil)
	u3, p3 := staticCreds(t, h, "g")
	if u3 != u1 || myLogin(t.Context(), u3, p3) != nil {
		t.Fatal("third credential wrong")
	}
	if myLogin(t.Context(), u1, p1) == nil {
		t.Fatal("credential from two rotations ago still works")
	}
	if myLogin(t.Context(), u2, p2) != nil {
		t.Fatal("previous credential stopped working within its grace period")
	}
}

// A rotation that cannot reach the database keeps the old password, counts
// the failure, and succeeds on retry once the database is back.
func TestMariaDBStaticRotationFailure(t *testing.T) {
	db := testsvc.MariaDB(t)
	p := newProxy(t, testsvc.MariaDBAddr)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	h.write("config/my", map[string]any{"plugin_name": "mysql-database-plugin",
		"connection_url": "{{username}}:{{password}}@tcp(" + p.addr() + ")/test?timeout=2s",
		"username":       "root", "password": "", "allowed_roles": "*"})
	user := myUser(t, h, "-flaky", "")
	h.write("static-roles/f", map[string]any{"db_name": "my", "username": user, "rotation_period": "1h"})
	_, p1 := staticCreds(t, h, "f")
	failures := h.metrics.Counter("keyward_database_rotation_failures_total", "")
	rotations := h.metrics.Counter("keyward_database_rotations_total", "")
	failed0 := failures.Value()
	p.cut()
	h.write("reset/my", nil)
	if _, err := h.do(logical.UpdateOperation, "rotate-role/f", nil); err == nil {
		t.Fatal("rotation succeeded with the database unreachable")
	}
	if failures.Value() == failed0 {
		t.Error("keyward_database_rotation_failures_total did not count the failed rotation")
	}
	rotated0 := rotations.Value()
	if _, cur := staticCreds(t, h, "f"); cur != p1 {
		t.Fatal("failed rotation replaced the password")
	}
	resp, _ := h.do(logical.ReadOperation, "static-roles/f", nil)
	if n, _ := resp.Data["failed_rotations"].(int); n < 1 || resp.Data["last_rotation_error"] == nil {
		t.Fatalf("failure not reported: %v", resp.Data)
	}
	if strings.Contains(resp.Data["last_rotation_error"].(string), p1) {
		t.Fatal("error shows the password")
	}
	if err := myLogin(t.Context(), user, p1); err != nil {
		t.Fatalf("old password broken by a failed rotation: %v", err)
	}
	p.restore()
	// The retry, scheduled with backoff, completes by itself.
	clocktest.Eventually(t, "retry after recovery", func() bool { _, cur := staticCreds(t, h, "f"); return cur != p1 })
	if rotations.Value() == rotated0 {
		t.Error("keyward_database_rotations_total did not count the successful retry")
	}
	_, p2 := staticCreds(t, h, "f")
	if myLogin(t.Context(), user, p2) != nil || myLogin(t.Context(), user, p1) == nil {
		t.Fatal("retry did not leave exactly the new password working")
	}
}

// rotate-root changes the engine's admin password so no human knows it;
// T44: during concurrent issuing every request succeeds or fails cleanly,
// and afterwards the stored password works.
func TestMariaDBRotateRoot(t *testing.T) {
	db := testsvc.MariaDB(t)
	h := newHarness(t, lease.Options{})
	myCleanup(t, db, h.prefix)
	admin := myUser(t, h, "-admin", "ALL PRIVILEGES ON *.*")
	if _, err := db.Exec("GRANT ALL PRIVILEGES ON *.* TO " + myQuote(admin) + "@'%' WITH GRANT OPTION"); err != nil {
		t.Fatal(err)
	}
	h.configureMariaDB(admin, "initial-Pw1")
	h.write("roles/r", map[string]any{"db_name": "my", "default_ttl": "1h"})

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := h.do(logical.ReadOperation, "creds/r", nil)
			errs <- err
		})
	}
	h.write("rotate-root/my", nil)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("creds during root rotation: %v", err)
		}
	}
	if err := myLogin(t.Context(), admin, "initial-Pw1"); err == nil {
		t.Fatal("the old admin password still works")
	}
	c := h.creds("r")
	if err := myLogin(t.Context(), c.user, c.pass); err != nil {
		t.Fatalf("creds after root rotation: %v", err)
	}
	h.expireAll(2 * time.Hour)
	if n := myCount(t, db, h.prefix+"-r"); n != 0 {
		t.Fatalf("%d dynamic accounts left", n)
	}
}

// T44 crash windows: the pending root password is stored before it is
// applied. A restart finds whichever of the stored and pending passwords
// works, never neither.
func TestRotateRootCrashRecovery(t *testing.T) {
	db := testsvc.MariaDB(t)
	for _, applied := range []bool{false, true} {
		name := map[bool]string{false: "crash before apply", true: "crash after apply"}[applied]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, lease.Options{})
			myCleanup(t, db, h.prefix)
			admin := myUser(t, h, "-admin", "")
			db.Exec("GRANT ALL PRIVILEGES ON *.* TO " + myQuote(admin) + "@'%' WITH GRANT OPTION")
			h.configureMariaDB(admin, "initial-Pw1")
			h.write("roles/r", map[string]any{"db_name": "my", "default_ttl": "1h"})
			const pending = "pending-Pw-2"
			if err := setPendingRoot(h, "my", pending); err != nil {
				t.Fatal(err)
			}
			if applied {
				if _, err := db.Exec("ALTER USER " + myQuote(admin) + "@'%' IDENTIFIED BY '" + pending + "'"); err != nil {
					t.Fatal(err)
				}
			}
			// A fresh engine over the same storage: the restarted server.
			h2 := h.reopen(t)
			c := h2.creds("r")
			if err := myLogin(t.Context(), c.user, c.pass); err != nil {
				t.Fatalf("creds after restart: %v", err)
			}
			want := "initial-Pw1"
			if applied {
				want = pending
			}
			if err := myLogin(t.Context(), admin, want); err != nil {
				t.Fatalf("admin password on record does not work: %v", err)
			}
			h2.write("rotate-root/my", nil)
			if err := myLogin(t.Context(), admin, want); err == nil {
				t.Fatal("old admin password works after a later rotation")
			}
			if _, err := h2.do(logical.ReadOperation, "config/my", nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	h := newHarness(t, lease.Options{})
	tests := []struct {
		name string
		data map[string]any
	}{
		{"unknown plugin", map[string]any{"plugin_name": "oracle", "connection_url": "x", "verify_connection": false}},
		{"missing url", map[string]any{"plugin_name": "postgresql-database-plugin"}},
		{"unknown field", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": "x", "bogus": 1}},
		{"bad template", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL, "username_template": "{{"}},
		{"unreachable", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": "postgres://u:p@127.0.0.1:1/x?connect_timeout=1"}},
		{"named policy without policy service", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL, "password_policy": "strong"}},
		{"idle connections it would ignore", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL, "max_idle_connections": 4}},
		{"connection lifetime it would ignore", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL, "max_connection_lifetime": "1h"}},
		{"external plugin version", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL, "plugin_version": "v1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.do(logical.UpdateOperation, "config/c", tt.data)
			if code, _, _ := logical.StatusOf(err); code != http.StatusBadRequest {
				t.Fatalf("write config = %v, want 400", err)
			}
		})
	}
	if _, err := h.do(logical.UpdateOperation, "roles/r", map[string]any{"db_name": "c", "creation_statements": `CREATE ROLE "{{name}}`}); err == nil {
		t.Error("unbalanced statement accepted")
	}
	if _, err := h.do(logical.UpdateOperation, "static-roles/s", map[string]any{"db_name": "c", "username": "u", "rotation_schedule": "61 * * * *"}); err == nil {
		t.Error("bad schedule accepted")
	}
}
