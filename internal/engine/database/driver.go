package database

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/internal/sensitive"
)

// Plugin names, as Vault spells them.
const (
	pluginPostgres = "postgresql-database-plugin"
	pluginMySQL    = "mysql-database-plugin"
	pluginMariaDB  = "mariadb-database-plugin"
	pluginRedis    = "redis-database-plugin"
)

// driver manages users in one database over an admin connection.
type driver interface {
	quoter
	// Create runs creation statements for a new user (defaults when
	// stmts is empty), atomically where the database allows.
	Create(ctx context.Context, stmts []string, v vars) error
	// Renew runs renew statements (defaults when empty).
	Renew(ctx context.Context, stmts []string, v vars) error
	// Revoke removes a user; a user that no longer exists is revoked.
	Revoke(ctx context.Context, stmts []string, v vars) error
	// Rollback undoes a partial Create.
	Rollback(ctx context.Context, stmts []string, v vars) error
	// SetPassword changes a user's password (static rotation, root).
	SetPassword(ctx context.Context, stmts []string, v vars) error
	// Verify connects as user with password and closes the connection.
	Verify(ctx context.Context, user, password string) error
	// UsernameLimit is the longest user name in bytes (0: none).
	UsernameLimit() int
	Close() error
}

// connConfig is what a driver needs to connect as the admin.
// URL (which may hold a password) and Password are revealed only where a
// driver parses them into its client's configuration.
type connConfig struct {
	Plugin       string
	URL          sensitive.String
	Username     string
	Password     sensitive.String
	MaxOpenConns int
}

// markers stand in for the credentials while the connection URL is parsed,
// so credentials never pass through URL or DSN escaping.
const (
	userMarker = "kwuserplaceholder"
	passMarker = "kwpassplaceholder"
)

func withMarkers(u string) string {
	u = strings.ReplaceAll(u, "{{username}}", userMarker)
	return strings.ReplaceAll(u, "{{password}}", passMarker)
}

// openDriver connects to the database described by c.
func openDriver(ctx context.Context, c connConfig) (driver, error) {
	if c.MaxOpenConns <= 0 {
		c.MaxOpenConns = 4
	}
	switch c.Plugin {
	case pluginPostgres:
		return openPostgres(ctx, c)
	case pluginMySQL, pluginMariaDB, "mysql-aurora-database-plugin", "mysql-rds-database-plugin", "mysql-legacy-database-plugin":
		return openMySQL(ctx, c)
	case pluginRedis:
		return openRedis(ctx, c)
	}
	return nil, fmt.Errorf("unsupported plugin_name %q", c.Plugin)
}

// runStatements executes stmts, stopping at the first failure. The error
// names the statement's position, never its text (which may hold a
// password).
func runStatements(ctx context.Context, exec func(context.Context, string) error, stmts []string) error {
	for i, s := range stmts {
		if err := exec(ctx, s); err != nil {
			return fmt.Errorf("statement %d of %d: %w", i+1, len(stmts), scrub(err))
		}
	}
	return nil
}

// scrub keeps a database error's class but drops text that could echo a
// statement (and so a password).
func scrub(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return &dbError{msg: errorClass(err)}
}

type dbError struct{ msg string }

func (e *dbError) Error() string { return e.msg }

func timeoutCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 15*time.Second)
}

// errorClass describes err without the text a server may echo back from
// the statement.
func errorClass(err error) string {
	var pg *pgconn.PgError
	var my *mysql.MySQLError
	var rd redis.Error
	switch {
	case errors.As(err, &pg):
		return fmt.Sprintf("postgres error SQLSTATE %s (%s)", pg.Code, pg.Severity)
	case errors.As(err, &my):
		return fmt.Sprintf("mysql error %d", my.Number)
	case errors.As(err, &rd):
		first, _, _ := strings.Cut(rd.Error(), " ")
		return "redis error " + first
	}
	return err.Error()
}
