package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/lease"
)

// The lease manager is built at each unseal from sys/expire/: it restores
// the leases, revokes the overdue ones in the background and serves
// sys/leases, sys/renew and sys/revoke.
func init() {
	addService(func(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
		cc.Leases = lease.Factory(lease.Options{})
		return nil
	})
}
