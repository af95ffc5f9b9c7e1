package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Default MySQL/MariaDB statements. A bare {{name}} becomes a quoted account
// name ('name'), so {{name}}@'%' is a full account.
var (
	myCreate = []string{`CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}`}
	myRevoke = []string{`DROP USER IF EXISTS {{name}}@'%'`}
	myRotate = []string{`ALTER USER {{name}}@'%' IDENTIFIED BY {{password}}`}
)

type mysqlDriver struct {
	db      *sql.DB
	conf    *mysql.Config
	mariadb bool
	limit   int
}

func parseMySQL(c connConfig) (*mysql.Config, error) {
	mc, err := mysql.ParseDSN(withMarkers(c.URL.Reveal()))
	if err != nil {
		return nil, errors.New("connection_url: invalid MySQL DSN")
	}
	if mc.User == userMarker || c.Username != "" {
		mc.User = c.Username
	}
	if mc.Passwd == passMarker || !c.Password.Empty() {
		mc.Passwd = c.Password.Reveal()
	}
	return mc, nil
}

func openMySQL(ctx context.Context, c connConfig) (driver, error) {
	mc, err := parseMySQL(c)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, errors.New("connection_url: invalid MySQL DSN")
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(c.MaxOpenConns)
	db.SetMaxIdleConns(c.MaxOpenConns)
	d := &mysqlDriver{db: db, conf: mc, limit: 32}
	if c.Plugin == pluginMariaDB {
		d.mariadb, d.limit = true, 80
	}
	if c.Plugin == "mysql-legacy-database-plugin" {
		d.limit = 16
	}
	vctx, cancel := timeoutCtx(ctx)
	defer cancel()
	var version string
	if err := db.QueryRowContext(vctx, `SELECT VERSION()`).Scan(&version); err == nil && strings.Contains(strings.ToLower(version), "mariadb") {
		d.mariadb, d.limit = true, 80
	}
	return d, nil
}

func isMySQL(q quoter) bool {
	_, ok := q.(*mysqlDriver)
	return ok
}

func (m *mysqlDriver) Close() error       { return m.db.Close() }
func (m *mysqlDriver) UsernameLimit() int { return m.limit }

var mysqlEscaper = strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`)

// Ident quotes an account name as MySQL expects in CREATE/DROP USER: a
// string literal.
func (m *mysqlDriver) Ident(v string) string   { return m.Literal(v) }
func (m *mysqlDriver) Literal(v string) string { return `'` + mysqlEscaper.Replace(v) + `'` }

func (m *mysqlDriver) EscapeIn(q byte, v string) (string, error) {
	switch q {
	case '\'':
		return mysqlEscaper.Replace(v), nil
	case '"':
		return strings.NewReplacer(`\`, `\\`, `"`, `""`, "\x00", `\0`).Replace(v), nil
	case '`':
		if strings.ContainsRune(v, 0) {
			return "", errors.New("value holds a NUL character")
		}
		return strings.ReplaceAll(v, "`", "``"), nil
	}
	return "", fmt.Errorf("placeholder inside %c-quotes is not supported for MySQL", q)
}

// exec runs stmts on one connection (DDL commits implicitly in MySQL, so
// there is no transaction to hold).
func (m *mysqlDriver) exec(ctx context.Context, stmts []string) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", scrub(err))
	}
	defer conn.Close()
	return runStatements(ctx, func(ctx context.Context, s string) error {
		_, err := conn.ExecContext(ctx, s)
		return err
	}, stmts)
}

func (m *mysqlDriver) run(ctx context.Context, stmts, defaults []string, v vars) error {
	if len(stmts) == 0 {
		stmts = defaults
	}
	rendered, err := renderAll(m, stmts, v)
	if err != nil {
		return err
	}
	return m.exec(ctx, rendered)
}

func (m *mysqlDriver) Create(ctx context.Context, stmts []string, v vars) error {
	return m.run(ctx, stmts, myCreate, v)
}

// Renew is a no-op by default: MySQL accounts carry no expiry; the lease
// manager drops them.
func (m *mysqlDriver) Renew(ctx context.Context, stmts []string, v vars) error {
	if len(stmts) == 0 {
		return nil
	}
	return m.run(ctx, stmts, nil, v)
}

func (m *mysqlDriver) Rollback(ctx context.Context, stmts []string, v vars) error {
	return m.run(ctx, stmts, myRevoke, v)
}

func (m *mysqlDriver) SetPassword(ctx context.Context, stmts []string, v vars) error {
	return m.run(ctx, stmts, myRotate, v)
}

// Revoke drops the account and ends its sessions, which DROP USER alone
// leaves running.
func (m *mysqlDriver) Revoke(ctx context.Context, stmts []string, v vars) error {
	qctx, cancel := timeoutCtx(ctx)
	defer cancel()
	var n int
	if err := m.db.QueryRowContext(qctx, `SELECT count(*) FROM mysql.user WHERE User = ?`, v.Name).Scan(&n); err != nil {
		return fmt.Errorf("look up account: %w", scrub(err))
	}
	if n == 0 {
		return nil
	}
	if err := m.run(ctx, stmts, myRevoke, v); err != nil {
		return err
	}
	rows, err := m.db.QueryContext(qctx, `SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?`, v.Name)
	if err != nil {
		return fmt.Errorf("list sessions: %w", scrub(err))
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		// A session may end by itself meanwhile: errors are not failures.
		m.db.ExecContext(qctx, fmt.Sprintf("KILL %d", id))
	}
	return nil
}

// rootRotation is the default statement changing the password of the
// account the engine is connected as: ALTER USER with the host part that
// CURRENT_USER() reports (MariaDB ignores ALTER USER CURRENT_USER()
// ... IDENTIFIED BY).
func (m *mysqlDriver) rootRotation(ctx context.Context) ([]string, error) {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	var cur string
	if err := m.db.QueryRowContext(ctx, `SELECT CURRENT_USER()`).Scan(&cur); err != nil {
		return nil, fmt.Errorf("current user: %w", scrub(err))
	}
	i := strings.LastIndexByte(cur, '@')
	if i < 0 {
		return nil, errors.New("current user: no host part")
	}
	return []string{`ALTER USER {{name}}@` + m.Literal(cur[i+1:]) + ` IDENTIFIED BY {{password}}`}, nil
}

func (m *mysqlDriver) Verify(ctx context.Context, user, password string) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	c := m.conf.Clone()
	c.User, c.Passwd, c.DBName = user, password, ""
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	return scrub(db.PingContext(ctx))
}
