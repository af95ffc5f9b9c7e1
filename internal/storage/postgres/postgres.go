// Package postgres is a storage.Backend in one PostgreSQL table, for teams
// that already run a (highly available) PostgreSQL. Like every backend it is
// untrusted: the table only ever holds ciphertext, and the package never
// logs or inspects values (logs and errors name keys, the table and the
// server, never a value or the connection URL's password).
//
// # Layout
//
// The table has two columns, key bytea PRIMARY KEY and value bytea NOT
// NULL. Keys are bytea, not text, so that a key may hold any byte (text
// cannot hold NUL) and so that the index orders keys bytewise whatever the
// database's collation: List walks that order the way bolt walks its
// B+tree, one index probe per name listed, skipping every key below a
// directory with a single seek (a recursive query; see listSQL).
//
// # Guarantees
//
// Each Put, Delete and Batch is one SQL statement in its own transaction,
// so a batch is applied all or none, and every read is one statement, so a
// reader sees a batch whole or not at all. A write is acknowledged once
// PostgreSQL has committed it: it is as durable as the server's fsync and
// synchronous_commit settings make it (Open logs a warning when either is
// off). A connection lost under an operation (a restarted or failed-over
// server, pg_terminate_backend) is retried on a fresh connection; every
// operation is idempotent, so a retry after an unacknowledged commit
// changes nothing.
//
// Lock is a session advisory lock for running two servers on one database
// as active and standby. The store needs PostgreSQL 9.5 or later (ON
// CONFLICT); Lock needs 14 or later (it turns idle_session_timeout off on
// its connection). Tests run against PostgreSQL 15.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage"
)

var _ storage.Backend = (*Store)(nil)

// DefaultTable is the table Open uses when Options.Table is empty.
const DefaultTable = "keyward_store"

// DefaultConnectTimeout bounds each connection attempt when the URL sets
// no connect_timeout, so that an unreachable host fails requests in
// seconds rather than after the operating system's TCP timeout.
const DefaultConnectTimeout = 10 * time.Second

// openTimeout bounds Open when its context has no deadline of its own.
const openTimeout = 30 * time.Second

var (
	// ErrClosed is wrapped by operations on a closed Store.
	ErrClosed = errors.New("storage closed")
	// ErrNotKeywardTable is wrapped by Open when the table exists with
	// columns other than Keyward's (another application's table, or
	// Vault's vault_kv_store).
	ErrNotKeywardTable = errors.New("table is not a Keyward store")
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Table names the table holding every key: a lower-case PostgreSQL
	// identifier, optionally schema-qualified ("keyward.store"). It is
	// created if missing. Empty means DefaultTable.
	Table string
	// Logger receives open and connection events; nil discards them.
	Logger *slog.Logger
}

// Store is a storage.Backend over a pgx connection pool. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	conn   *pgx.ConnConfig // what locks connect with
	table  string          // as configured, for messages and lock names
	target string          // host, port, database and user, for messages
	pw     string          // the password, scrubbed from every error
	logger *slog.Logger

	// lastLoss is when (UnixNano) an operation last found its connection
	// dead; connections idle since before then are pinged before reuse.
	lastLoss atomic.Int64
	closed   atomic.Bool

	getSQL, putSQL, deleteSQL, batchSQL, listSQL string
}

// identRE is what CheckTable accepts for the table and its schema: an
// identifier PostgreSQL would not fold or need quoted to read back.
var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckTable reports whether name can be a Store's table: one or two
// dot-separated lower-case identifiers (letters, digits and underscores,
// not starting with a digit, at most 63 bytes each).
func CheckTable(name string) error {
	if name == "" {
		return errors.New("table name is empty")
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 || !identRE.MatchString(parts[0]) || !identRE.MatchString(parts[len(parts)-1]) {
		return fmt.Errorf("table %q must be a lower-case identifier (letters, digits, underscores; at most 63 bytes), optionally schema-qualified as schema.table", shorten(name))
	}
	return nil
}

// errBadURL is the only thing said of a connection string that does not
// parse: pgx's own message quotes it, with the password redacted only on a
// best-effort basis.
var errBadURL = errors.New("connection_url is not a PostgreSQL connection string (postgres://user:password@host:5432/database?sslmode=verify-full, or key=value pairs)")

// CheckConnectionURL reports whether url has the shape of a PostgreSQL
// connection string: a postgres:// or postgresql:// URL, or key=value
// pairs. It reads no file and connects to nothing (Open parses the string
// fully, reading the files it names), and its error never repeats the
// string, which may hold a password.
func CheckConnectionURL(url sensitive.String) error {
	s := url.Reveal()
	switch {
	case s == "":
		return errors.New("connection_url is empty")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := neturl.Parse(s); err != nil {
			return errBadURL
		}
	case !strings.Contains(s, "="):
		return errBadURL
	}
	return nil
}

func parseURL(url sensitive.String) (*pgxpool.Config, error) {
	if err := CheckConnectionURL(url); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url.Reveal())
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr): // a certificate or password file; its name is no secret
		return nil, fmt.Errorf("connection_url names a file that cannot be read: %w", pathErr)
	case err != nil:
		return nil, errBadURL
	}
	return cfg, nil
}

// Open connects to the database at url, creates the table if it is
// missing and checks that it is Keyward's. If ctx has no deadline Open
// gives up after 30 seconds. A table with other columns fails with an
// error wrapping ErrNotKeywardTable.
func Open(ctx context.Context, url sensitive.String, opts Options) (*Store, error) {
	table := opts.Table
	if table == "" {
		table = DefaultTable
	}
	if err := CheckTable(table); err != nil {
		return nil, fmt.Errorf("open postgresql storage: %w", err)
	}
	cfg, err := parseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open postgresql storage: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keyward"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cc := cfg.ConnConfig
	s := &Store{
		conn:   cc.Copy(),
		table:  table,
		target: fmt.Sprintf("%s:%d/%s as %s", cc.Host, cc.Port, cc.Database, cc.User),
		pw:     cc.Password,
	}
	s.logger = logger.With("component", "storage", "backend", "postgresql", "server", s.target, "table", table)
	cfg.ShouldPing = s.shouldPing
	s.prepareSQL(pgx.Identifier(strings.Split(table, ".")).Sanitize())

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgresql storage %s: %w", s.target, s.scrub(err))
	}
	if err := s.setup(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open postgresql storage %s: %w", s.target, s.scrub(err))
	}
	s.logger.Info("storage opened")
	return s, nil
}

// setup creates the table if it is missing, checks its columns and warns
// about settings that make commits less durable than they look.
func (s *Store) setup(ctx context.Context) error {
	if err := s.do(ctx, s.pool.Ping); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	quoted := pgx.Identifier(strings.Split(s.table, ".")).Sanitize()
	err := s.do(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+quoted+" (key bytea PRIMARY KEY, value bytea NOT NULL)")
		if isCode(err, "42P07", "23505") {
			return nil // another server created it at the same moment
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", s.table, err)
	}

	var cols []string
	var hasPK bool
	err = s.do(ctx, func(ctx context.Context) error {
		cols, hasPK = nil, false
		rows, err := s.pool.Query(ctx, `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
			EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND i.indkey[0] = a.attnum AND i.indnatts = 1)
			FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, quoted)
		if err != nil {
			return err
		}
		for rows.Next() {
			var col string
			var pk bool
			if err := rows.Scan(&col, &pk); err != nil {
				rows.Close()
				return err
			}
			cols = append(cols, col)
			hasPK = hasPK || pk
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("inspect table %s: %w", s.table, err)
	}
	if !slices.Equal(cols, []string{"key bytea", "value bytea"}) || !hasPK {
		return fmt.Errorf("table %s has columns (%s), want (key bytea primary key, value bytea): %w",
			s.table, strings.Join(cols, ", "), ErrNotKeywardTable)
	}

	var fsync, syncCommit string
	err = s.do(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit)
	})
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if fsync == "off" || syncCommit == "off" {
		s.logger.Warn("server acknowledges commits before they are on disk: a crash can lose acknowledged writes",
			"fsync", fsync, "synchronous_commit", syncCommit)
	}
	return nil
}

// prepareSQL builds the statements for the quoted table name t.
func (s *Store) prepareSQL(t string) {
	s.getSQL = "SELECT value FROM " + t + " WHERE key = $1"
	s.putSQL = "INSERT INTO " + t + " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
	s.deleteSQL = "DELETE FROM " + t + " WHERE key = $1"
	// One statement, so one transaction: the deletes and the puts name
	// distinct keys (Batch keeps each key's last op), so neither part
	// sees the other's rows.
	s.batchSQL = "WITH del AS (DELETE FROM " + t + " WHERE key = ANY($1::bytea[])) " +
		"INSERT INTO " + t + " (key, value) SELECT * FROM unnest($2::bytea[], $3::bytea[]) " +
		"ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
	// listSQL walks the keys under prefix $1 (of length $2) in index
	// order. From each key it seeks past what it stands for: the key
	// itself (next: key || 0x00), or, when it lies below a directory, the
	// whole directory (next: prefix || dir || '0', '0' being the byte after
	// '/'). So it returns one key per listed name, in order, and ends at
	// the first key outside prefix.
	s.listSQL = `WITH RECURSIVE walk(k) AS (
	(SELECT key FROM ` + t + ` WHERE key > $1 ORDER BY key LIMIT 1)
	UNION ALL
	SELECT (SELECT key FROM ` + t + ` WHERE key >= CASE
			WHEN position(decode('2f', 'hex') IN substring(w.k FROM $2 + 1)) = 0 THEN w.k || decode('00', 'hex')
			ELSE substring(w.k FOR $2 + position(decode('2f', 'hex') IN substring(w.k FROM $2 + 1)) - 1) || decode('30', 'hex')
		END ORDER BY key LIMIT 1)
	FROM walk w WHERE substring(w.k FOR $2) = $1
)
SELECT k FROM walk WHERE k IS NOT NULL AND substring(k FOR $2) = $1`
}

// Close closes the pool, waiting for operations in flight. It is safe to
// call more than once.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
		s.logger.Info("storage closed")
	}
	return nil
}

// Get returns the value at key, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	var v []byte
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, s.getSQL, []byte(key)).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", storage.LogKey(key), err)
	}
	if v == nil {
		v = []byte{} // an empty value, not an absent key
	}
	return v, nil
}

// Put stores value at key, committed once it returns nil. If ctx ends
// while the statement runs, Put returns an error and the write may still
// land.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if err := storage.CheckWriteKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.putSQL, []byte(key), nonNil(value))
		return err
	})
	if err != nil {
		return fmt.Errorf("put %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Delete removes key; an absent key is not an error. Context handling is
// as for Put.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckWriteKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.deleteSQL, []byte(key))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Batch applies ops as one statement, so in one transaction: all or
// none, and the last op on a key wins, as if applied in order. An empty or
// too long key fails the batch before anything is sent. Context handling
// is as for Put.
func (s *Store) Batch(ctx context.Context, ops []storage.Op) error {
	last := make(map[string]storage.Op, len(ops))
	for i, op := range ops {
		if err := storage.CheckWriteKey(op.Key); err != nil {
			return fmt.Errorf("batch op %d: %w", i, err)
		}
		last[op.Key] = op
	}
	if len(ops) == 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		return nil
	}
	// Sorted, so that concurrent batches lock rows in the same order.
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dels, putKeys, putValues := [][]byte{}, [][]byte{}, [][]byte{}
	for _, k := range keys {
		if op := last[k]; op.Delete {
			dels = append(dels, []byte(k))
		} else {
			putKeys, putValues = append(putKeys, []byte(k)), append(putValues, nonNil(op.Value))
		}
	}
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.batchSQL, dels, putKeys, putValues)
		return err
	})
	if err != nil {
		return fmt.Errorf("batch of %d ops: %w", len(ops), err)
	}
	return nil
}

// List returns the sorted names directly under prefix; names with keys
// beneath them end in "/". It reads one snapshot, so it sees a batch whole
// or not at all.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := storage.CheckKey(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var names []string
	err := s.run(ctx, func(ctx context.Context) error {
		names = nil
		rows, err := s.pool.Query(ctx, s.listSQL, []byte(prefix), len(prefix))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				return err
			}
			rest := string(k[len(prefix):])
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[:i+1]
			}
			names = append(names, rest)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), err)
	}
	return names, nil
}

// run runs op with retries on a lost connection (see do), after checking
// that the store is open and ctx alive, and scrubs the error.
func (s *Store) run(ctx context.Context, op func(context.Context) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.do(ctx, op)
	if err != nil && s.closed.Load() {
		return ErrClosed
	}
	return s.scrub(err)
}

// nonNil returns b, or an empty slice for nil: pgx sends nil as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// shorten bounds a name shown in an error.
func shorten(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
