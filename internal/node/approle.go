package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/auth/approle"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
)

// withAppRole adds the AppRole auth method (sys/auth/PATH {type: approle}).
func withAppRole(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.AuthMethods["approle"] = approle.Factory
	return nil
}
