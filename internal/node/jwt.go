package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
)

// withJWT adds the JWT/OIDC auth method, under both of Vault's type names (only the JWT
// login flow exists; "oidc" is an alias so Vault scripts enabling it work).
func withJWT(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.AuthMethods["jwt"] = jwt.Factory
	cc.AuthMethods["oidc"] = jwt.Factory
	return nil
}
