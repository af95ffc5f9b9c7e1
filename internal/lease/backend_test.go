package lease_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
)

func (f *fixture) sys(t *testing.T, op logical.Operation, path string, data map[string]any, tok *logical.TokenInfo) (*logical.Response, error) {
	t.Helper()
	return f.m.Backend().HandleRequest(t.Context(), &logical.Request{Operation: op, Path: path, Data: data, Token: tok})
}

func TestBackendPaths(t *testing.T) {
	f := newFixture(t, lease.Options{MaxAttempts: 1})
	owner := &logical.TokenInfo{Accessor: "acc-a"}
	id := f.register(t, "acc-a", "u1", time.Minute, time.Hour)
	f.register(t, "acc-a", "u2", time.Second, time.Hour)

	resp, err := f.sys(t, logical.UpdateOperation, "leases/lookup", map[string]any{"lease_id": id}, owner)
	if err != nil || resp.Data["id"] != id || resp.Data["ttl"] != int64(60) || resp.Data["revoke_state"] != "active" {
		t.Fatalf("lookup: %v %v", resp, err)
	}
	if _, err := f.sys(t, logical.UpdateOperation, "leases/lookup", map[string]any{"lease_id": "nope"}, owner); status(err) != http.StatusBadRequest {
		t.Errorf("lookup unknown: %v", err)
	}
	resp, err = f.sys(t, logical.UpdateOperation, "renew/"+id, map[string]any{"increment": "120"}, owner)
	if err != nil || resp.Secret.TTL != 2*time.Minute {
		t.Fatalf("old renew path: %v %v", resp, err)
	}
	if _, err := f.sys(t, logical.UpdateOperation, "leases/renew", map[string]any{"lease_id": id, "bogus": 1}, owner); status(err) != http.StatusBadRequest {
		t.Errorf("unknown field: %v", err)
	}
	resp, err = f.sys(t, logical.ListOperation, "leases/lookup/database/creds/ro/", nil, owner)
	if err != nil || len(resp.Data["keys"].([]string)) != 2 {
		t.Fatalf("list: %v %v", resp, err)
	}

	// The short lease fails to revoke once and turns irrevocable.
	f.eng.setFail(true)
	f.advance(2 * time.Second)
	clocktest.Eventually(t, "irrevocable", func() bool { _, _, irr := f.m.Counts(); return irr == 1 })
	resp, _ = f.sys(t, logical.ReadOperation, "leases/count", map[string]any{"type": "irrevocable"}, owner)
	if resp.Data["lease_count"] != 1 || resp.Data["total"] != 2 {
		t.Errorf("count: %v", resp.Data)
	}
	resp, _ = f.sys(t, logical.ReadOperation, "leases", map[string]any{"type": "irrevocable"}, owner)
	if resp.Data["lease_count"] != 1 {
		t.Errorf("irrevocable list: %v", resp.Data)
	}
	f.eng.setFail(false)
	if resp, err = f.sys(t, logical.UpdateOperation, "leases/tidy", nil, owner); err != nil || resp.Data["requeued"] != 1 {
		t.Fatalf("tidy: %v %v", resp, err)
	}
	clocktest.Eventually(t, "tidy sweep", func() bool { return f.eng.count("u2") == 1 })

	if _, err := f.sys(t, logical.UpdateOperation, "leases/revoke", map[string]any{"lease_id": id}, &logical.TokenInfo{Accessor: "acc-b"}); status(err) != http.StatusForbidden {
		t.Errorf("foreign revoke: %v", err)
	}
	if _, err := f.sys(t, logical.UpdateOperation, "revoke/"+id, nil, owner); err != nil {
		t.Fatalf("old revoke path: %v", err)
	}
	f.register(t, "acc-a", "u3", time.Hour, time.Hour)
	if _, err := f.sys(t, logical.UpdateOperation, "leases/revoke-force/database/", nil, owner); err != nil || f.eng.count("u3") != 0 {
		t.Fatalf("revoke-force: %v (engine called %d times)", err, f.eng.count("u3"))
	}
	if _, err := f.sys(t, logical.ReadOperation, "leases/nope", nil, owner); status(err) != http.StatusNotFound {
		t.Errorf("unknown path: %v", err)
	}
}

// T43 in the lease manager: 5,000 leases are outstanding when the server
// dies; the restart loads them without waiting for revocations, and every
// one is revoked exactly once.
func TestRestoreManyOverdue(t *testing.T) {
	f := newFixture(t, lease.Options{})
	const n = 5000
	for i := range n {
		f.register(t, "acc", fmt.Sprint(i), time.Duration(1+i%10)*time.Second, time.Hour)
	}
	f.eng.setFail(true) // nothing is revoked before the "crash"
	f.m.Close()
	f.clk.Add(time.Minute)
	start := time.Now()
	// The engine still refuses while the leases are counted: restore revokes
	// overdue leases in the background at once, which would race the count.
	f.open(t)
	if total, _, _ := f.m.Counts(); total != n {
		t.Fatalf("restored %d leases, want %d", total, n)
	}
	t.Logf("restore of %d leases took %v", n, time.Since(start))
	// Every lease is revoke_pending once its refused first attempt has
	// finished and been rescheduled; only then is no attempt in flight, so
	// none can fail after the engine recovers and be rescheduled past the
	// advance below.
	clocktest.Eventually(t, "refused first attempts", func() bool { _, pending, _ := f.m.Counts(); return pending == n })
	f.eng.setFail(false)
	f.advance(10 * time.Minute) // past the backoff of the refused first attempts
	clocktest.Eventually(t, "overdue leases revoked", func() bool { total, _, _ := f.m.Counts(); return total == 0 })
	for i := range n {
		if c := f.eng.count(fmt.Sprint(i)); c != 1 {
			t.Fatalf("lease %d revoked %d times", i, c)
		}
	}
}

// T16 in the lease manager: revoking a token marks its leases due and
// persists that, so a crash before the engine answers still ends with the
// leases revoked after restart.
func TestTokenRevocationSurvivesCrash(t *testing.T) {
	f := newFixture(t, lease.Options{})
	for i := range 20 {
		f.register(t, "parent", fmt.Sprint(i), time.Hour, time.Hour)
	}
	f.register(t, "other", "keep", time.Hour, time.Hour)
	f.eng.setFail(true)
	if err := f.m.RevokeByToken(t.Context(), "parent"); err != nil {
		t.Fatal(err)
	}
	f.m.Close() // the server dies while the database is unreachable
	f.eng.setFail(false)
	f.open(t)
	f.advance(10 * time.Minute) // past any backoff an attempt before the crash set
	clocktest.Eventually(t, "token's leases revoked after restart", func() bool { total, _, _ := f.m.Counts(); return total == 1 })
	for i := range 20 {
		if f.eng.count(fmt.Sprint(i)) != 1 {
			t.Fatalf("lease %d not revoked exactly once", i)
		}
	}
	if f.eng.count("keep") != 0 {
		t.Fatal("another token's lease revoked")
	}
}
