package testsvc_test

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/testsvc"
)

// With the variable set an unreachable service fails the test; without it,
// the test is skipped. Checked in a child process so the failure is its own.
func TestUnavailable(t *testing.T) {
	if os.Getenv("TESTSVC_CHILD") != "" {
		testsvc.Unavailable(t, "PostgreSQL on 127.0.0.1:5432", errors.New("connection refused"))
		return
	}
	for _, tc := range []struct {
		require string
		fail    bool
		want    string
	}{{"1", true, "--- FAIL"}, {"", false, "--- SKIP"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailable$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTSVC_CHILD=1", testsvc.RequireEnv+"="+tc.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fail || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s=%q: err %v, output:\n%s", testsvc.RequireEnv, tc.require, err, out)
		}
	}
}

// The roles a test makes under its prefix are counted, and gone once the
// test that asked for their cleanup has ended.
func TestPostgresRolesDroppedAtCleanup(t *testing.T) {
	admin := testsvc.Postgres(t)
	prefix := "kwsvc" + strings.ToLower(rand.Text()[:6])
	t.Run("make roles", func(t *testing.T) {
		testsvc.DropPostgresRoles(t, admin, prefix)
		for _, n := range []string{"a", "b"} {
			if _, err := admin.Exec(t.Context(), "CREATE ROLE "+pgx.Identifier{prefix + n}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		if got := testsvc.PostgresRoles(t, admin, prefix); got != 2 {
			t.Fatalf("PostgresRoles = %d after creating 2", got)
		}
	})
	if got := testsvc.PostgresRoles(t, admin, prefix); got != 0 {
		t.Fatalf("PostgresRoles = %d after cleanup, want 0", got)
	}
}

func TestMariaDBAndRedisAnswer(t *testing.T) {
	var one int
	if err := testsvc.MariaDB(t).QueryRowContext(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("MariaDB SELECT 1 = %d, %v", one, err)
	}
	if got, err := testsvc.Redis(t).Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Fatalf("Redis PING = %q, %v", got, err)
	}
}
