package node

import (
	"context"
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
)

var _ core.LeaseManager = (*lease.Manager)(nil)

// withLeases configures the lease manager, built at each unseal from sys/expire/: it restores
// the leases, revokes the overdue ones in the background and serves
// sys/leases, sys/renew and sys/revoke.
func withLeases(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Leases = func(ctx context.Context, view logical.Storage, engines core.LeaseEngines, logger *slog.Logger) (core.LeaseManager, error) {
		return lease.New(ctx, view, engines, logger, lease.Options{})
	}
	return nil
}
