package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/database"
)

// withDatabase adds the database secrets engine: dynamic users for PostgreSQL, MySQL/MariaDB
// and Redis, static-role rotation and root rotation.
func withDatabase(_ *config.Config, cc *core.Config, logger *slog.Logger) error {
	cc.Engines["database"] = database.NewFactory(database.Options{Logger: logger, Metrics: cc.Metrics})
	return nil
}
