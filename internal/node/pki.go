package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/pki"
)

// withPKI adds the pki secrets engine (a certificate authority).
func withPKI(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Engines["pki"] = pki.Factory
	return nil
}
