package lease_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// engine is an in-memory stand-in for the core's routing to engines: it
// records what was revoked and can be told to fail.
type engine struct {
	mu      sync.Mutex
	revoked map[string]int
	fail    bool
	renews  int
	// mounts counts the calls that reached each mount path.
	mounts map[string]int
}

func newEngine() *engine { return &engine{revoked: map[string]int{}, mounts: map[string]int{}} }

var errDown = errors.New("database unreachable")

func (e *engine) Revoke(_ context.Context, mount string, s *logical.Secret) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errDown
	}
	e.mounts[mount]++
	e.revoked[s.InternalData["user"].(string)]++
	return nil
}

func (e *engine) Renew(_ context.Context, mount string, s *logical.Secret, inc time.Duration) (*logical.Secret, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return nil, errDown
	}
	e.mounts[mount]++
	e.renews++
	return s, nil
}

func (e *engine) setFail(v bool) {
	e.mu.Lock()
	e.fail = v
	e.mu.Unlock()
}

func (e *engine) count(user string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.revoked[user]
}

func (e *engine) calls(mount string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mounts[mount]
}

func (e *engine) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.revoked)
}

type fixture struct {
	m     *lease.Manager
	clk   *clocktest.Clock
	eng   *engine
	store *logicaltest.InmemStorage
	opts  lease.Options
}

func newFixture(t testing.TB, opts lease.Options) *fixture {
	t.Helper()
	f := &fixture{clk: newClock(), eng: newEngine(), store: &logicaltest.InmemStorage{}}
	if opts.Now == nil {
		opts.Now = f.clk.Now
	}
	f.opts = opts
	f.open(t)
	return f
}

func (f *fixture) open(t testing.TB) {
	t.Helper()
	m, err := lease.New(t.Context(), f.store, f.eng, nil, f.opts)
	if err != nil {
		t.Fatalf("lease.New: %v", err)
	}
	f.m = m
	t.Cleanup(func() { m.Close() })
}

// advance moves the clock and wakes the scheduler.
func (f *fixture) advance(d time.Duration) {
	f.clk.Add(d)
	f.m.Poke()
}

func tokenReq(accessor string, root bool) *logical.Request {
	return &logical.Request{
		MountPoint:  "database/",
		Path:        "creds/ro",
		Token:       &logical.TokenInfo{Accessor: accessor, Root: root},
		MountConfig: logical.MountConfig{DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 24 * time.Hour},
	}
}

// register issues a lease for user, created by the token with accessor.
func (f *fixture) register(t testing.TB, accessor, user string, ttl, maxTTL time.Duration) string {
	t.Helper()
	s := &logical.Secret{TTL: ttl, MaxTTL: maxTTL, Renewable: true, InternalData: map[string]any{"user": user}}
	if err := f.m.Register(t.Context(), tokenReq(accessor, false), s); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return s.LeaseID
}

// newClock is the fake clock a fixture's manager runs on.
func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

func status(err error) int {
	code, _, _ := logical.StatusOf(err)
	return code
}

// failingStore refuses writes, as a storage outage would.
type failingStore struct{ logicaltest.InmemStorage }

func (*failingStore) Put(context.Context, string, []byte) error { return errors.New("storage down") }
