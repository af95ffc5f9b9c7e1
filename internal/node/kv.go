package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/kv"
)

// withKV adds the KV secrets engine (versions 1 and 2) and its in-place
// upgrade from version 1 to 2 (a tune of options.version).
func withKV(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Engines["kv"] = kv.Factory
	cc.KVUpgrade = &core.KVUpgrade{Prepare: kv.PrepareUpgrade, Abort: kv.AbortUpgrade}
	return nil
}
