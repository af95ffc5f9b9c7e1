package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
)

// auditService is the audit broker, built at each unseal. Audit files live only in the
// audit directory (config audit.dir, or its default), never in the storage
// directory, the configuration file or TLS files; raw logging and unsafe
// targets stay refused unless the server configuration's audit block
// allows them.
func auditService(cfg *config.Config, logger *slog.Logger) (core.Service, error) {
	opts := audit.Options{AllowLogRaw: cfg.Audit.AllowLogRaw, AllowUnsafe: cfg.Audit.AllowUnsafePaths, Protected: protectedPaths(cfg)}
	dir, err := auditDir(cfg, opts)
	if err != nil {
		return core.Service{}, err
	}
	opts.Dir = dir
	// The default inside the storage path appears only once used.
	opts.CreateDir = cfg.Audit.Dir == "" && cfg.Storage.Path != ""
	if err := opts.Check(); err != nil {
		return core.Service{}, fmt.Errorf("audit: %w", err)
	}
	logger.Info("audit files may be written only under the audit directory", "dir", dir)
	return core.Service{Name: "audit", Paths: []string{"audit", "audit-hash"}, Storage: "sys/audit/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			b, err := audit.New(ctx, env.Storage, env.Logger, opts)
			if err != nil {
				return nil, err
			}
			go reopenOnHangup(b, env.Logger)
			return b, nil
		}}, nil
}

var _ core.AuditBroker = (*audit.Broker)(nil)

// protectedPaths are what no audit file may be, and the audit directory may
// neither be nor hold.
func protectedPaths(cfg *config.Config) []string {
	var out []string
	for _, p := range []string{cfg.Storage.Path, cfg.File} {
		if p != "" {
			out = append(out, p)
		}
	}
	for _, l := range cfg.Listeners {
		for _, p := range []string{l.TLSCertFile, l.TLSKeyFile} {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// auditDir returns the audit directory: audit.dir when set (created 0700
// if missing), else "audit" inside the storage path (created when first
// used), else (in-memory storage, dev mode) keyward-audit-UID under the
// system temporary directory, or a fresh private directory there if that
// name is taken by someone else.
func auditDir(cfg *config.Config, opts audit.Options) (string, error) {
	switch {
	case cfg.Audit.Dir != "":
		opts.Dir = cfg.Audit.Dir
		if err := opts.Check(); err != nil { // before creating anything
			return "", fmt.Errorf("audit: %w", err)
		}
		if err := os.MkdirAll(cfg.Audit.Dir, 0o700); err != nil {
			return "", fmt.Errorf("audit: create dir: %w", err)
		}
		return cfg.Audit.Dir, nil
	case cfg.Storage.Path != "":
		d, err := filepath.Abs(filepath.Join(cfg.Storage.Path, "audit"))
		if err != nil {
			return "", fmt.Errorf("audit: dir: %w", err)
		}
		return d, nil // created by the first file device (Options.CreateDir)
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("keyward-audit-%d", os.Geteuid()))
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("audit: create dir: %w", err)
	}
	if privateDir(d) {
		return d, nil
	}
	d, err := os.MkdirTemp("", "keyward-audit-")
	if err != nil {
		return "", fmt.Errorf("audit: create dir: %w", err)
	}
	return d, nil
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
