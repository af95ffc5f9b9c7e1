package node

import (
	"context"
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/wrapping"
)

// withWrapping turns on response wrapping (sys/wrapping/*, X-Vault-Wrap-TTL), always on.
func withWrapping(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Wrap = func(ctx context.Context, view logical.Storage, logger *slog.Logger) (core.Wrapper, error) {
		return wrapping.New(ctx, view, logger, wrapping.Options{})
	}
	return nil
}
