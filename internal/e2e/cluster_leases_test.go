package e2e_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/testsvc"
)

// TestClusterLeasesRevokedOnceAfterFailover (issue 14): database leases
// created on the active node are revoked by the node that takes over,
// exactly once each, whether the old active node was killed (kill -9) or
// frozen past the leases' expiry and then resumed. Every revocation
// statement records itself in a table, so a second revocation of a user,
// by either node, would show as a second row.
func TestClusterLeasesRevokedOnceAfterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster processes")
	}
	pg := testsvc.Postgres(t)
	ctx := context.Background()
	for _, mode := range []string{"kill", "stop"} {
		t.Run(mode, func(t *testing.T) {
			prefix := "kwha" + strings.ToLower(rand.Text()[:6])
			testsvc.DropPostgresRoles(t, pg, prefix)
			table := prefix + "_revoked"
			if _, err := pg.Exec(ctx, "CREATE TABLE "+table+" (name text NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pg.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
			c := startCluster(t, 3, nil, nil)
			a := c.active()
			role := "r" + prefix
			mustCall(t, a.api, c.token, "POST", "sys/mounts/database", map[string]any{"type": "database"})
			mustCall(t, a.api, c.token, "POST", "database/config/pg", map[string]any{
				"plugin_name":       "postgresql-database-plugin",
				"connection_url":    testsvc.PostgresURL,
				"username":          "postgres",
				"password":          "unused-trust-auth",
				"allowed_roles":     []string{role},
				"username_template": prefix + `-{{random 10}}`,
			})
			mustCall(t, a.api, c.token, "POST", "database/roles/"+role, map[string]any{
				"db_name": "pg", "default_ttl": "8s", "max_ttl": "8s",
				"creation_statements":   []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
				"revocation_statements": []string{fmt.Sprintf(`INSERT INTO %s (name) VALUES ('{{name}}');`, table), `DROP ROLE "{{name}}";`},
			})
			const leases = 10
			for range leases {
				mustCall(t, a.api, c.token, "GET", "database/creds/"+role, nil)
			}
			if got := testsvc.PostgresRoles(t, pg, prefix); got != leases {
				t.Fatalf("%d database users, want %d", got, leases)
			}
			if mode == "kill" {
				a.kill()
			} else {
				a.signal(syscall.SIGSTOP)
			}
			clocktest.Eventually(t, "the new active node to revoke every lease", func() bool {
				return testsvc.PostgresRoles(t, pg, prefix) == 0
			})
			if mode == "stop" {
				// The old node resumes with its lease timers long due: it
				// must not revoke again.
				a.signal(syscall.SIGCONT)
				clocktest.Eventually(t, "the old node to stand by", func() bool {
					status, out, err := call(a.api, "", "GET", "sys/leader", nil)
					return err == nil && status == 200 && out["is_self"] == false
				})
				// Give its timers every chance: a lease write on the
				// cluster goes through after them.
				b := c.active()
				mustCall(t, b.api, c.token, "GET", "database/creds/"+role, nil)
				clocktest.Eventually(t, "the lease made after the resume to expire", func() bool {
					return testsvc.PostgresRoles(t, pg, prefix) == 0
				})
			}
			rows, err := pg.Query(ctx, "SELECT name, count(*) FROM "+table+" GROUP BY name")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			users := 0
			for rows.Next() {
				var name string
				var n int
				if err := rows.Scan(&name, &n); err != nil {
					t.Fatal(err)
				}
				users++
				if n != 1 {
					t.Errorf("user %s was revoked %d times", name, n)
				}
			}
			want := leases
			if mode == "stop" {
				want++
			}
			if users != want {
				t.Errorf("%d users revoked, want %d", users, want)
			}
			// The lease entry goes right after its user.
			for _, n := range c.live() {
				clocktest.Eventually(t, "no lease left, seen through "+n.id, func() bool {
					status, out, err := call(n.api, c.token, "LIST", "sys/leases/lookup/database/creds/"+role, nil)
					if err != nil || (status != 200 && status != 404) {
						return false
					}
					data, _ := out["data"].(map[string]any)
					keys, _ := data["keys"].([]any)
					return len(keys) == 0
				})
			}
		})
	}
}
