package lease_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// After its mount moves from database/ to dbnew/, a lease lives under the
// new path: lookup, list, renew, revoke and revoke-prefix work there and
// reach the engine at dbnew/; the old id still names it for lookup, renew
// and revoke; leases of other mounts stay where they are.
func TestRemountMovesLeasesToTheNewPath(t *testing.T) {
	f := newFixture(t, lease.Options{})
	var old []string
	for i := range 3 {
		old = append(old, f.register(t, "a", fmt.Sprintf("u%d", i), time.Hour, 2*time.Hour))
	}
	other := tokenReq("a", false)
	other.MountPoint = "database2/"
	s := &logical.Secret{TTL: time.Hour, InternalData: map[string]any{"user": "other"}}
	if err := f.m.Register(t.Context(), other, s); err != nil {
		t.Fatal(err)
	}
	n, err := f.m.Remount(t.Context(), "database/", "dbnew/")
	if n != 3 || err != nil {
		t.Fatalf("Remount = %d, %v; want 3 moved", n, err)
	}
	moved := func(id string) string { return "dbnew/" + strings.TrimPrefix(id, "database/") }
	for _, id := range old {
		for _, name := range []string{id, moved(id)} {
			info, ok := f.m.Lookup(name)
			if !ok || info.ID != moved(id) {
				t.Errorf("Lookup(%s) = %+v, %v; want the lease as %s", name, info, ok, moved(id))
			}
		}
	}
	if got := f.m.List("dbnew/creds/ro/"); len(got) != 3 {
		t.Errorf("List(dbnew/creds/ro/) = %q", got)
	}
	if got := f.m.List("database/"); len(got) != 0 {
		t.Errorf("List(database/) after the move = %q", got)
	}
	if got := f.m.List("database2/"); len(got) != 1 {
		t.Errorf("the other mount's lease moved: List(database2/) = %q", got)
	}
	// Renew by the old id, as a client holding it does.
	owner := tokenReq("a", false)
	rs, _, err := f.m.Renew(t.Context(), owner, old[0], 30*time.Minute)
	if err != nil || rs.LeaseID != moved(old[0]) || f.eng.calls("dbnew/") != 1 {
		t.Fatalf("Renew(old id) = %+v, %v; engine calls at dbnew/ %d", rs, err, f.eng.calls("dbnew/"))
	}
	if err := f.m.Revoke(t.Context(), owner, old[0]); err != nil || f.eng.count("u0") != 1 {
		t.Fatalf("Revoke(old id) = %v; u0 revoked %d times", err, f.eng.count("u0"))
	}
	if n, err := f.m.RevokePrefix(t.Context(), "database/"); n != 0 || err != nil {
		t.Errorf("RevokePrefix(old mount) = %d, %v; want nothing there", n, err)
	}
	if n, err := f.m.RevokePrefix(t.Context(), "dbnew/creds/ro/"); n != 2 || err != nil {
		t.Fatalf("RevokePrefix(dbnew/creds/ro/) = %d, %v", n, err)
	}
	if f.eng.calls("database/") != 0 || f.eng.count("u1") != 1 || f.eng.count("u2") != 1 {
		t.Errorf("engine calls: database/ %d, u1 %d, u2 %d", f.eng.calls("database/"), f.eng.count("u1"), f.eng.count("u2"))
	}
}

// Expiry after a move revokes through the engine at the new mount, also
// after a restart.
func TestMovedLeaseExpiresAtNewMountAfterRestart(t *testing.T) {
	f := newFixture(t, lease.Options{})
	id := f.register(t, "a", "u", time.Hour, time.Hour)
	if _, err := f.m.Remount(t.Context(), "database/", "dbnew/"); err != nil {
		t.Fatal(err)
	}
	f.m.Close()
	f.open(t)
	if _, ok := f.m.Lookup(id); !ok {
		t.Fatal("old id does not reach the lease after a restart")
	}
	f.advance(2 * time.Hour)
	clocktest.Eventually(t, "the moved lease expires", func() bool { return f.eng.count("u") == 1 })
	if f.eng.calls("database/") != 0 || f.eng.calls("dbnew/") != 1 {
		t.Errorf("expiry reached database/ %d, dbnew/ %d times", f.eng.calls("database/"), f.eng.calls("dbnew/"))
	}
}

// A move interrupted after any number of writes is finished by calling
// Remount again after a restart: every lease ends up once, under its new
// id, and nothing is left under the old path.
func TestRemountResumesAfterInterruptionAtEveryWrite(t *testing.T) {
	const leases = 3
	for budget := 0; ; budget++ {
		store := &logicaltest.InmemStorage{}
		clk, eng := newClock(), newEngine()
		m, err := lease.New(t.Context(), store, eng, nil, lease.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range leases {
			s := &logical.Secret{TTL: time.Hour, Renewable: true, InternalData: map[string]any{"user": fmt.Sprintf("u%d", i)}}
			if err := m.Register(t.Context(), tokenReq("a", false), s); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.LeaseID)
		}
		m.Close()
		bs := logicaltest.NewCrashing(store, budget)
		m, err = lease.New(t.Context(), bs, eng, nil, lease.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Remount(t.Context(), "database/", "dbnew/")
		m.Close()
		if err != nil && !errors.Is(err, logicaltest.ErrCrash) {
			t.Fatalf("budget %d: Remount = %v", budget, err)
		}
		done := err == nil
		m, err = lease.New(t.Context(), store, eng, nil, lease.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Remount(t.Context(), "database/", "dbnew/"); err != nil {
			t.Fatalf("budget %d: resumed Remount = %v", budget, err)
		}
		keys, _ := store.List(t.Context(), "lease/")
		total, _, _ := m.Counts()
		if len(keys) != leases || total != leases || len(m.List("dbnew/creds/ro/")) != leases || len(m.List("database/")) != 0 {
			t.Fatalf("budget %d: %d records, %d leases, dbnew %q, database %q", budget, len(keys), total,
				m.List("dbnew/creds/ro/"), m.List("database/"))
		}
		for _, id := range ids {
			if info, ok := m.Lookup(id); !ok || !strings.HasPrefix(info.ID, "dbnew/creds/ro/") {
				t.Fatalf("budget %d: Lookup(%s) = %+v, %v", budget, id, info, ok)
			}
		}
		if eng.total() != 0 {
			t.Fatalf("budget %d: the move revoked %d credentials", budget, eng.total())
		}
		m.Close()
		if done {
			if budget == 0 {
				t.Fatal("the move wrote nothing")
			}
			return
		}
	}
}
