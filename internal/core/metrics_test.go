package core_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// newMeteredCore starts a core whose lease manager and sys/metrics use a
// registry of its own, as node gives each node, with a leasing engine at
// dyn/.
func newMeteredCore(t *testing.T) (*core.Core, string) {
	t.Helper()
	reg := monitor.NewRegistry()
	l := &leaser{revoked: map[string]int{}}
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Metrics: reg,
		Engines: map[string]logical.Factory{"leaser": l.factory},
		Services: []core.Service{
			{Name: "leases", Paths: []string{"leases", "renew", "revoke", "revoke-prefix", "revoke-force"}, Storage: "sys/expire/",
				New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
					return lease.New(ctx, env.Storage, env.Engines, env.Logger, lease.Options{Metrics: reg})
				}},
			{Name: "metrics", Paths: []string{"metrics"},
				New: func(context.Context, core.ServiceEnv) (core.ServiceBackend, error) {
					return monitor.NewBackend(reg), nil
				}},
		}})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/dyn", map[string]any{"type": "leaser"})
	return c, root
}

// gauge reads one gauge from the core's sys/metrics.
func gauge(t *testing.T, c *core.Core, root, name string) int64 {
	t.Helper()
	var m monitor.JSON
	if err := json.Unmarshal(mustCall(t, c, root, logical.ReadOperation, "sys/metrics", nil).Raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, g := range m.Gauges {
		if g.Name == name {
			return int64(g.Value)
		}
	}
	t.Fatalf("sys/metrics has no gauge %s: %+v", name, m)
	return 0
}

// Two cores in one process each report their own leases: the gauges are
// per registry, not summed over the process.
func TestTwoCoresKeepTheirGaugesApart(t *testing.T) {
	a, rootA := newMeteredCore(t)
	b, rootB := newMeteredCore(t)
	for range 3 {
		mustCall(t, a, rootA, logical.ReadOperation, "dyn/creds", nil)
	}
	mustCall(t, b, rootB, logical.ReadOperation, "dyn/creds", nil)
	if got := gauge(t, a, rootA, "keyward_leases_active"); got != 3 {
		t.Errorf("core A keyward_leases_active = %d, want 3", got)
	}
	if got := gauge(t, b, rootB, "keyward_leases_active"); got != 1 {
		t.Errorf("core B keyward_leases_active = %d, want 1", got)
	}
}
