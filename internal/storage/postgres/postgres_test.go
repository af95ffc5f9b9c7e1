package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/postgres"
	"github.com/keyward/keyward/internal/storage/storagetest"
	"github.com/keyward/keyward/internal/testsvc"
)

// The test PostgreSQL (make services starts it), through testsvc.
const (
	pgAddr   = testsvc.PostgresAddr
	adminURL = testsvc.PostgresAdminURL
	pgURL    = adminURL + "&pool_max_conns=4"
)

// admin returns a connection for setting up and inspecting tests, closed
// when the test ends. An unreachable server skips the test, or fails it
// in CI (testsvc).
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	return testsvc.Postgres(t)
}

// tableName returns a table name of the test's own, dropped when it ends.
func tableName(t testing.TB) string {
	t.Helper()
	c := admin(t)
	name := "kwtest_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := c.Exec(context.Background(), "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// open opens a store on url with a table of the test's own and closes it
// when the test ends.
func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), sensitive.NewString(url), postgres.Options{Table: tableName(t)})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storage.Backend { return open(t, pgURL) })
}

// The query modes that work behind a transaction-pooling PgBouncer (no
// prepared statements kept on a connection) pass the suite too.
func TestConformancePoolerModes(t *testing.T) {
	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			storagetest.Run(t, func(t testing.TB) storage.Backend { return open(t, pgURL+"&default_query_exec_mode="+mode) })
		})
	}
}

// Keys are ordered and listed bytewise, whatever the database's collation
// would say about them.
func TestListIsByteOrdered(t *testing.T) {
	s := open(t, pgURL)
	for _, k := range []string{"d/B", "d/a", "d/é", "d/z", "d/\xff", "d/\x01", "d/A/x", "d/_"} {
		if err := s.Put(t.Context(), k, []byte("v")); err != nil {
			t.Fatalf("Put(%q) = %v", k, err)
		}
	}
	got, err := s.List(t.Context(), "d/")
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	want := []string{"\x01", "A/", "B", "_", "a", "z", "é", "\xff"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("List(d/) = %q, want %q", got, want)
	}
}

func TestCheckTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"keyward_store", true},
		{"keyward.store", true},
		{"_x9", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Keyward", false},
		{"9lives", false},
		{"a.b.c", false},
		{".a", false},
		{"a.", false},
		{`x"; DROP TABLE y; --`, false},
		{"a b", false},
		{"ключ", false},
	} {
		if err := postgres.CheckTable(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckTable(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// A table name that is not an identifier never reaches the database.
func TestOpenRefusesBadTable(t *testing.T) {
	_, err := postgres.Open(t.Context(), sensitive.NewString("postgres://u@127.0.0.1:1/x"), postgres.Options{Table: `t"; DROP TABLE x; --`})
	if err == nil || !strings.Contains(err.Error(), "lower-case identifier") {
		t.Fatalf("Open with a bad table = %v, want an identifier error", err)
	}
}

// A table that exists with other columns (Vault's, say) is refused, not
// written into.
func TestOpenRefusesForeignTable(t *testing.T) {
	c := admin(t)
	name := tableName(t)
	if _, err := c.Exec(t.Context(), "CREATE TABLE "+name+" (parent_path text, path text, key text, value bytea, PRIMARY KEY (path, key))"); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(t.Context(), sensitive.NewString(pgURL), postgres.Options{Table: name})
	if !errors.Is(err, postgres.ErrNotKeywardTable) {
		t.Fatalf("Open over a foreign table = %v, want ErrNotKeywardTable", err)
	}
}

// Opening again finds the data; two stores on one table see each other.
func TestReopenAndShare(t *testing.T) {
	admin(t)
	name := tableName(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(t.Context(), sensitive.NewString(pgURL), postgres.Options{Table: name})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open()
	if err := a.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.Get(t.Context(), "k"); !errors.Is(err, postgres.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	b, c := open(), open()
	if v, err := b.Get(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get after reopen = %q, %v", v, err)
	}
	if err := c.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a key the other store deleted = %v, want ErrNotFound", err)
	}
}

// The password of the connection URL appears in no error, whether the URL
// does not parse or the server cannot be reached.
func TestErrorsHideThePassword(t *testing.T) {
	const pw = "canary-Pa55w0rd-7c1e"
	for _, url := range []string{
		"postgres://keyward:" + pw + "@127.0.0.1:1/keyward?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=1 user=keyward password=" + pw + " sslmode=disable",
		"postgres://keyward:" + pw + "@127.0.0.1:1/keyward?sslmode=bogus",
		"postgres://keyward:" + pw + "@[::1/x",
		"password='" + pw + "' host=127.0.0.1 port=1 junk",
		"postgres://keyward:" + pw + "@127.0.0.1:1/keyward?sslrootcert=/nonexistent/ca.pem&sslmode=verify-full",
	} {
		_, err := postgres.Open(t.Context(), sensitive.NewString(url), postgres.Options{})
		if err == nil {
			t.Fatalf("Open of an unreachable server succeeded")
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
			t.Errorf("Open error carries the password: %v", err)
		}
		if err := postgres.CheckConnectionURL(sensitive.NewString(url)); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("CheckConnectionURL error carries the password: %v", err)
		}
	}
}

// proxy forwards TCP connections to the test server until it is stopped,
// standing in for a database that goes down and comes back.
type proxy struct {
	ln     net.Listener
	addr   string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	// While refusing, connections are accepted and closed at once, and
	// counted in refused.
	refusing bool
	refused  int
	// While frozen, nothing is passed on in either direction but every
	// connection stays open and answers TCP keepalives: a server that
	// hangs, or a link that drops packets behind a middlebox.
	frozen bool
	thaw   *sync.Cond
}

func newProxy(t testing.TB) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String()}
	p.thaw = sync.NewCond(&p.mu)
	p.serve(t, ln)
	t.Cleanup(p.stop)
	return p
}

// gate is one direction of a proxied connection: it writes to w except
// while the proxy is frozen, when it waits.
type gate struct {
	p *proxy
	w io.Writer
}

func (g gate) Write(b []byte) (int, error) {
	g.p.mu.Lock()
	for g.p.frozen && !g.p.closed {
		g.p.thaw.Wait()
	}
	g.p.mu.Unlock()
	return g.w.Write(b)
}

// setFrozen freezes or thaws every connection.
func (p *proxy) setFrozen(on bool) {
	p.mu.Lock()
	p.frozen = on
	p.mu.Unlock()
	p.thaw.Broadcast()
}

func (p *proxy) serve(t testing.TB, ln net.Listener) {
	p.mu.Lock()
	p.ln, p.closed = ln, false
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			refuse := p.refusing
			if refuse {
				p.refused++
			}
			p.mu.Unlock()
			if refuse {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", pgAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(gate{p, up}, c); up.Close() }()
			go func() { io.Copy(gate{p, c}, up); c.Close() }()
		}
	}()
}

// stop closes the listener and cuts every connection: the database is
// down.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.thaw.Broadcast()
}

// setRefusing makes the proxy close new connections at once (a server
// that accepts and drops them) or forward them again.
func (p *proxy) setRefusing(on bool) {
	p.mu.Lock()
	p.refusing = on
	p.mu.Unlock()
}

// refusedCount is how many connections were refused so far.
func (p *proxy) refusedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// start listens again on the same address: the database is back.
func (p *proxy) start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", p.addr, err)
	}
	p.serve(t, ln)
}

// A database that goes down fails operations with an error naming the
// server and without the password; once it is back the same Store serves
// again without being reopened.
func TestDatabaseDownAndBack(t *testing.T) {
	admin(t)
	p := newProxy(t)
	const pw = "canary-Pa55w0rd-d0wn"
	s := open(t, "postgres://postgres:"+pw+"@"+p.addr+"/test?sslmode=disable&connect_timeout=10")
	ctx := t.Context()
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put = %v", err)
	}

	p.stop()
	_, err := s.Get(ctx, "k")
	if err == nil {
		t.Fatal("Get with the database down = nil error")
	}
	if msg := err.Error(); !strings.Contains(msg, `get "k"`) || strings.Contains(msg, pw) {
		t.Errorf("Get error = %q: want the operation and key, never the password", msg)
	}
	if err := s.Put(ctx, "k2", []byte("v")); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("Put with the database down = %v", err)
	}

	p.start(t)
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get once the database is back = %q, %v", v, err)
	}
	if err := s.Put(ctx, "k2", []byte("v2")); err != nil {
		t.Fatalf("Put once the database is back = %v", err)
	}
}

// Every connection of the store is terminated by the server
// (pg_terminate_backend, as a failover or an administrator does): the very
// next operations succeed.
func TestRecoversFromTerminatedConnections(t *testing.T) {
	c := admin(t)
	app := "kwtest-" + strings.ToLower(rand.Text()[:10])
	s := open(t, pgURL+"&application_name="+app)
	ctx := t.Context()
	// Several connections in the pool, all idle afterwards.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := s.Put(ctx, fmt.Sprint("k", i), []byte("v")); err != nil {
				t.Errorf("Put = %v", err)
			}
		})
	}
	wg.Wait()
	for round := range 3 {
		var n int
		err := c.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("round %d: no backend of the store to terminate", round)
		}
		if _, err := s.Get(ctx, "k0"); err != nil {
			t.Fatalf("round %d: Get after %d connections were terminated = %v", round, n, err)
		}
		if err := s.Put(ctx, "k1", []byte("again")); err != nil {
			t.Fatalf("round %d: Put after termination = %v", round, err)
		}
		if err := s.Batch(ctx, []storage.Op{{Key: "k2", Delete: true}, {Key: "k3", Value: []byte("x")}}); err != nil {
			t.Fatalf("round %d: Batch after termination = %v", round, err)
		}
		if _, err := s.List(ctx, ""); err != nil {
			t.Fatalf("round %d: List after termination = %v", round, err)
		}
	}
}
