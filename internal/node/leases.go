package node

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
)

var (
	_ core.LeaseManager = (*lease.Manager)(nil)
	_ logical.Aliaser   = (*lease.Manager)(nil) // sys/renew is authorized as sys/leases/renew
)

// leaseService is the lease manager, built at each unseal from sys/expire/:
// it restores the leases, revokes the overdue ones in the background and
// serves sys/leases, sys/renew and sys/revoke. Its gauges go to metrics;
// now is its clock (nil: time.Now); the running manager is kept in
// current for the reports.
func leaseService(metrics *monitor.Registry, now func() time.Time, current *atomic.Pointer[lease.Manager]) core.Service {
	return core.Service{Name: "leases", Paths: []string{"leases", "renew", "revoke", "revoke-prefix", "revoke-force"}, Storage: "sys/expire/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			m, err := lease.New(ctx, env.Storage, env.Engines, env.Logger, lease.Options{Metrics: metrics, Now: now})
			if err == nil {
				current.Store(m)
			}
			return m, err
		}}
}
