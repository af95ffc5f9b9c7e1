package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/migrate"
	"github.com/keyward/keyward/internal/storage/postgres"
	"github.com/keyward/keyward/internal/storage/raft"
)

const (
	// migrateOpenTimeout bounds connecting to PostgreSQL.
	migrateOpenTimeout = 30 * time.Second
	// raftLeaderWait bounds the wait for a one-node raft store to elect
	// itself; the election takes about one election timeout (5s at the
	// default performance multiplier).
	raftLeaderWait = 2 * time.Minute
)

func newOperatorMigrateCmd(e *env) *cobra.Command {
	var configFile, start string
	cmd := &cobra.Command{
		Use:   "migrate -config FILE",
		Short: "Copy the store offline from one storage backend to another",
		Long: `Copy every key of one storage backend into another, for moving a server
from the embedded bolt store to PostgreSQL or Raft, or back. It works at the
storage level: values are copied as the ciphertext they are, nothing is
decrypted, and no unseal key is needed. The same unseal key shares (and root
token) work on the new store.

It runs offline: stop every server using either store first. A running
server on a bolt or raft source holds its file lock, and migrate refuses to
start. The destination must be empty; migrate refuses to mix stores.

The file names the two stores as a server's storage block does, in Vault's
shape (see docs/config.md, "Migrating storage"):

  storage_source "bolt" {
    path = "/var/lib/keyward"
  }
  storage_destination "postgresql" {
    connection_url = "postgres://keyward@db.internal:5432/keyward"
    table          = "keyward_store"
  }

A raft destination also needs node_id, and cluster_addr at the top level:
the https://host:port the node will serve its cluster port on, recorded in
the new one-node cluster. inmem is not a valid source or destination.

Keys are copied in sorted order, in batches that each land whole. If the copy
stops part way (a lost connection, Ctrl-C), the error names the key to resume
from: rerun with -start set to it (or start = "KEY" in the file), which also
allows the non-empty destination. On success it prints the number of keys
copied.`,
		Example: `  keyward operator migrate -config migrate.hcl
  keyward operator migrate -config migrate.hcl -start "logical/4f0c"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				return usagef("-config is required")
			}
			m, err := config.LoadMigration(configFile)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("start") {
				m.Start = start
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runMigrate(ctx, m, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configFile, "config", "", "path to the migration file (storage_source and storage_destination blocks)")
	fl.StringVar(&start, "start", "", "copy only keys at or after this one, to resume an interrupted copy")
	return cmd
}

// runMigrate opens both stores, copies, and reports.
func runMigrate(ctx context.Context, m *config.Migration, stdout, stderr io.Writer) error {
	if sameStore(m.Source, m.Destination) {
		return fmt.Errorf("migrate: %w (%s)", migrate.ErrSameBackend, describeStore(m.Source))
	}
	// Errors only: raft reports a routine election as a warning.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	src, closeSrc, err := openMigrateStore(ctx, m.Source, "storage_source", m, logger, stderr)
	if err != nil {
		return err
	}
	defer closeSrc()
	dst, closeDst, err := openMigrateStore(ctx, m.Destination, "storage_destination", m, logger, stderr)
	if err != nil {
		return err
	}
	defer closeDst()

	opts := migrate.Options{Start: m.Start}
	if m.Destination.Type == "raft" {
		opts.MaxBatchBytes = m.Destination.MaxEntrySize
		if opts.MaxBatchBytes == 0 {
			opts.MaxBatchBytes = raft.DefaultMaxEntrySize
		}
	}
	n, err := migrate.Copy(ctx, dst, src, opts)
	var ie *migrate.InterruptedError
	switch {
	case errors.Is(err, migrate.ErrDestinationNotEmpty):
		return withHint(fmt.Errorf("migrate: %w: %s", err, describeStore(m.Destination)),
			"migrate copies only into an empty store; to resume an interrupted copy, pass the -start it printed")
	case errors.As(err, &ie):
		return withHint(fmt.Errorf("migrate: %w", err), fmt.Sprintf("fix the cause, then rerun with -start=%q to continue", ie.Resume))
	case err != nil:
		return fmt.Errorf("migrate: %w", err)
	}
	if n == 0 && m.Start == "" {
		return withHint(fmt.Errorf("migrate: %s holds no keys", describeStore(m.Source)),
			"check storage_source: an initialized store always holds keys")
	}
	if err := closeDst(); err != nil {
		return fmt.Errorf("migrate: close destination: %w", err)
	}
	if t := m.Destination.Type; t == "bolt" || t == "file" {
		// As a server does once it initializes a store: a store file later
		// found empty is then refused instead of offered for init.
		marker := filepath.Join(m.Destination.Path, node.MarkerFile)
		if err := os.WriteFile(marker, []byte("this directory holds an initialized Keyward store\n"), 0o600); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	fmt.Fprintf(stdout, "Copied %d keys from %s to %s\n", n, describeStore(m.Source), describeStore(m.Destination))
	return nil
}

// describeStore names a store for messages, without the connection URL
// (which may hold a password).
func describeStore(s config.Storage) string {
	switch s.Type {
	case "postgresql":
		table := s.Table
		if table == "" {
			table = postgres.DefaultTable
		}
		return fmt.Sprintf("postgresql table %s", table)
	case "bolt", "file":
		return fmt.Sprintf("bolt %s", filepath.Join(s.Path, node.DBFile))
	}
	return fmt.Sprintf("%s %s", s.Type, s.Path)
}

// sameStore reports whether two blocks name the same store.
func sameStore(a, b config.Storage) bool {
	kind := func(t string) string {
		if t == "file" {
			return "bolt"
		}
		return t
	}
	if kind(a.Type) != kind(b.Type) {
		return false
	}
	if a.Type == "postgresql" {
		ta, tb := a.Table, b.Table
		if ta == "" {
			ta = postgres.DefaultTable
		}
		if tb == "" {
			tb = postgres.DefaultTable
		}
		return ta == tb && a.ConnectionURL.Reveal() == b.ConnectionURL.Reveal()
	}
	pa, errA := filepath.Abs(a.Path)
	pb, errB := filepath.Abs(b.Path)
	return errA == nil && errB == nil && pa == pb
}

// openMigrateStore opens the store a migration block names, and what
// closes it (safe to call twice).
func openMigrateStore(ctx context.Context, s config.Storage, role string, m *config.Migration, logger *slog.Logger, warn io.Writer) (storage.Backend, func() error, error) {
	switch s.Type {
	case "bolt", "file":
		path := filepath.Join(s.Path, node.DBFile)
		if role == "storage_source" {
			if _, err := os.Stat(path); err != nil {
				return nil, nil, fmt.Errorf("migrate: %s: %w", role, err)
			}
		}
		st, err := bolt.Open(path, bolt.Options{Timeout: -1, Logger: logger})
		if errors.Is(err, bolt.ErrLocked) {
			return nil, nil, withHint(fmt.Errorf("migrate: %s: %w", role, err),
				"a server is still running on "+path+"; stop it first: migrate runs offline")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: %s: %w", role, err)
		}
		return st, onceCloser(st.Close), nil
	case "postgresql":
		octx, cancel := context.WithTimeout(ctx, migrateOpenTimeout)
		defer cancel()
		st, err := postgres.Open(octx, s.ConnectionURL, postgres.Options{Table: s.Table, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: %s: %w", role, err)
		}
		return st, onceCloser(st.Close), nil
	case "raft":
		return openMigrateRaft(ctx, s, role, m, logger, warn)
	}
	return nil, nil, fmt.Errorf("migrate: %s: storage type %q is not supported", role, s.Type)
}

// openMigrateRaft opens a raft store as a one-node cluster for the copy.
// Its cluster port listens on loopback only, with a throwaway cluster CA
// that lives in memory for the run: nothing can join, and no key material
// is written. A new destination directory is bootstrapped as a cluster of
// this node at cluster_addr, so the server that later serves it (with its
// own cluster CA) leads it under the same node_id.
func openMigrateRaft(ctx context.Context, s config.Storage, role string, m *config.Migration, logger *slog.Logger, warn io.Writer) (storage.Backend, func() error, error) {
	fail := func(err error) (storage.Backend, func() error, error) {
		return nil, nil, fmt.Errorf("migrate: %s: %w", role, err)
	}
	_, statErr := os.Stat(filepath.Join(s.Path, "raft.db"))
	fresh := errors.Is(statErr, os.ErrNotExist)
	if role == "storage_source" && fresh {
		return fail(fmt.Errorf("no raft store in %s", s.Path))
	}
	ca, err := raft.NewCA("keyward migrate (throwaway)", 24*time.Hour)
	if err != nil {
		return fail(err)
	}
	cert, err := ca.Issue(s.NodeID, 24*time.Hour, net.IPv4(127, 0, 0, 1))
	if err != nil {
		return fail(err)
	}
	cfg := raft.Config{
		Dir:                   s.Path,
		NodeID:                s.NodeID,
		BindAddr:              "127.0.0.1:0",
		TLS:                   raft.NodeTLS(ca.Pool(), cert),
		MaxEntrySize:          s.MaxEntrySize,
		PerformanceMultiplier: s.PerformanceMultiplier,
		Logger:                logger,
	}
	if role == "storage_destination" {
		if cfg.AdvertiseAddr, err = m.ClusterHostPort(); err != nil {
			return fail(err)
		}
	}
	st, err := raft.Open(cfg)
	if err != nil {
		return nil, nil, withHint(fmt.Errorf("migrate: %s: %w", role, err),
			"if a server is still running on "+s.Path+", stop it first: migrate runs offline")
	}
	closer := onceCloser(st.Close)
	if fresh {
		if err := st.Bootstrap(); err != nil {
			closer()
			return fail(err)
		}
	}
	servers, err := st.Configuration()
	if err != nil {
		closer()
		return fail(err)
	}
	if len(servers) != 1 || servers[0].ID != s.NodeID {
		if role == "storage_destination" {
			closer()
			return fail(fmt.Errorf("the raft store in %s belongs to a cluster of %d servers; migrate writes only a new one-node store", s.Path, len(servers)))
		}
		// A member of a larger cluster cannot elect itself: read its state
		// machine as it is.
		fmt.Fprintf(warn, "keyward: warning: the raft source is one of %d servers; copying this node's data as it is\n", len(servers))
		return st, closer, nil
	}
	// Leading commits and applies the log's tail, so the copy reads every
	// acknowledged write; a destination accepts writes only then.
	if err := waitLeader(ctx, st); err != nil {
		closer()
		return fail(err)
	}
	return st, closer, nil
}

// waitLeader waits for a one-node raft store to lead.
func waitLeader(ctx context.Context, st *raft.Store) error {
	ctx, cancel := context.WithTimeout(ctx, raftLeaderWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !st.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("raft node did not become leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// onceCloser returns a function calling close once and returning its error
// every time.
func onceCloser(close func() error) func() error {
	var (
		done bool
		err  error
	)
	return func() error {
		if !done {
			done, err = true, close()
		}
		return err
	}
}
