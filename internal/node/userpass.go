package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/auth/userpass"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
)

// withUserpass adds the userpass auth method with TOTP (sys/auth/PATH {type: userpass}).
func withUserpass(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.AuthMethods["userpass"] = userpass.Factory
	return nil
}
