package node

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
)

// The audit broker is built at each unseal. Audit files must never land in
// the storage directory; raw logging and unsafe targets stay refused unless
// the server configuration's audit block allows them.
func init() {
	addService(func(cfg *config.Config, cc *core.Config, _ *slog.Logger) error {
		opts := audit.Options{AllowLogRaw: cfg.Audit.AllowLogRaw, AllowUnsafe: cfg.Audit.AllowUnsafePaths}
		if cfg.Storage.Path != "" {
			opts.ForbiddenDirs = []string{cfg.Storage.Path}
		}
		cc.Audit = func(ctx context.Context, view logical.Storage, logger *slog.Logger) (core.AuditBroker, error) {
			b, err := audit.New(ctx, view, logger, opts)
			if err != nil {
				return nil, err
			}
			go reopenOnHangup(b, logger)
			return b, nil
		}
		return nil
	})
}

// reopenOnHangup reopens audit files on SIGHUP (after logrotate) until the
// broker closes.
func reopenOnHangup(b *audit.Broker, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-b.Done():
			return
		case <-hup:
			if err := b.Reopen(); err != nil {
				logger.Error("audit reopen after SIGHUP", "err", err)
			} else {
				logger.Info("audit devices reopened after SIGHUP")
			}
		}
	}
}
