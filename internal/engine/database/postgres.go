package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Default PostgreSQL statements. Bare placeholders are quoted by the driver:
// {{name}} as an identifier, {{password}} and {{expiration}} as literals.
var (
	pgCreate = []string{`CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}`}
	pgRenew  = []string{`ALTER ROLE {{name}} VALID UNTIL {{expiration}}`}
	// pgRevoke ends the user's sessions, hands its objects to the admin so
	// no data is lost, drops its remaining privileges, then the role.
	pgRevoke = []string{
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}' AND pid <> pg_backend_pid()`,
		`REASSIGN OWNED BY {{name}} TO CURRENT_USER`,
		`DROP OWNED BY {{name}}`,
		`DROP ROLE IF EXISTS {{name}}`,
	}
	pgRotate = []string{`ALTER ROLE {{name}} WITH PASSWORD {{password}}`}
)

type postgres struct {
	db   *sql.DB
	conf *pgx.ConnConfig // admin config; copied for Verify
}

func parsePostgres(c connConfig) (*pgx.ConnConfig, error) {
	pc, err := pgx.ParseConfig(withMarkers(c.URL.Reveal()))
	if err != nil {
		return nil, errors.New("connection_url: invalid PostgreSQL URL")
	}
	if pc.User == userMarker || c.Username != "" {
		pc.User = c.Username
	}
	if pc.Password == passMarker || !c.Password.Empty() {
		pc.Password = c.Password.Reveal()
	}
	// Quoting relies on it: backslashes are never escapes in '...'.
	pc.RuntimeParams["standard_conforming_strings"] = "on"
	return pc, nil
}

func openPostgres(ctx context.Context, c connConfig) (driver, error) {
	pc, err := parsePostgres(c)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*pc)
	db.SetMaxOpenConns(c.MaxOpenConns)
	db.SetMaxIdleConns(c.MaxOpenConns)
	return &postgres{db: db, conf: pc}, nil
}

func (p *postgres) Close() error       { return p.db.Close() }
func (p *postgres) UsernameLimit() int { return 63 }

func (p *postgres) Ident(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }

// Literal quotes v as a standard-conforming string literal (backslashes are
// ordinary characters with standard_conforming_strings, the default since 9.1;
// an E” literal is used if v holds one, so the setting never matters).
func (p *postgres) Literal(v string) string {
	s := strings.ReplaceAll(v, `'`, `''`)
	if strings.Contains(v, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return `'` + s + `'`
}

func (p *postgres) EscapeIn(q byte, v string) (string, error) {
	switch q {
	case '"':
		return strings.ReplaceAll(v, `"`, `""`), nil
	case '\'':
		// Every session runs with standard_conforming_strings on (set in
		// parsePostgres), so a backslash inside '...' is an ordinary character.
		return strings.ReplaceAll(v, `'`, `''`), nil
	}
	return "", fmt.Errorf("placeholder inside %c-quotes is not supported for PostgreSQL", q)
}

func (p *postgres) exec(ctx context.Context, stmts []string) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", scrub(err))
	}
	defer tx.Rollback()
	err = runStatements(ctx, func(ctx context.Context, s string) error {
		_, err := tx.ExecContext(ctx, s)
		return err
	}, stmts)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", scrub(err))
	}
	return nil
}

func (p *postgres) run(ctx context.Context, stmts, defaults []string, v vars) error {
	if len(stmts) == 0 {
		stmts = defaults
	}
	rendered, err := renderAll(p, stmts, v)
	if err != nil {
		return err
	}
	return p.exec(ctx, rendered)
}

func (p *postgres) Create(ctx context.Context, stmts []string, v vars) error {
	return p.run(ctx, stmts, pgCreate, v)
}

func (p *postgres) Renew(ctx context.Context, stmts []string, v vars) error {
	return p.run(ctx, stmts, pgRenew, v)
}

func (p *postgres) Rollback(ctx context.Context, stmts []string, v vars) error {
	if len(stmts) == 0 {
		return nil // creation ran in one transaction: nothing was left
	}
	return p.run(ctx, stmts, nil, v)
}

func (p *postgres) SetPassword(ctx context.Context, stmts []string, v vars) error {
	return p.run(ctx, stmts, pgRotate, v)
}

func (p *postgres) exists(ctx context.Context, name string) (bool, error) {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	var n int
	err := p.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up role: %w", scrub(err))
	}
	return n > 0, nil
}

func (p *postgres) Revoke(ctx context.Context, stmts []string, v vars) error {
	ok, err := p.exists(ctx, v.Name)
	if err != nil {
		return err
	}
	if !ok {
		return nil // dropped already (by an earlier attempt or by hand)
	}
	return p.run(ctx, stmts, pgRevoke, v)
}

func (p *postgres) Verify(ctx context.Context, user, password string) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	c := p.conf.Copy()
	c.User, c.Password = user, password
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		return fmt.Errorf("connect as user: %w", scrub(err))
	}
	defer conn.Close(context.Background())
	return scrub(conn.Ping(ctx))
}
