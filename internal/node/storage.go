package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/storage/postgres"
)

// storageOpenTimeout bounds connecting to an external store at startup.
const storageOpenTimeout = 30 * time.Second

// openStorage opens the backend the storage block names, and what closes
// it (nil when there is nothing to close). A postgresql store with
// ha_enabled gets its HA wiring from newPGHA (pgha.go).
func openStorage(cfg config.Storage, logger *slog.Logger) (storage.Backend, io.Closer, error) {
	switch cfg.Type {
	case "inmem":
		return inmem.New(), nil, nil
	case "bolt", "file":
		s, err := bolt.Open(filepath.Join(cfg.Path, DBFile), bolt.Options{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	case "postgresql":
		ctx, cancel := context.WithTimeout(context.Background(), storageOpenTimeout)
		defer cancel()
		s, err := postgres.Open(ctx, cfg.ConnectionURL, postgres.Options{Table: cfg.Table, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, fmt.Errorf("storage type %q is not supported", cfg.Type)
}
