package node

import (
	"context"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/wrapping"
)

var _ core.Wrapper = (*wrapping.Wrapper)(nil)

// wrappingService is response wrapping (sys/wrapping/*, X-Vault-Wrap-TTL), always on.
func wrappingService() core.Service {
	return core.Service{Name: "response wrapping", Paths: []string{"wrapping"}, Storage: "sys/wrapping/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			return wrapping.New(ctx, env.Storage, env.Logger, wrapping.Options{})
		}}
}
