package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/transit"
)

// withTransit adds the transit secrets engine (encryption as a service).
func withTransit(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Engines["transit"] = transit.Factory
	return nil
}
