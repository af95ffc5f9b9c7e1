package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/raft"
)

// Cluster-port protocols besides raft's own (ALPN names).
const protoCluster = "keyward-cluster/1"

// Barrier paths of the cluster's own state.
const (
	// clusterTLSPath holds the cluster CA (certificate and key): every
	// unsealed node issues its own cluster certificate from it.
	clusterTLSPath = "core/cluster/tls"
	// challengePath is the path join challenges are sealed at.
	challengePath = "core/raft/challenge"
	// nonVoterPath lists nodes that joined as non-voters: autopilot
	// leaves them so.
	nonVoterPath = "core/cluster/non-voter/"
	// autopilotPath holds the autopilot configuration.
	autopilotPath = "core/cluster/autopilot"
)

// Validity of the cluster CA and of the node certificates issued from it
// (a node issues itself a new one at every unseal).
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	nodeValidity = 365 * 24 * time.Hour
)

// raftCluster is a node's part in a raft cluster: the raft store, the
// cluster CA and this node's certificate, joins (as a new node and, on
// the active node, as the one admitting it), request forwarding from
// standbys, standby heartbeats and autopilot.
type raftCluster struct {
	cfg    *config.Config
	logger *slog.Logger
	nodeID string
	store  *raft.Store
	phys   *joinOverlay // the storage the core sees

	// core and api are set once the node is built, before it serves.
	core *core.Core
	api  *httpapi.API

	mu        sync.Mutex
	pendingCA *raft.CA     // created by BeforeInitialize, stored at OnUnsealed
	join      *pendingJoin // a join waiting for the unseal keys
	client    *tls.Config  // this node's cluster client TLS, once started

	admit   *admissions // on the active node: pending challenges
	echoes  *echoBook   // on the active node: standbys' heartbeats
	fwd     *forwarder
	srv     *http.Server
	conns   *connQueue
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

// newRaftCluster opens the raft store locally (its cluster port starts
// at init or unseal, once the node holds its certificate).
func newRaftCluster(cfg *config.Config, logger *slog.Logger) (*raftCluster, error) {
	c := &raftCluster{cfg: cfg, logger: logger.With("component", "cluster"), nodeID: cfg.Storage.NodeID,
		admit: newAdmissions(), echoes: newEchoBook(), conns: newConnQueue(), stop: make(chan struct{})}
	advertise, err := cfg.ClusterAdvertise()
	if err != nil {
		return nil, err
	}
	s, err := raft.OpenLocal(raft.Config{
		Dir:                   cfg.Storage.Path,
		NodeID:                cfg.Storage.NodeID,
		BindAddr:              cfg.ClusterBind(),
		AdvertiseAddr:         advertise,
		PerformanceMultiplier: cfg.Storage.PerformanceMultiplier,
		MaxEntrySize:          cfg.Storage.MaxEntrySize,
		Protocols:             map[string]func(net.Conn){protoCluster: c.conns.put},
		Logger:                logger,
	})
	if err != nil {
		return nil, err
	}
	c.store = s
	c.phys = &joinOverlay{Store: s}
	c.fwd = newForwarder(c)
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serveCluster), ReadHeaderTimeout: 10 * time.Second, ConnContext: peerContext,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.srv.Serve(c.conns)
	}()
	return c, nil
}

// Close stops the cluster's background work and the store.
func (c *raftCluster) Close() error {
	c.stopped.Do(func() { close(c.stop) })
	c.srv.Close()
	c.conns.Close()
	c.fwd.close()
	err := c.store.Close()
	c.wg.Wait()
	return err
}

// coreConfig fills the core's configuration with the cluster: its
// storage, HA lock and hooks.
func (c *raftCluster) coreConfig(cc *core.Config) {
	cc.Storage = c.phys
	cc.StorageType = "raft"
	cc.HA = c.store
	cc.NodeID = c.nodeID
	cc.ClusterAddr = c.cfg.ClusterAddr
	cc.BeforeInitialize = c.beforeInitialize
	cc.OnUnsealed = c.onUnsealed
	cc.LeaderInfo = func() map[string]any {
		st := c.store.Stats()
		return map[string]any{"raft_committed_index": st.CommitIndex, "raft_applied_index": st.AppliedIndex}
	}
	cc.SealedPaths = map[string]func(context.Context, *logical.Request) (*logical.Response, error){
		"sys/storage/raft/join": c.joinReq,
	}
}

// attach records the built core and API, and starts the loops that need
// them (retry_join, standby heartbeats).
func (c *raftCluster) attach(co *core.Core, api *httpapi.API) {
	c.core, c.api = co, api
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.retryJoin()
	}()
	go func() {
		defer c.wg.Done()
		c.echoLoop()
	}()
}

// beforeInitialize makes a new node a one-node cluster that it leads, with
// a new cluster CA, before the core writes its first entry.
func (c *raftCluster) beforeInitialize(ctx context.Context) error {
	has, err := c.store.HasState()
	if err != nil {
		return err
	}
	if has || c.store.Started() {
		return errors.New("this node is already part of a raft cluster: initialize the cluster once, on its first node, and join the others to it")
	}
	c.mu.Lock()
	pending := c.join != nil
	c.mu.Unlock()
	if pending {
		return errors.New("this node is joining a raft cluster: unseal it with the cluster's keys instead")
	}
	ca, err := c.startWithNewCA()
	if err != nil {
		return err
	}
	if err := c.store.Bootstrap(); err != nil {
		return err
	}
	for !c.store.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the new cluster to elect this node: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.mu.Lock()
	c.pendingCA = ca
	c.mu.Unlock()
	c.logger.Info("bootstrapped a new raft cluster", "node_id", c.nodeID)
	return nil
}

// startWithNewCA creates a cluster CA and starts the cluster port with a
// certificate from it.
func (c *raftCluster) startWithNewCA() (*raft.CA, error) {
	ca, err := raft.NewCA("keyward cluster CA", caValidity)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(c.nodeID, nodeValidity)
	if err != nil {
		return nil, err
	}
	if err := c.startWith(ca.Pool(), cert); err != nil {
		return nil, err
	}
	return ca, nil
}

// storeCA keeps the cluster CA behind the barrier.
func storeCA(ctx context.Context, b *barrier.Barrier, ca *raft.CA) error {
	key, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(caRecord{Cert: string(ca.CertPEM()), Key: string(key)})
	if err := b.Put(ctx, clusterTLSPath, raw); err != nil {
		return fmt.Errorf("store the cluster CA: %w", err)
	}
	return nil
}

// startWith starts the cluster port with this node's certificate and the
// cluster CA pool.
func (c *raftCluster) startWith(pool *x509.CertPool, cert tls.Certificate) error {
	tc := raft.NodeTLS(pool, cert)
	if err := c.store.Start(tc); err != nil {
		return err
	}
	client := tc.Clone()
	client.NextProtos = []string{protoCluster}
	client.ServerName = raft.ServerName
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
	return nil
}

// clientTLS returns this node's cluster client configuration, nil before
// the cluster port started.
func (c *raftCluster) clientTLS() *tls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}

// caRecord is the cluster CA as stored behind the barrier.
type caRecord struct {
	Cert string `json:"ca_cert"`
	Key  string `json:"ca_key"`
}

// onUnsealed runs once the barrier opens: it stores a new cluster's CA,
// completes a pending join, or starts the cluster port of a member with
// a certificate issued from the stored CA.
func (c *raftCluster) onUnsealed(ctx context.Context, b *barrier.Barrier) error {
	c.mu.Lock()
	ca, join := c.pendingCA, c.join
	c.mu.Unlock()
	switch {
	case ca != nil:
		if err := storeCA(ctx, b, ca); err != nil {
			return err
		}
		c.mu.Lock()
		c.pendingCA = nil
		c.mu.Unlock()
		return nil
	case join != nil:
		return c.completeJoin(ctx, b, join)
	case c.store.Started():
		return nil
	}
	ca, err := loadCA(ctx, b)
	if errors.Is(err, errNoCA) {
		return c.adoptStore(ctx, b)
	}
	if err != nil {
		return err
	}
	if c.store.Removed(c.nodeID) {
		return logical.BadRequest("node %q was removed from the raft cluster: it cannot rejoin with its old data; empty %s and join it again", c.nodeID, c.cfg.Storage.Path)
	}
	cert, err := ca.Issue(c.nodeID, nodeValidity)
	if err != nil {
		return err
	}
	return c.startWith(ca.Pool(), cert)
}

// errNoCA: the store holds no cluster CA (a store written by operator
// migrate, or a joined node that never caught up).
var errNoCA = logical.BadRequest("this node's raft data holds no cluster CA: it has not caught up with its cluster since it joined; empty its directory and join it again")

// adoptStore gives a one-node raft store without a cluster CA (written by
// operator migrate) a new CA: the node starts its cluster port with it,
// and once it leads a configuration that names only itself, stores the
// CA. A member of a larger cluster cannot do this (its peers refuse a
// certificate from another CA): it fails after a bound.
func (c *raftCluster) adoptStore(ctx context.Context, b *barrier.Barrier) error {
	ca, err := c.startWithNewCA()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(adoptWait)
	for !c.store.IsLeader() {
		if time.Now().After(deadline) {
			return errNoCA
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	servers, err := c.store.Configuration()
	if err != nil {
		return err
	}
	if len(servers) != 1 || servers[0].ID != c.nodeID {
		return errNoCA
	}
	if err := storeCA(ctx, b, ca); err != nil {
		return err
	}
	c.logger.Info("created a cluster CA for a one-node raft store that had none (a migrated store)")
	return nil
}

// adoptWait bounds how long adoptStore waits for the node to lead.
const adoptWait = time.Minute

// loadCA reads the cluster CA through the barrier.
func loadCA(ctx context.Context, b interface {
	Get(context.Context, string) ([]byte, error)
}) (*raft.CA, error) {
	raw, err := b.Get(ctx, clusterTLSPath)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	if raw == nil {
		return nil, errNoCA
	}
	var rec caRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	return raft.LoadCA([]byte(rec.Cert), []byte(rec.Key))
}

// joinOverlay is the raft store as the core sees it. While a join waits
// for its first replication, the barrier's own entries (seal
// configuration, root key, keyring) come from the leader's copies, so the
// operator can unseal the node with the cluster's keys; the store's own
// entries win as soon as they exist.
type joinOverlay struct {
	*raft.Store
	mu      sync.RWMutex
	entries map[string][]byte
}

var _ storage.Backend = (*joinOverlay)(nil)

func (o *joinOverlay) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := o.Store.Get(ctx, key)
	if !errors.Is(err, storage.ErrNotFound) {
		return v, err
	}
	o.mu.RLock()
	ov, ok := o.entries[key]
	o.mu.RUnlock()
	if ok {
		return ov, nil
	}
	return v, err
}

func (o *joinOverlay) set(entries map[string][]byte) {
	o.mu.Lock()
	o.entries = entries
	o.mu.Unlock()
}

// connQueue is a net.Listener fed by the cluster port with the
// connections that negotiated protoCluster.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

// put queues a cluster connection. It is wrapped so that net/http serves
// it as plain HTTP/1.1 (a *tls.Conn with an ALPN protocol net/http does
// not know would be closed); the TLS state travels in the wrapper.
func (q *connQueue) put(c net.Conn) {
	w := &peerConn{Conn: c}
	if tc, ok := c.(*tls.Conn); ok {
		w.state = tc.ConnectionState()
	}
	select {
	case q.ch <- w:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{} }

// peerConn is a cluster connection and its verified TLS state.
type peerConn struct {
	net.Conn
	state tls.ConnectionState
}

type peerStateKey struct{}

// peerContext carries a cluster connection's TLS state into its requests.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	if p, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerStateKey{}, &p.state)
	}
	return ctx
}

// peerState returns the TLS state of the cluster connection r came on.
func peerState(r *http.Request) *tls.ConnectionState {
	st, _ := r.Context().Value(peerStateKey{}).(*tls.ConnectionState)
	return st
}

// hostname is reported in sys/ha-status.
func hostname() string {
	h, _ := os.Hostname()
	return h
}
