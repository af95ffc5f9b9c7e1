package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/keyward/keyward/internal/storage"
)

var _ storage.Backend = (*Store)(nil)

const (
	// DefaultMaxEntrySize is the largest encoded write (one Put, Delete or
	// Batch) when Config.MaxEntrySize is zero: 1 MiB, as Vault's
	// max_entry_size.
	DefaultMaxEntrySize = 1 << 20
	// DefaultPerformanceMultiplier scales raft's base timeouts when
	// Config.PerformanceMultiplier is zero. As in Vault, 1 is the tightest
	// (for fast, dedicated machines) and larger values tolerate slower ones.
	DefaultPerformanceMultiplier = 5
	// DefaultApplyTimeout bounds how long a write waits to be enqueued.
	DefaultApplyTimeout = 10 * time.Second

	// Base timeouts, multiplied by the performance multiplier.
	baseHeartbeatTimeout   = time.Second
	baseElectionTimeout    = time.Second
	baseLeaderLeaseTimeout = 500 * time.Millisecond

	snapshotsRetained = 2
)

var (
	// ErrNotLeader is wrapped by a write, or a membership change, on a node
	// that is not the leader; the error is a *NotLeaderError naming the
	// leader when one is known.
	ErrNotLeader = fmt.Errorf("not the raft leader: %w", storage.ErrNotActive)
	// ErrEntryTooLarge is wrapped by a write whose encoded entry exceeds
	// Config.MaxEntrySize; nothing is written. It is the client's error
	// (HTTP 413).
	ErrEntryTooLarge = fmt.Errorf("raft entry too large: %w", storage.ErrValueTooLarge)
	// ErrLeadershipLost is wrapped by a write whose outcome is unknown: the
	// node lost leadership before the entry committed. It may yet commit.
	ErrLeadershipLost = fmt.Errorf("raft leadership lost; the write may or may not have committed: %w", storage.ErrNotActive)
	// ErrClosed is wrapped by operations on a closed Store.
	ErrClosed = errors.New("raft storage closed")
	// ErrAlreadyBootstrapped is wrapped by Bootstrap on a node with state.
	ErrAlreadyBootstrapped = errors.New("raft node already has state")
)

// NotLeaderError is returned by writes on a follower. LeaderID and
// LeaderAddr are empty when no leader is known.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "not the raft leader (no leader known)"
	}
	return fmt.Sprintf("not the raft leader (leader is %s at %s)", e.LeaderID, e.LeaderAddr)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// Config configures Open. Dir, NodeID, BindAddr and TLS are required.
type Config struct {
	// Dir holds raft.db (log and stable store), fsm.db (the data) and
	// snapshots/. It is created 0700.
	Dir string
	// NodeID names this node in the cluster configuration; it must never
	// change for a Dir.
	NodeID string
	// BindAddr is the host:port the cluster port listens on ("127.0.0.1:0"
	// picks a free port; see Store.Addr).
	BindAddr string
	// AdvertiseAddr is the host:port peers dial; empty means the listener's
	// address, which then must not be unspecified (0.0.0.0).
	AdvertiseAddr string
	// TLS holds the node certificate and the cluster CA in RootCAs and
	// ClientCAs (see NodeTLS). Open enforces TLS 1.3 and verified client
	// certificates. OpenLocal does not need it: Start takes it.
	TLS *tls.Config
	// Protocols are the other services of the cluster port, by ALPN
	// protocol name: a connection from a verified peer that negotiates one
	// is handed to its function, which owns it.
	Protocols map[string]func(net.Conn)

	// MaxEntrySize caps the encoded size of one write; zero means
	// DefaultMaxEntrySize.
	MaxEntrySize int
	// PerformanceMultiplier scales raft's base timeouts (heartbeat and
	// election 1s, leader lease 500ms); zero means
	// DefaultPerformanceMultiplier.
	PerformanceMultiplier int
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout, when
	// nonzero, replace the values derived from PerformanceMultiplier.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// ApplyTimeout bounds how long a write waits to enter the raft queue;
	// zero means DefaultApplyTimeout.
	ApplyTimeout time.Duration
	// SnapshotThreshold and SnapshotInterval: zero means raft's defaults
	// (8192 entries, checked every 120s).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is how many entries stay after a snapshot; zero means
	// raft's default (10240).
	TrailingLogs uint64

	// Logger receives raft events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("raft: Dir is required"))
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("raft: NodeID is required"))
	}
	if c.BindAddr == "" {
		errs = append(errs, errors.New("raft: BindAddr is required"))
	}
	if c.MaxEntrySize < 0 {
		errs = append(errs, errors.New("raft: MaxEntrySize must not be negative"))
	}
	if c.PerformanceMultiplier < 0 || c.PerformanceMultiplier > 10 {
		errs = append(errs, errors.New("raft: PerformanceMultiplier must be between 0 and 10"))
	}
	if c.HeartbeatTimeout < 0 || c.ElectionTimeout < 0 || c.LeaderLeaseTimeout < 0 || c.ApplyTimeout < 0 {
		errs = append(errs, errors.New("raft: timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

// raftConfig derives hashicorp/raft's configuration from c.
func (c *Config) raftConfig(logger *slog.Logger) (*hraft.Config, error) {
	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(c.NodeID)
	m := time.Duration(c.PerformanceMultiplier)
	if m == 0 {
		m = DefaultPerformanceMultiplier
	}
	rc.HeartbeatTimeout = orDerived(c.HeartbeatTimeout, baseHeartbeatTimeout*m)
	rc.ElectionTimeout = orDerived(c.ElectionTimeout, baseElectionTimeout*m)
	rc.LeaderLeaseTimeout = orDerived(c.LeaderLeaseTimeout, baseLeaderLeaseTimeout*m)
	if c.SnapshotThreshold != 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	}
	if c.SnapshotInterval != 0 {
		rc.SnapshotInterval = c.SnapshotInterval
	}
	if c.TrailingLogs != 0 {
		rc.TrailingLogs = c.TrailingLogs
	}
	rc.BatchApplyCh = true // concurrent writers share an AppendEntries and an fsync
	// The state machine is a durable file that is never older than the
	// newest snapshot (Open restores it first when it is); raft must not
	// roll it back to that snapshot on every start.
	rc.NoSnapshotRestoreOnStart = true
	rc.Logger = newHclog(logger, "raft")
	if err := hraft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	return rc, nil
}

func orDerived(set, derived time.Duration) time.Duration {
	if set != 0 {
		return set
	}
	return derived
}

// Store is a storage.Backend replicated with Raft. Reads are served from
// the local state machine, so a follower's reads may lag the leader's.
// Writes go through the leader: Put, Delete and Batch return nil once the
// entry is committed by a quorum and applied locally. It is safe for
// concurrent use and only ever holds ciphertext.
type Store struct {
	id           string
	maxEntry     int
	applyTimeout time.Duration
	logger       *slog.Logger

	cfg   Config
	rc    *hraft.Config
	fsm   *fsm
	logs  *logStore
	snaps *hraft.FileSnapshotStore
	dir   string

	// startMu guards Start; raft, trans and stream are set once by it and
	// read through net.
	startMu sync.Mutex
	net     atomic.Pointer[network]

	lead leadership

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// network is what Start adds: the cluster port and the raft instance.
type network struct {
	raft   *hraft.Raft
	trans  *hraft.NetworkTransport
	stream *tlsStream
}

// Open opens the node's state in cfg.Dir and starts it (OpenLocal, then
// Start with cfg.TLS). A new node has no cluster: call Bootstrap on the
// first one, then AddVoter on the leader for the others.
func Open(cfg Config) (*Store, error) {
	if cfg.TLS == nil {
		return nil, errors.New("raft: TLS is required")
	}
	s, err := OpenLocal(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(cfg.TLS); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenLocal opens (creating) the node's state in cfg.Dir without starting
// raft: reads are served from the local state machine, and writes fail
// with a *NotLeaderError until Start. A node whose certificate is kept
// behind the barrier reads what it needs to unseal this way, then starts.
func OpenLocal(cfg Config) (_ *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "raft", "node_id", cfg.NodeID)
	rc, err := cfg.raftConfig(logger)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: create data directory: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: data directory: %w", err)
	}
	s := &Store{
		id:           cfg.NodeID,
		maxEntry:     cfg.MaxEntrySize,
		applyTimeout: cfg.ApplyTimeout,
		logger:       logger,
		dir:          cfg.Dir,
		cfg:          cfg,
		rc:           rc,
	}
	s.lead.init()
	if s.maxEntry == 0 {
		s.maxEntry = DefaultMaxEntrySize
	}
	if s.applyTimeout == 0 {
		s.applyTimeout = DefaultApplyTimeout
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
		}
	}()
	if s.logs, err = openLogStore(filepath.Join(cfg.Dir, "raft.db")); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	closers = append(closers, s.logs.Close)
	if s.snaps, err = hraft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, newHclog(logger, "snapshot")); err != nil {
		return nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	if s.fsm, err = openFSM(filepath.Join(cfg.Dir, "fsm.db"), logger); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	closers = append(closers, s.fsm.close)
	if err := s.catchUpFromSnapshot(); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	return s, nil
}

// HasState reports whether the node has ever been part of a cluster (its
// log, snapshots or state machine hold anything).
func (s *Store) HasState() (bool, error) {
	ok, err := hraft.HasExistingState(s.logs, s.logs, s.snaps)
	if err != nil {
		return false, fmt.Errorf("raft: %w", err)
	}
	return ok || s.fsm.appliedIndex() > 0, nil
}

// Start opens the cluster port with tlsCfg (see NodeTLS; TLS 1.3 and
// verified client certificates are enforced) and starts raft, which joins
// whatever cluster the node's state names. It runs once; a second call
// fails.
func (s *Store) Start(tlsCfg *tls.Config) (err error) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.net.Load() != nil {
		return errors.New("raft: already started")
	}
	n := &network{}
	n.stream, err = listenTLS(s.cfg.BindAddr, s.cfg.AdvertiseAddr, s.removedCheck(tlsCfg), s.cfg.Protocols)
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	n.trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  n.stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHclog(s.logger, "transport"),
	})
	cache, err := hraft.NewLogCache(512, s.logs)
	if err != nil {
		n.trans.Close()
		return fmt.Errorf("raft: %w", err)
	}
	rc := *s.rc
	notify := make(chan bool, 8)
	rc.NotifyCh = notify
	if n.raft, err = hraft.NewRaft(&rc, s.fsm, cache, s.logs, s.snaps, n.trans); err != nil {
		n.trans.Close()
		return fmt.Errorf("raft: %w", err)
	}
	go s.lead.watch(notify, n.raft)
	s.net.Store(n)
	s.logger.Info("raft node started", "addr", n.stream.Addr().String())
	return nil
}

// Started reports whether Start has run.
func (s *Store) Started() bool { return s.net.Load() != nil }

// running returns the network, or a *NotLeaderError before Start.
func (s *Store) running() (*network, error) {
	n := s.net.Load()
	if n == nil {
		return nil, &NotLeaderError{}
	}
	return n, nil
}

// catchUpFromSnapshot restores the newest snapshot into the state machine
// when the file is older than it (lost, or a restore was interrupted), so
// that raft, which starts applying after the snapshot, finds it complete.
func (s *Store) catchUpFromSnapshot() error {
	list, err := s.snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	last, err := s.logs.LastIndex()
	if err != nil {
		return err
	}
	applied := s.fsm.appliedIndex()
	if len(list) > 0 {
		last = max(last, list[0].Index)
	}
	if applied > last {
		// Entries the log will write again at those indexes would be skipped.
		return fmt.Errorf("state machine applied index %d is past the log and snapshots (%d): raft.db was lost or replaced", applied, last)
	}
	if len(list) == 0 || applied >= list[0].Index {
		return nil
	}
	meta, rc, err := s.snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	if err := s.fsm.restoreAt(rc, meta.Index); err != nil {
		return err
	}
	s.logger.Info("state machine restored from snapshot", "index", meta.Index)
	return nil
}

// ID returns the node ID.
func (s *Store) ID() string { return s.id }

// Addr returns the advertised cluster address; empty before Start.
func (s *Store) Addr() string {
	if n := s.net.Load(); n != nil {
		return n.stream.Addr().String()
	}
	return ""
}

// Get returns the locally applied value at key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	v, err := s.fsm.get(key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("get %q: %w", storage.LogKey(key), s.mapErr(err))
	}
	return v, nil
}

// List lists prefix from the locally applied state.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := storage.CheckKey(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	names, err := s.fsm.list(prefix)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), s.mapErr(err))
	}
	return names, nil
}

func (s *Store) readable(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.lead.strict.Load() {
		// The node acts as the active one: it may serve only what it
		// knows is current (see Fence).
		return s.Fence(ctx)
	}
	return nil
}

// Put stores value at key through the leader.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if err := s.write(ctx, []storage.Op{{Key: key, Value: value}}); err != nil {
		return fmt.Errorf("put %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Delete removes key through the leader; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.write(ctx, []storage.Op{{Key: key, Delete: true}}); err != nil {
		return fmt.Errorf("delete %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Batch applies ops in order as one raft entry: all or none.
func (s *Store) Batch(ctx context.Context, ops []storage.Op) error {
	if err := s.write(ctx, ops); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}

func (s *Store) write(ctx context.Context, ops []storage.Op) error {
	if err := storage.CheckOps(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return ctx.Err()
	}
	cmd := encodeCommand(ops)
	if len(cmd) > s.maxEntry {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrEntryTooLarge, len(cmd), s.maxEntry)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := s.running()
	if err != nil {
		return err
	}
	if n.raft.State() != hraft.Leader {
		return s.notLeader()
	}
	start := s.lead.now()
	f := n.raft.Apply(cmd, s.applyTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return s.mapErr(err)
		}
	case <-ctx.Done():
		return fmt.Errorf("write may or may not commit: %w", ctx.Err())
	}
	// The entry committed: a quorum followed this node after start, which
	// renews the read lease as a Fence confirmation would.
	s.lead.extendLease(start + int64(s.rc.HeartbeatTimeout/2))
	if err, ok := f.Response().(error); ok && err != nil {
		return s.mapErr(err)
	}
	return nil
}

func (s *Store) notLeader() error {
	n := s.net.Load()
	if n == nil {
		return &NotLeaderError{}
	}
	addr, id := n.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

func (s *Store) mapErr(err error) error {
	switch {
	case errors.Is(err, hraft.ErrNotLeader):
		return s.notLeader()
	case errors.Is(err, hraft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, hraft.ErrRaftShutdown):
		return ErrClosed
	case s.closed.Load():
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// Server is one member of the cluster configuration.
type Server struct {
	ID      string
	Address string
	Voter   bool
}

// Bootstrap makes this node a one-voter cluster and so, shortly, its
// leader. It fails with ErrAlreadyBootstrapped on a node with state.
func (s *Store) Bootstrap() error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("bootstrap: raft is not started")
	}
	conf := hraft.Configuration{Servers: []hraft.Server{{
		Suffrage: hraft.Voter, ID: hraft.ServerID(s.id), Address: n.trans.LocalAddr(),
	}}}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
		if errors.Is(err, hraft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: %w", ErrAlreadyBootstrapped)
		}
		return fmt.Errorf("bootstrap: %w", s.mapErr(err))
	}
	return nil
}

// AddVoter adds (or promotes) a voting member; only the leader can.
func (s *Store) AddVoter(id, addr string) error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	if err := n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, s.applyTimeout).Error(); err != nil {
		return fmt.Errorf("add voter %s: %w", id, s.mapErr(err))
	}
	return nil
}

// AddNonvoter adds a member that receives the log but does not vote.
func (s *Store) AddNonvoter(id, addr string) error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("add nonvoter %s: %w", id, err)
	}
	if err := n.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, s.applyTimeout).Error(); err != nil {
		return fmt.Errorf("add nonvoter %s: %w", id, s.mapErr(err))
	}
	return nil
}

// RemoveServer removes a member; only the leader can. The node's id is
// recorded as removed first, so that every member refuses its cluster
// certificate from then on: a removed node cannot come back with its old
// data, only by joining anew with an empty directory.
func (s *Store) RemoveServer(id string) error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	if id == s.id {
		return fmt.Errorf("remove server %s: a node cannot remove itself; step down and remove it from the new leader", id)
	}
	if err := s.write(context.Background(), []storage.Op{{Key: removedPrefix + id, Value: []byte("removed")}}); err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	if err := n.raft.RemoveServer(hraft.ServerID(id), 0, s.applyTimeout).Error(); err != nil {
		return fmt.Errorf("remove server %s: %w", id, s.mapErr(err))
	}
	return nil
}

// Readmit clears a removed node's id, so that it can join again (with an
// empty directory: a node with state cannot join). Only the leader can.
func (s *Store) Readmit(id string) error {
	if err := s.write(context.Background(), []storage.Op{{Key: removedPrefix + id, Delete: true}}); err != nil {
		return fmt.Errorf("readmit %s: %w", id, err)
	}
	return nil
}

// removedPrefix holds the ids of removed nodes, in plain text beside the
// ciphertext (node ids are not secret: raft.db holds them too).
const removedPrefix = "raft/removed/"

// Removed reports whether id was removed from the cluster (as this node's
// state machine knows).
func (s *Store) Removed(id string) bool {
	_, err := s.fsm.get(removedPrefix + id)
	return err == nil
}

// removedCheck returns cfg with a check that refuses a peer whose
// certificate names a removed node, in both directions.
func (s *Store) removedCheck(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	cfg = cfg.Clone()
	prev := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) > 0 {
			if id := cs.PeerCertificates[0].Subject.CommonName; s.Removed(id) {
				return fmt.Errorf("cluster peer %q was removed from the cluster", id)
			}
		}
		return nil
	}
	return cfg
}

// Configuration returns the latest cluster configuration.
func (s *Store) Configuration() ([]Server, error) {
	n, err := s.running()
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("configuration: %w", s.mapErr(err))
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(srv.ID), Address: string(srv.Address), Voter: srv.Suffrage == hraft.Voter})
	}
	return out, nil
}

// Leader returns the current leader's ID and address, empty if unknown.
func (s *Store) Leader() (id, addr string) {
	n := s.net.Load()
	if n == nil {
		return "", ""
	}
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node believes it is the leader.
func (s *Store) IsLeader() bool {
	n := s.net.Load()
	return n != nil && n.raft.State() == hraft.Leader
}

// Stats are the figures sys/storage/raft/autopilot/state reports for this
// node.
type Stats struct {
	State        string // Leader, Follower, Candidate, Shutdown
	Term         uint64
	LastIndex    uint64
	AppliedIndex uint64
	CommitIndex  uint64
	LastContact  time.Duration // since the leader was last heard (followers); 0 on the leader
}

// Stats returns this node's raft figures.
func (s *Store) Stats() Stats {
	st := Stats{State: "Shutdown", AppliedIndex: s.fsm.appliedIndex()}
	n := s.net.Load()
	if n == nil {
		return st
	}
	st.State = n.raft.State().String()
	st.Term = n.raft.CurrentTerm()
	st.LastIndex = n.raft.LastIndex()
	st.CommitIndex = n.raft.CommitIndex()
	if st.State != "Leader" {
		if lc := n.raft.LastContact(); !lc.IsZero() {
			st.LastContact = time.Since(lc)
		}
	}
	return st
}

// SaveSnapshot takes a raft snapshot and streams it to w. The stream is the
// state machine file (ciphertext values) as of the snapshot's index.
func (s *Store) SaveSnapshot(w io.Writer) error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	f := n.raft.Snapshot()
	if err := f.Error(); err != nil {
		return fmt.Errorf("save snapshot: %w", s.mapErr(err))
	}
	_, rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// RestoreSnapshot replaces the cluster's data with a stream written by
// SaveSnapshot; only the leader can. The stream is spooled to Dir and
// checked first, so a truncated or foreign stream fails without touching
// the data. Writes in flight are aborted.
func (s *Store) RestoreSnapshot(r io.Reader) error {
	n, err := s.running()
	if err != nil || n.raft.State() != hraft.Leader {
		return fmt.Errorf("restore snapshot: %w", s.notLeader())
	}
	spool, err := os.CreateTemp(s.dir, "upload-*.snap")
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	tmp := spool.Name()
	spool.Close()
	defer os.Remove(tmp)
	if err := writeRestoreFile(tmp, r); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	meta := &hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Size: fi.Size()}
	if err := n.raft.Restore(meta, f, s.applyTimeout); err != nil {
		return fmt.Errorf("restore snapshot: %w", s.mapErr(err))
	}
	return nil
}

// Close stops raft, the cluster port and the files. Other members see the
// node as down; it stays in the configuration.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.startMu.Lock()
		defer s.startMu.Unlock()
		s.closed.Store(true)
		var errs []error
		if n := s.net.Load(); n != nil {
			errs = append(errs, n.raft.Shutdown().Error(), n.trans.Close())
		}
		s.lead.stop()
		errs = append(errs, s.logs.Close(), s.fsm.close())
		s.closeErr = errors.Join(errs...)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("raft: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// Snapshot takes a raft snapshot (or, when nothing was written since the
// last one, reuses it) and hands fn its size and contents: the state
// machine file, ciphertext values, as of the snapshot's index. The node
// keeps serving meanwhile.
func (s *Store) Snapshot(ctx context.Context, fn func(size int64, data io.WriterTo) error) error {
	n, err := s.running()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	var id string
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, hraft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot: %w", s.mapErr(err))
	}
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 {
		return fmt.Errorf("snapshot: no snapshot to read: %v", err)
	}
	id = list[0].ID
	meta, rc, err := s.snaps.Open(id)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer rc.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(meta.Size, readerTo{rc})
}

// readerTo is an io.WriterTo over a reader.
type readerTo struct{ r io.Reader }

func (t readerTo) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, t.r) }
