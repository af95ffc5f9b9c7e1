package database_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/engine/database"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/testsvc"
)

// harness is one database engine with a lease manager in front of it, as
// the core wires them, with an injected clock for the leases.
type harness struct {
	t      testing.TB
	b      logical.Backend
	store  *logicaltest.InmemStorage
	leases *lease.Manager
	clk    *clocktest.Clock
	token  *logical.TokenInfo
	// prefix starts every user name this test creates.
	prefix string
	// metrics is the engine's registry, this test's alone.
	metrics *monitor.Registry
}

// engines routes the lease manager to the one engine, like the core does.
type engines struct{ b logical.Backend }

func (e engines) Revoke(ctx context.Context, _ string, s *logical.Secret) error {
	return e.b.(logical.Revoker).Revoke(ctx, &logical.Request{}, s)
}

func (e engines) Renew(ctx context.Context, _ string, s *logical.Secret, inc time.Duration) (*logical.Secret, error) {
	return e.b.(logical.Renewer).Renew(ctx, &logical.Request{}, s)
}

func newHarness(t testing.TB, lopts lease.Options) *harness {
	t.Helper()
	h := &harness{t: t, store: &logicaltest.InmemStorage{}, clk: clocktest.New(time.Now()),
		token:  &logical.TokenInfo{Accessor: "acc-test", DisplayName: "test"},
		prefix: "kwt" + strings.ToLower(rand.Text()[:6]), metrics: monitor.NewRegistry()}
	b, err := database.NewFactory(database.Options{RetryBase: 50 * time.Millisecond, Metrics: h.metrics})(t.Context(),
		&logical.BackendConfig{MountPoint: "database/", Storage: h.store})
	if err != nil {
		t.Fatal(err)
	}
	h.b = b
	t.Cleanup(func() { b.(logical.Cleaner).Cleanup(context.Background()) })
	if lopts.Now == nil {
		lopts.Now = h.clk.Now
	}
	h.leases, err = lease.New(t.Context(), &logicaltest.InmemStorage{}, engines{b}, nil, lopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.leases.Close() })
	return h
}

// reopen builds a new engine and lease manager over the same engine
// storage, as a restarted server would.
func (h *harness) reopen(t testing.TB) *harness {
	t.Helper()
	h2 := newHarness(t, lease.Options{})
	b, err := database.NewFactory(database.Options{RetryBase: 50 * time.Millisecond, Metrics: h2.metrics})(t.Context(),
		&logical.BackendConfig{MountPoint: "database/", Storage: h.store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.(logical.Cleaner).Cleanup(context.Background()) })
	h2.b, h2.store, h2.prefix = b, h.store, h.prefix
	h2.leases.Close()
	h2.leases, err = lease.New(t.Context(), &logicaltest.InmemStorage{}, engines{b}, nil, lease.Options{Now: h2.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h2.leases.Close() })
	return h2
}

func setPendingRoot(h *harness, name, pw string) error {
	return database.SetPendingRoot(h.store, name, pw)
}

func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: h.store, MountPoint: "database/",
		Token: h.token, MountConfig: logical.MountConfig{DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 24 * time.Hour}}
	resp, err := h.b.HandleRequest(h.t.Context(), req)
	if err == nil && resp != nil && resp.Secret != nil {
		err = h.leases.Register(h.t.Context(), req, resp.Secret)
	}
	return resp, err
}

func (h *harness) write(path string, data map[string]any) *logical.Response {
	h.t.Helper()
	resp, err := h.do(logical.UpdateOperation, path, data)
	if err != nil {
		h.t.Fatalf("write %s: %v", path, err)
	}
	return resp
}

// cred is one issued credential.
type cred struct {
	user, pass, leaseID string
}

func (h *harness) creds(role string) cred {
	h.t.Helper()
	resp, err := h.do(logical.ReadOperation, "creds/"+role, nil)
	if err != nil {
		h.t.Fatalf("read creds/%s: %v", role, err)
	}
	return cred{resp.Data["username"].(string), resp.Data["password"].(string), resp.Secret.LeaseID}
}

// template makes user names start with the test's prefix.
func (h *harness) template() string {
	return h.prefix + `-{{.RoleName | truncate 20}}-{{random 10}}`
}

// expireAll moves the lease clock past every TTL and waits for the lease
// manager to finish revoking.
func (h *harness) expireAll(d time.Duration) {
	h.t.Helper()
	h.clk.Add(d)
	h.leases.Poke()
	clocktest.Eventually(h.t, "leases revoked", func() bool { total, _, _ := h.leases.Counts(); return total == 0 })
}

// --- PostgreSQL ---

func pgExists(t testing.TB, admin *pgx.Conn, user string) bool {
	t.Helper()
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_roles WHERE rolname = $1`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// pgPasswordIs checks password against the role's SCRAM verifier: the
// server trusts 127.0.0.1, so a login proves nothing about the password.
func pgPasswordIs(t testing.TB, admin *pgx.Conn, user, password string) bool {
	t.Helper()
	var verifier *string
	if err := admin.QueryRow(t.Context(), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, user).Scan(&verifier); err != nil || verifier == nil {
		return false
	}
	// SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
	head, keys, ok := strings.Cut(strings.TrimPrefix(*verifier, "SCRAM-SHA-256$"), "$")
	if !ok {
		t.Fatalf("unexpected verifier format for %s", user)
	}
	iterS, saltS, _ := strings.Cut(head, ":")
	storedS, _, _ := strings.Cut(keys, ":")
	iter, _ := strconv.Atoi(iterS)
	salt, _ := base64.StdEncoding.DecodeString(saltS)
	stored, _ := base64.StdEncoding.DecodeString(storedS)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	sum := sha256.Sum256(mac.Sum(nil))
	return hmac.Equal(sum[:], stored)
}

func pgLogin(ctx context.Context, user, password string) error {
	cfg, err := pgx.ParseConfig("postgres://" + testsvc.PostgresAddr + "/test?sslmode=disable&connect_timeout=3")
	if err != nil {
		return err
	}
	cfg.User, cfg.Password = user, password
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func (h *harness) configurePostgres(url string, roles ...string) {
	h.t.Helper()
	h.write("config/pg", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": url,
		"username": "postgres", "password": "unused-under-trust", "allowed_roles": strings.Join(append(roles, "x"), ","),
		"username_template": h.template()})
}

// --- MariaDB ---

func myCleanup(t testing.TB, db *sql.DB, prefix string) {
	t.Cleanup(func() {
		rows, err := db.Query(`SELECT User, Host FROM mysql.user WHERE User LIKE CONCAT(?, '%')`, prefix)
		if err != nil {
			return
		}
		var accts [][2]string
		for rows.Next() {
			var u, host string
			rows.Scan(&u, &host)
			accts = append(accts, [2]string{u, host})
		}
		rows.Close()
		for _, a := range accts {
			db.Exec("DROP USER IF EXISTS " + myQuote(a[0]) + "@" + myQuote(a[1]))
		}
	})
}

func myQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

func myCount(t testing.TB, db *sql.DB, prefix string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM mysql.user WHERE User LIKE CONCAT(?, '%')`, prefix).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func myLogin(ctx context.Context, user, password string) error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", testsvc.MariaDBAddr
	cfg.Timeout = 3 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	return db.PingContext(ctx)
}

// --- Redis ---

func redisUsers(t testing.TB, c *redis.Client, prefix string) []string {
	t.Helper()
	users, err := c.Do(context.Background(), "ACL", "USERS").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		if strings.HasPrefix(u, prefix) {
			out = append(out, u)
		}
	}
	return out
}

func redisLogin(ctx context.Context, user, password string) error {
	c := redis.NewClient(&redis.Options{Addr: testsvc.RedisAddr, Username: user, Password: password, MaxRetries: -1})
	defer c.Close()
	// Authentication happens at connect; NOPERM on PING means it succeeded.
	if err := c.Ping(ctx).Err(); err != nil && !strings.HasPrefix(err.Error(), "NOPERM") {
		return err
	}
	return nil
}

// --- a TCP proxy the tests can cut, to take a database away safely ---

type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 3*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut refuses new connections and kills the open ones, as a crashed
// database would.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
