package node

import (
	"context"

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
// serves sys/leases, sys/renew and sys/revoke. Its gauges go to metrics.
func leaseService(metrics *monitor.Registry) core.Service {
	return core.Service{Name: "leases", Paths: []string{"leases", "renew", "revoke", "revoke-prefix", "revoke-force"}, Storage: "sys/expire/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			return lease.New(ctx, env.Storage, env.Engines, env.Logger, lease.Options{Metrics: metrics})
		}}
}
