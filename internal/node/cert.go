package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/auth/cert"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
)

// withCert adds the TLS certificate auth method (sys/auth/PATH {type: cert}). TLS
// listeners already request (never require) client certificates.
func withCert(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.AuthMethods["cert"] = cert.Factory
	return nil
}
