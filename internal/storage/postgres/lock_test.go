package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/postgres"
)

// node is one server's view of a shared table: its Store and the
// application_name that tells its connections apart in pg_stat_activity.
type node struct {
	store *postgres.Store
	app   string
}

// twoNodes opens two Stores on one table, as two servers would.
func twoNodes(t *testing.T) (a, b node) {
	t.Helper()
	admin(t)
	table := tableName(t)
	mk := func() node {
		app := "kwlock-" + strings.ToLower(rand.Text()[:10])
		s, err := postgres.Open(t.Context(), sensitive.NewString(pgURL+"&application_name="+app), postgres.Options{Table: table})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return node{s, app}
	}
	return mk(), mk()
}

// advisory counts app's sessions holding (granted) or waiting for an
// advisory lock.
func advisory(t testing.TB, c *pgx.Conn, app string, granted bool) int {
	t.Helper()
	var n int
	err := c.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted = $2 AND a.application_name = $1`, app, granted).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type acquired struct {
	lost <-chan struct{}
	err  error
}

// acquireAsync starts l.Acquire(ctx) and returns where its result will be.
func acquireAsync(ctx context.Context, l *postgres.Lock) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		lost, err := l.Acquire(ctx)
		ch <- acquired{lost, err}
	}()
	return ch
}

// waitClosed waits for ch to close, failing the test if it has not after
// clocktest.Wait (a bound for a loaded machine, not a timing assertion).
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(clocktest.Wait):
		t.Fatalf("timed out after %v waiting for %s", clocktest.Wait, what)
	}
}

// result waits for an acquireAsync result, bounded as waitClosed is.
func result(t testing.TB, ch <-chan acquired) acquired {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(clocktest.Wait):
		t.Fatalf("timed out after %v waiting for Acquire", clocktest.Wait)
		return acquired{}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The first node holds the lock and the second waits for it; when the
// server ends the first node's session (as it does for a crashed or
// partitioned holder, here with pg_terminate_backend) the second gets the
// lock and the first is told it has lost it.
func TestLockFailover(t *testing.T) {
	c := admin(t)
	a, b := twoNodes(t)
	la, lb := a.store.NewLock("active"), b.store.NewLock("active")
	t.Cleanup(func() { la.Release(context.Background()); lb.Release(context.Background()) })

	lostA, err := la.Acquire(t.Context())
	if err != nil {
		t.Fatalf("first Acquire = %v", err)
	}
	if _, err := la.Acquire(t.Context()); !errors.Is(err, postgres.ErrHeld) {
		t.Errorf("Acquire of a held Lock = %v, want ErrHeld", err)
	}
	gotB := acquireAsync(t.Context(), lb)
	clocktest.Eventually(t, "the second node to wait in the server", func() bool { return advisory(t, c, b.app, false) == 1 })
	select {
	case r := <-gotB:
		t.Fatalf("second Acquire returned (%v) while the first node holds the lock", r.err)
	default:
	}
	if isClosed(lostA) {
		t.Fatal("holder's lost channel closed while it holds the lock")
	}

	var n int
	if err := c.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1`, a.app).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the holder's session: %d sessions, %v", n, err)
	}
	r := result(t, gotB)
	if r.err != nil {
		t.Fatalf("second Acquire after the holder's session ended = %v", r.err)
	}
	waitClosed(t, lostA, "the first node to learn it lost the lock")
	if isClosed(r.lost) {
		t.Fatal("new holder's lost channel is closed")
	}
	if got := advisory(t, c, b.app, true); got != 1 {
		t.Errorf("second node holds %d advisory locks, want 1", got)
	}

	// The first node can wait again, and its Store still serves.
	if err := a.store.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatalf("Put on the deposed node's Store = %v", err)
	}
	gotA := acquireAsync(t.Context(), la)
	clocktest.Eventually(t, "the first node to wait again", func() bool { return advisory(t, c, a.app, false) == 1 })
	if err := lb.Release(t.Context()); err != nil {
		t.Fatalf("Release = %v", err)
	}
	if !isClosed(r.lost) {
		t.Error("Release left the lost channel open")
	}
	if r := result(t, gotA); r.err != nil {
		t.Fatalf("Acquire after the other node released = %v", r.err)
	}
}

// A waiter whose context ends stops waiting in the server too, and a lock
// of another name is independent.
func TestLockAcquireCancelled(t *testing.T) {
	c := admin(t)
	a, b := twoNodes(t)
	la := a.store.NewLock("active")
	t.Cleanup(func() { la.Release(context.Background()) })
	if _, err := la.Acquire(t.Context()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	lb := b.store.NewLock("active")
	got := acquireAsync(ctx, lb)
	clocktest.Eventually(t, "the second node to wait", func() bool { return advisory(t, c, b.app, false) == 1 })
	cancel()
	if r := result(t, got); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Acquire = %v, want context.Canceled", r.err)
	}
	clocktest.Eventually(t, "the cancelled wait to leave the server", func() bool { return advisory(t, c, b.app, false) == 0 })

	other := b.store.NewLock("other")
	t.Cleanup(func() { other.Release(context.Background()) })
	if _, err := other.Acquire(t.Context()); err != nil {
		t.Fatalf("Acquire of another name while %q is held = %v", "active", err)
	}

	if err := la.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	lost, err := lb.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire after Release = %v", err)
	}
	if isClosed(lost) {
		t.Fatal("lost channel closed at once")
	}
	if err := lb.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A holder whose connection is cut (no message from the server, as when a
// network link or the server host dies) learns it lost the lock, and the
// server hands the lock to the waiter.
func TestLockLostWhenConnectionCut(t *testing.T) {
	c := admin(t)
	p := newProxy(t)
	table := tableName(t)
	viaProxy, err := postgres.Open(t.Context(), sensitive.NewString("postgres://postgres@"+p.addr+"/test?sslmode=disable"), postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viaProxy.Close() })
	app := "kwlock-" + strings.ToLower(rand.Text()[:10])
	direct, err := postgres.Open(t.Context(), sensitive.NewString(pgURL+"&application_name="+app), postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })

	la, lb := viaProxy.NewLock("active"), direct.NewLock("active")
	t.Cleanup(func() { la.Release(context.Background()); lb.Release(context.Background()) })
	lostA, err := la.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	gotB := acquireAsync(t.Context(), lb)
	clocktest.Eventually(t, "the second node to wait", func() bool { return advisory(t, c, app, false) == 1 })
	p.stop()
	waitClosed(t, lostA, "the holder to learn its connection was cut")
	if r := result(t, gotB); r.err != nil {
		t.Fatalf("Acquire once the holder's connection was cut = %v", r.err)
	}
	if err := la.Release(t.Context()); err != nil {
		t.Errorf("Release of a lost lock = %v, want nil", err)
	}
}

// Acquire rides out a server that is down: it keeps trying and takes the
// lock once the server is back.
func TestLockAcquireWaitsForServer(t *testing.T) {
	admin(t)
	p := newProxy(t)
	s, err := postgres.Open(t.Context(), sensitive.NewString("postgres://postgres@"+p.addr+"/test?sslmode=disable"), postgres.Options{Table: tableName(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := s.NewLock("active")
	t.Cleanup(func() { l.Release(context.Background()) })

	p.setRefusing(true)
	got := acquireAsync(t.Context(), l)
	clocktest.Eventually(t, "Acquire to fail to reach the server twice", func() bool { return p.refusedCount() >= 2 })
	select {
	case r := <-got:
		t.Fatalf("Acquire returned (%v) while the server was unreachable", r.err)
	default:
	}
	p.setRefusing(false)
	r := result(t, got)
	if r.err != nil {
		t.Fatalf("Acquire across a server outage = %v", r.err)
	}
	if isClosed(r.lost) {
		t.Fatal("lost channel closed at once")
	}
}

// holderQuery is the last statement the session of app holding an
// advisory lock ran ("" if none holds one).
func holderQuery(t testing.TB, c *pgx.Conn, app string) string {
	t.Helper()
	var q string
	err := c.QueryRow(t.Context(), `SELECT coalesce(max(a.query), '') FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1`, app).Scan(&q)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Fence holds only while the lock is held and the server answers on the
// holding connection: it proves the session alive with SELECT 1 on that
// connection once the last proof is old, and a holder whose server stops
// answering (but whose connection stays open, so keepalives pass and the
// watcher alone would not notice) fails Fence and loses the lock.
func TestLockFence(t *testing.T) {
	c := admin(t)
	p := newProxy(t)
	app := "kwlock-" + strings.ToLower(rand.Text()[:10])
	s, err := postgres.Open(t.Context(), sensitive.NewString("postgres://postgres@"+p.addr+"/test?sslmode=disable&application_name="+app), postgres.Options{Table: tableName(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := s.NewLock("active")
	t.Cleanup(func() { l.Release(context.Background()) })

	if err := l.Fence(t.Context()); !errors.Is(err, postgres.ErrNotHeld) {
		t.Fatalf("Fence before Acquire = %v, want ErrNotHeld", err)
	}
	lost, err := l.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Fence(t.Context()); err != nil {
		t.Fatalf("Fence just after Acquire = %v", err)
	}
	// Callers in parallel share the probes; each sees nil while it holds.
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				if err := l.Fence(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	clocktest.Eventually(t, "Fence to prove the session alive on the holding connection", func() bool {
		return l.Fence(t.Context()) == nil && holderQuery(t, c, app) == "SELECT 1"
	})
	cancel()
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Fence while held = %v", err)
		}
	}
	if isClosed(lost) {
		t.Fatal("lost channel closed while the lock is held")
	}

	p.setFrozen(true)
	t.Cleanup(func() { p.setFrozen(false) })
	clocktest.Eventually(t, "Fence to fail once the server stops answering", func() bool {
		err := l.Fence(t.Context())
		if err != nil && !errors.Is(err, postgres.ErrNotHeld) {
			t.Fatalf("Fence = %v, want nil or ErrNotHeld", err)
		}
		return err != nil
	})
	waitClosed(t, lost, "the holder to learn its server stopped answering")
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("Release of a lost lock = %v, want nil", err)
	}
	if err := l.Fence(t.Context()); !errors.Is(err, postgres.ErrNotHeld) {
		t.Errorf("Fence after Release = %v, want ErrNotHeld", err)
	}
}

// Fence fails once the lock is released.
func TestLockFenceAfterRelease(t *testing.T) {
	admin(t)
	a, _ := twoNodes(t)
	l := a.store.NewLock("active")
	t.Cleanup(func() { l.Release(context.Background()) })
	if _, err := l.Acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Fence(t.Context()); err != nil {
		t.Fatalf("Fence while held = %v", err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Fence(t.Context()); !errors.Is(err, postgres.ErrNotHeld) {
		t.Errorf("Fence after Release = %v, want ErrNotHeld", err)
	}
}
