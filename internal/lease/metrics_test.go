package lease_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/monitor"
)

// metrics reads the lease metrics of the registry r that the test's
// Managers were given: it holds nothing else, so values are exact.
type metrics struct{ active, pending, irrevocable, revoked, failures int64 }

func readMetrics(r *monitor.Registry) metrics {
	return metrics{
		active:      r.Gauge("keyward_leases_active", "").Value(),
		pending:     r.Gauge("keyward_leases_revoke_pending", "").Value(),
		irrevocable: r.Gauge("keyward_leases_irrevocable", "").Value(),
		revoked:     int64(r.Counter("keyward_leases_revoked_total", "").Value()),
		failures:    int64(r.Counter("keyward_lease_revoke_failures_total", "").Value()),
	}
}

// The gauges follow every state change, agree with Counts, and give back
// a Manager's leases when it closes; the counters count revocations and
// failed attempts.
func TestMetricsFollowLeaseStates(t *testing.T) {
	reg := monitor.NewRegistry()
	f := newFixture(t, lease.Options{MaxAttempts: 2, BaseBackoff: time.Hour, MaxBackoff: time.Hour, Metrics: reg})
	root := tokenReq("root-acc", true)
	check := func(step string, want metrics) {
		t.Helper()
		got := readMetrics(reg)
		if got != want {
			t.Fatalf("%s: metrics = %+v, want %+v", step, got, want)
		}
		total, pending, irrevocable := f.m.Counts()
		if int64(total) != got.active+got.pending+got.irrevocable || int64(pending) != got.pending || int64(irrevocable) != got.irrevocable {
			t.Fatalf("%s: gauges %+v disagree with Counts (%d, %d, %d)", step, got, total, pending, irrevocable)
		}
	}
	a := f.register(t, "acc", "alice", time.Hour, 0)
	f.register(t, "acc", "bob", time.Hour, 0)
	f.register(t, "acc", "carol", time.Hour, 0)
	check("registered", metrics{active: 3})

	f.eng.setFail(true)
	if err := f.m.Revoke(t.Context(), root, a); err == nil {
		t.Fatal("revoke succeeded on a failing engine")
	}
	check("first failed revoke", metrics{active: 2, pending: 1, failures: 1})
	if err := f.m.Revoke(t.Context(), root, a); err == nil {
		t.Fatal("revoke succeeded on a failing engine")
	}
	check("last attempt failed", metrics{active: 2, irrevocable: 1, failures: 2})

	// Tidy requeues it as revoke_pending for an immediate retry, which now
	// succeeds; a gauge Tidy forgot would be left off by one below.
	f.eng.setFail(false)
	if n, err := f.m.Tidy(t.Context()); n != 1 || err != nil {
		t.Fatalf("Tidy = %d, %v", n, err)
	}
	clocktest.Eventually(t, "requeued lease revoked", func() bool { _, ok := f.m.Lookup(a); return !ok })
	check("revoked", metrics{active: 2, failures: 2, revoked: 1})

	if n, err := f.m.ForceRevoke(t.Context(), "database/creds/ro/"); n != 2 || err != nil {
		t.Fatalf("ForceRevoke = %d, %v", n, err)
	}
	check("force-revoked", metrics{failures: 2, revoked: 1})

	f.register(t, "acc", "dave", time.Hour, 0)
	f.m.Close()
	if got := readMetrics(reg); got != (metrics{failures: 2, revoked: 1}) {
		t.Fatalf("after Close: metrics = %+v, want the leases gone from the gauges", got)
	}
}

// A restarted Manager counts the leases it loads.
func TestMetricsCountRestoredLeases(t *testing.T) {
	reg := monitor.NewRegistry()
	f := newFixture(t, lease.Options{Metrics: reg})
	f.register(t, "acc", "alice", time.Hour, 0)
	f.register(t, "acc", "bob", time.Hour, 0)
	f.m.Close()
	if d := readMetrics(reg); d.active != 0 {
		t.Fatalf("active after Close = %d", d.active)
	}
	f.open(t)
	if d := readMetrics(reg); d.active != 2 {
		t.Fatalf("active after restart = %d, want 2", d.active)
	}
}

// Two Managers with registries of their own, as two nodes in one process
// have, count apart: neither sees the other's leases.
func TestMetricsOfTwoManagersStayApart(t *testing.T) {
	t.Parallel()
	regA, regB := monitor.NewRegistry(), monitor.NewRegistry()
	a := newFixture(t, lease.Options{Metrics: regA})
	b := newFixture(t, lease.Options{Metrics: regB})
	a.register(t, "acc", "alice", time.Hour, 0)
	a.register(t, "acc", "bob", time.Hour, 0)
	b.register(t, "acc", "carol", time.Hour, 0)
	if got := readMetrics(regA).active; got != 2 {
		t.Errorf("node A keyward_leases_active = %d, want 2", got)
	}
	if got := readMetrics(regB).active; got != 1 {
		t.Errorf("node B keyward_leases_active = %d, want 1", got)
	}
}
