package lease_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
)

func TestExpiryRevokesThroughEngine(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "acc-a", "u1", 10*time.Second, time.Minute)
	if !strings.HasPrefix(id, "database/creds/ro/") {
		t.Fatalf("lease id %q not under mount and path", id)
	}
	info, ok := f.m.Lookup(id)
	if !ok || info.TTL != 10*time.Second || info.State != lease.StateActive {
		t.Fatalf("Lookup = %+v, %v", info, ok)
	}
	f.advance(9 * time.Second)
	f.advance(0)
	if n := f.eng.count("u1"); n != 0 {
		t.Fatalf("revoked %d times before expiry", n)
	}
	f.advance(2 * time.Second)
	clocktest.Eventually(t, "revocation at expiry", func() bool { _, ok := f.m.Lookup(id); return !ok })
	if n := f.eng.count("u1"); n != 1 {
		t.Fatalf("engine revoked u1 %d times, want 1", n)
	}
}

func TestTTLBounds(t *testing.T) {
	tests := []struct {
		name          string
		ttl, max      time.Duration
		mountDef, mtx time.Duration
		wantTTL       time.Duration
	}{
		{"secret ttl", time.Minute, time.Hour, time.Hour, 24 * time.Hour, time.Minute},
		{"zero ttl uses mount default", 0, 0, 2 * time.Hour, 24 * time.Hour, 2 * time.Hour},
		{"ttl capped at secret max", 2 * time.Hour, time.Hour, 0, 0, time.Hour},
		{"ttl capped at mount max", 48 * time.Hour, 0, 0, 24 * time.Hour, 24 * time.Hour},
		{"nothing set never means forever", 0, 0, 0, 0, 768 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, lease.Options{})
			req := tokenReq("a", false)
			req.MountConfig = logical.MountConfig{DefaultLeaseTTL: tt.mountDef, MaxLeaseTTL: tt.mtx}
			s := &logical.Secret{TTL: tt.ttl, MaxTTL: tt.max, InternalData: map[string]any{"user": "x"}}
			if err := f.m.Register(t.Context(), req, s); err != nil {
				t.Fatal(err)
			}
			if s.TTL != tt.wantTTL {
				t.Errorf("TTL = %v, want %v", s.TTL, tt.wantTTL)
			}
			if info, _ := f.m.Lookup(s.LeaseID); info.ExpireTime.Sub(info.IssueTime) != tt.wantTTL {
				t.Errorf("expire - issue = %v, want %v", info.ExpireTime.Sub(info.IssueTime), tt.wantTTL)
			}
		})
	}
}

// T17: renewal never extends past max_ttl, and a zero TTL never means forever.
func TestRenewAtTheEdge(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "acc-a", "u1", 5*time.Second, 10*time.Second)
	req := tokenReq("acc-a", false)
	steps := []struct {
		at      time.Duration // since issue
		wantTTL time.Duration
		wantErr bool
	}{
		{4 * time.Second, 6 * time.Second, false},
		{9500 * time.Millisecond, 500 * time.Millisecond, false},
		{9990 * time.Millisecond, 10 * time.Millisecond, false},
		{10010 * time.Millisecond, 0, true},
	}
	issued := f.clk.Now()
	for _, st := range steps {
		f.clk.Add(issued.Add(st.at).Sub(f.clk.Now()))
		s, warnings, err := f.m.Renew(t.Context(), req, id, 10*time.Second)
		if st.wantErr {
			if err == nil {
				t.Fatalf("renew at %v succeeded with ttl %v, want refusal past max_ttl", st.at, s.TTL)
			}
			continue
		}
		if err != nil {
			t.Fatalf("renew at %v: %v", st.at, err)
		}
		if s.TTL != st.wantTTL || len(warnings) == 0 {
			t.Errorf("renew at %v: ttl %v warnings %q, want %v and a cap warning", st.at, s.TTL, warnings, st.wantTTL)
		}
	}
	f.m.Poke()
	clocktest.Eventually(t, "expiry at max_ttl", func() bool { return f.eng.count("u1") == 1 })
}

func TestRenewWithinMax(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "acc-a", "u1", 10*time.Second, time.Minute)
	f.advance(8 * time.Second)
	s, _, err := f.m.Renew(t.Context(), tokenReq("acc-a", false), id, 20*time.Second)
	if err != nil || s.TTL != 20*time.Second {
		t.Fatalf("Renew = %+v, %v", s, err)
	}
	f.advance(5 * time.Second) // past the original expiry
	f.advance(0)
	if _, ok := f.m.Lookup(id); !ok {
		t.Fatal("renewed lease revoked at its old expiry")
	}
	f.advance(16 * time.Second)
	clocktest.Eventually(t, "revocation at renewed expiry", func() bool { return f.eng.count("u1") == 1 })
}

// T13: a token may renew or revoke only the leases it created; root may
// touch any.
func TestCrossTokenLeaseOps(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "acc-a", "u1", time.Minute, time.Hour)
	other := tokenReq("acc-b", false)
	if _, _, err := f.m.Renew(t.Context(), other, id, 0); status(err) != http.StatusForbidden {
		t.Errorf("renew by other token: %v, want 403", err)
	}
	if err := f.m.Revoke(t.Context(), other, id); status(err) != http.StatusForbidden {
		t.Errorf("revoke by other token: %v, want 403", err)
	}
	noAcc := tokenReq("", false)
	if err := f.m.Revoke(t.Context(), noAcc, id); status(err) != http.StatusForbidden {
		t.Errorf("revoke with empty accessor: %v, want 403", err)
	}
	if _, ok := f.m.Lookup(id); !ok || f.eng.count("u1") != 0 {
		t.Fatal("lease touched by a foreign token")
	}
	if err := f.m.Revoke(t.Context(), tokenReq("acc-root", true), id); err != nil {
		t.Fatalf("root revoke: %v", err)
	}
	if f.eng.count("u1") != 1 {
		t.Fatal("root revoke did not reach the engine")
	}
}

func TestRevokeByToken(t *testing.T) {
	f := newFixture(t, lease.Options{})
	a1 := f.register(t, "acc-a", "a1", time.Hour, time.Hour)
	a2 := f.register(t, "acc-a", "a2", time.Hour, time.Hour)
	b1 := f.register(t, "acc-b", "b1", time.Hour, time.Hour)
	if err := f.m.RevokeByToken(t.Context(), "acc-a"); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "token's leases revoked", func() bool { return f.eng.count("a1") == 1 && f.eng.count("a2") == 1 })
	for _, id := range []string{a1, a2} {
		if _, ok := f.m.Lookup(id); ok {
			t.Errorf("lease %s survived its token", id)
		}
	}
	if _, ok := f.m.Lookup(b1); !ok || f.eng.count("b1") != 0 {
		t.Error("another token's lease was revoked")
	}
}

// A failing engine leaves the lease revoke_pending, retried with backoff,
// then irrevocable and counted, never dropped; tidy requeues it once the
// database is back.
func TestRevocationRetriesThenIrrevocable(t *testing.T) {
	f := newFixture(t, lease.Options{MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: 4 * time.Second})
	id := f.register(t, "acc-a", "u1", time.Second, time.Minute)
	f.eng.setFail(true)
	f.advance(2 * time.Second)
	clocktest.Eventually(t, "first failed attempt", func() bool { i, _ := f.m.Lookup(id); return i.Attempts == 1 })
	info, _ := f.m.Lookup(id)
	if info.State != lease.StateRevokePending || info.LastError == "" {
		t.Fatalf("after failure: %+v", info)
	}
	retry := info.ExpireTime.Sub(f.clk.Now())
	if retry < time.Second || retry > 1250*time.Millisecond {
		t.Errorf("first retry in %v, want 1s plus at most 25%% jitter", retry)
	}
	f.advance(2 * time.Second)
	clocktest.Eventually(t, "second attempt", func() bool { i, _ := f.m.Lookup(id); return i.Attempts == 2 })
	f.advance(3 * time.Second)
	clocktest.Eventually(t, "irrevocable", func() bool { i, _ := f.m.Lookup(id); return i.State == lease.StateIrrevocable })
	if total, _, irr := f.m.Counts(); total != 1 || irr != 1 {
		t.Fatalf("Counts = %d total, %d irrevocable", total, irr)
	}
	f.advance(time.Hour)
	f.advance(0)
	if i, _ := f.m.Lookup(id); i.Attempts != 3 {
		t.Fatalf("irrevocable lease attempted again by itself: %d attempts", i.Attempts)
	}
	f.eng.setFail(false)
	if n, err := f.m.Tidy(t.Context()); n != 1 || err != nil {
		t.Fatalf("Tidy = %d, %v", n, err)
	}
	clocktest.Eventually(t, "revoked after tidy", func() bool { return f.eng.count("u1") == 1 })
	clocktest.Eventually(t, "record removed", func() bool { _, ok := f.m.Lookup(id); return !ok })
}

func TestExplicitRevokeFailureKeepsLease(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "acc-a", "u1", time.Hour, time.Hour)
	f.eng.setFail(true)
	err := f.m.Revoke(t.Context(), tokenReq("acc-a", false), id)
	if status(err) != http.StatusInternalServerError || strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Revoke on failing engine = %v, want a 500 naming the lease only", err)
	}
	info, ok := f.m.Lookup(id)
	if !ok || info.State != lease.StateRevokePending {
		t.Fatalf("lease after failed revoke: %+v %v", info, ok)
	}
	f.eng.setFail(false)
	f.advance(time.Hour)
	clocktest.Eventually(t, "retry succeeds", func() bool { return f.eng.count("u1") == 1 })
}

func TestRestoreRevokesOverdueAndResumesTimers(t *testing.T) {
	f := newFixture(t, lease.Options{})
	overdue := f.register(t, "acc-a", "old", time.Second, time.Hour)
	later := f.register(t, "acc-a", "new", time.Hour, time.Hour)
	f.m.Close()
	f.clk.Add(time.Minute) // the server was down for a minute
	f.open(t)
	clocktest.Eventually(t, "overdue lease revoked at restore", func() bool { return f.eng.count("old") == 1 })
	if _, ok := f.m.Lookup(overdue); ok {
		clocktest.Eventually(t, "overdue record removed", func() bool { _, ok := f.m.Lookup(overdue); return !ok })
	}
	if _, ok := f.m.Lookup(later); !ok {
		t.Fatal("lease not yet due lost at restore")
	}
	if err := f.m.RevokeByToken(t.Context(), "acc-a"); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "token index rebuilt at restore", func() bool { return f.eng.count("new") == 1 })
}

func TestPrefixForceListCount(t *testing.T) {
	f := newFixture(t, lease.Options{})
	for i := range 3 {
		f.register(t, "a", fmt.Sprintf("u%d", i), time.Hour, time.Hour)
	}
	req := tokenReq("a", false)
	req.Path = "creds/rw"
	s := &logical.Secret{TTL: time.Hour, InternalData: map[string]any{"user": "rw"}}
	if err := f.m.Register(t.Context(), req, s); err != nil {
		t.Fatal(err)
	}
	if got := f.m.List("database/creds/"); strings.Join(got, ",") != "ro/,rw/" {
		t.Errorf("List = %q", got)
	}
	if got := f.m.List("database/creds/ro/"); len(got) != 3 {
		t.Errorf("List ro = %q", got)
	}
	n, err := f.m.RevokePrefix(t.Context(), "database/creds/ro/")
	if n != 3 || err != nil || f.eng.total() != 3 {
		t.Fatalf("RevokePrefix = %d, %v; engine revoked %d", n, err, f.eng.total())
	}
	f.eng.setFail(true)
	n, err = f.m.ForceRevoke(t.Context(), "database/")
	if n != 1 || err != nil {
		t.Fatalf("ForceRevoke = %d, %v", n, err)
	}
	if total, _, _ := f.m.Counts(); total != 0 {
		t.Fatalf("%d leases left", total)
	}
}

// 10,000 short leases expire with one scheduler goroutine and a fixed pool
// of workers: every one is revoked exactly once and the goroutine count does
// not grow with the number of leases.
func TestManyLeasesExpire(t *testing.T) {
	const n = 10000
	f := newFixture(t, lease.Options{})
	before := runtime.NumGoroutine()
	for i := range n {
		f.register(t, "acc", fmt.Sprintf("u%05d", i), time.Duration(1+i%30)*time.Second, time.Minute)
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Errorf("goroutines grew from %d to %d while registering", before, g)
	}
	f.advance(31 * time.Second)
	clocktest.Eventually(t, "all leases revoked", func() bool { total, _, _ := f.m.Counts(); return total == 0 })
	if got := f.eng.total(); got != n {
		t.Fatalf("engine revoked %d distinct users, want %d", got, n)
	}
	for i := range n {
		if c := f.eng.count(fmt.Sprintf("u%05d", i)); c != 1 {
			t.Fatalf("user %d revoked %d times", i, c)
		}
	}
	if keys, _ := f.store.List(t.Context(), "lease/"); len(keys) != 0 {
		t.Fatalf("%d lease records left in storage", len(keys))
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Errorf("goroutines grew from %d to %d", before, g)
	}
}

func TestRegisterPersistFailureRevokes(t *testing.T) {
	clk := newClock()
	eng := newEngine()
	m, err := lease.New(t.Context(), &failingStore{}, eng, nil, lease.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := &logical.Secret{TTL: time.Hour, InternalData: map[string]any{"user": "orphan"}}
	if err := m.Register(t.Context(), tokenReq("a", false), s); err == nil {
		t.Fatal("Register succeeded without persisting")
	}
	if eng.count("orphan") != 1 {
		t.Fatal("unpersisted credential was not revoked")
	}
}
