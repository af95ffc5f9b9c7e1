package node

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/passpol"
)

// sysServices are the sys/ services, in start order: the core closes them
// in the reverse, so audit is up first and closed last, and the lease
// manager's revocations while closing are still audited. Adding one is a
// line here (and a file with its constructor).
func sysServices(cfg *config.Config, metrics *monitor.Registry, leases *atomic.Pointer[lease.Manager], logger *slog.Logger) ([]core.Service, error) {
	audit, err := auditService(cfg, logger)
	if err != nil {
		return nil, err
	}
	return []core.Service{
		audit,
		passwordPolicyService(),
		wrappingService(),
		leaseService(metrics, cfg.Now, leases),
		metricsService(metrics),
		toolsService(),
	}, nil
}

// passwordPolicies serves sys/policies/password and generates passwords
// for engines (core.PasswordGenerator); it holds nothing to close.
type passwordPolicies struct{ *passpol.Store }

func (passwordPolicies) Close() error { return nil }

var _ core.PasswordGenerator = passwordPolicies{}

func passwordPolicyService() core.Service {
	return core.Service{Name: "password policies", Paths: []string{"policies/password"}, Storage: passpol.StoragePrefix,
		New: func(_ context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			return passwordPolicies{passpol.NewStore(env.Storage)}, nil
		}}
}

// metricsService serves sys/metrics from the node's registry.
func metricsService(metrics *monitor.Registry) core.Service {
	return core.Service{Name: "metrics", Paths: []string{"metrics"},
		New: func(context.Context, core.ServiceEnv) (core.ServiceBackend, error) {
			return monitor.NewBackend(metrics), nil
		}}
}
