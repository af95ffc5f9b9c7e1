// Package testsvc is test support for the integration tests that talk to
// the real PostgreSQL, MariaDB and Redis on 127.0.0.1: where they are, an
// admin connection to each, and cleanup of the database users a test made.
// It is imported only by tests.
//
// A service that cannot be reached skips the test on a developer's machine,
// and fails it when KEYWARD_REQUIRE_SERVICES is set: `make test` (and so
// .ci/run) sets it after starting the services, so CI can never go green by
// skipping the tests it exists to run.
package testsvc

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// RequireEnv is the variable that turns an unreachable service into a
// test failure.
const RequireEnv = "KEYWARD_REQUIRE_SERVICES"

// Where the services listen (Makefile target `services`), and the
// connection URLs a database engine's config takes for them.
const (
	PostgresAddr = "127.0.0.1:5432"
	MariaDBAddr  = "127.0.0.1:3306"
	RedisAddr    = "127.0.0.1:6379"

	// PostgresAdminURL connects as the superuser; the server trusts
	// 127.0.0.1, so no password is needed (or checked).
	PostgresAdminURL = "postgres://postgres@" + PostgresAddr + "/test?sslmode=disable"
	PostgresURL      = "postgres://{{username}}:{{password}}@" + PostgresAddr + "/test?sslmode=disable"
	MariaDBURL       = "{{username}}:{{password}}@tcp(" + MariaDBAddr + ")/test"
	RedisURL         = "redis://" + RedisAddr + "/0"
)

// connectTimeout bounds a connection attempt to a service that is down,
// not a test.
const connectTimeout = 5 * time.Second

// Unavailable ends the test because service could not be reached: a
// failure when RequireEnv is set, a skip otherwise.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s is not reachable and %s is set (make test starts the services): %v", service, RequireEnv, err)
	}
	t.Skipf("%s is not reachable (make test starts it): %v", service, err)
}

// Postgres returns a superuser connection to the test PostgreSQL, closed at
// cleanup, or ends the test as Unavailable does.
func Postgres(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, PostgresAdminURL)
	if err != nil {
		Unavailable(t, "PostgreSQL on "+PostgresAddr, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// DropPostgresRoles drops, at cleanup, every role whose name starts with
// prefix, handing what they own to postgres first.
func DropPostgresRoles(t testing.TB, admin *pgx.Conn, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		rows, err := admin.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, prefix)
		if err != nil {
			return
		}
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range names {
			id := pgx.Identifier{n}.Sanitize()
			admin.Exec(ctx, "REASSIGN OWNED BY "+id+" TO postgres")
			admin.Exec(ctx, "DROP OWNED BY "+id)
			admin.Exec(ctx, "DROP ROLE IF EXISTS "+id)
		}
	})
}

// PostgresRoles counts the roles whose names start with prefix.
func PostgresRoles(t testing.TB, admin *pgx.Conn, prefix string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)`, prefix).Scan(&n); err != nil {
		t.Fatalf("count PostgreSQL roles %s*: %v", prefix, err)
	}
	return n
}

// MariaDB returns a root connection to the test MariaDB's database "test",
// closed at cleanup, or ends the test as Unavailable does.
func MariaDB(t testing.TB) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", MariaDBAddr, "test"
	cfg.Timeout = connectTimeout
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("MariaDB connector: %v", err)
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(t.Context(), connectTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "MariaDB on "+MariaDBAddr, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Redis returns a client of the test Redis as its default user, closed at
// cleanup, or ends the test as Unavailable does. It never retries, so a
// test sees every answer as it is.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(t.Context(), connectTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		Unavailable(t, "Redis on "+RedisAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
