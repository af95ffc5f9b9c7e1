// Package node builds one Keyward server from its configuration: storage ->
// barrier -> core -> HTTP listeners. It owns the lifetime of all of them
// (Start, Run, Close) and never logs secrets: dev mode's root token and
// unseal key are returned to the caller, which prints them once.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/cidr"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

// Node is one running server.
type Node struct {
	// loginGate refuses logins through a role locked by the watch
	// lock-role containment (nil without detection).
	loginGate core.LoginGate
	watch     *watch.Hub
	bgAlerts  *breakGlassAlerts // break-glass alerts (breakglass.go)
	sinks     *sink.Dispatcher
	leases    atomic.Pointer[lease.Manager] // the running lease manager, for the reports
	alerts    *watch.AlertMetrics
	detect    *alertNotifier // the detectors' alerts (watch_alerts.go)
	cfg       *config.Config
	logger    *slog.Logger
	store     storage.Backend
	closer    io.Closer
	core      *core.Core
	api       *httpapi.API
	httpCfg   []httpapi.Listener // one per cfg.Listeners entry, in order
	servers   []*httpapi.Server
	lns       []net.Listener
	urls      []string
	seals     []seal.Seal     // the auto seals built from the seal blocks
	cluster   *raftCluster    // raft storage only
	pgha      *pgHA           // postgresql storage with ha_enabled only
	certs     []*certReloader // per listener, nil where TLS is off
	hupStop   chan struct{}   // ends the SIGHUP certificate reloader

	closeOnce sync.Once
	closeErr  error
}

// service adds an engine or auth method to the core's configuration, in a
// file of its own; the sys/ services are listed in sysServices (sys.go).
type service func(cfg *config.Config, cc *core.Config, logger *slog.Logger) error

// services are every engine and auth method a server is built with:
// adding one is a file with its function and a line here.
var services = []service{
	withAppRole,
	withCert,
	withDatabase,
	withJWT,
	withKV,
	withSSH,
	withTransit,
	withPKI,
	withUserpass,
}

// MarkerFile records, beside the store file, that the store was
// initialized.
const MarkerFile = "keyward.initialized"

// DBFile is the name of the bbolt file inside the storage directory.
const DBFile = "keyward.db"

// New opens storage and builds the core and HTTP API; it listens on nothing
// until Start.
func New(cfg *config.Config, logger *slog.Logger) (*Node, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, logger: logger}
	if cfg.Storage.Type == "raft" {
		cl, err := newRaftCluster(cfg, logger)
		if err != nil {
			return nil, err
		}
		n.cluster = cl
		n.store, n.closer = cl.phys, cl
	} else {
		store, closer, err := openStorage(cfg.Storage, logger)
		if err != nil {
			return nil, err
		}
		n.store, n.closer = store, closer
		if cfg.Storage.Type == "postgresql" && cfg.Storage.HAEnabled {
			if n.pgha, err = newPGHA(cfg, store); err != nil {
				n.closeStore()
				return nil, err
			}
		}
	}
	var onInit func() error
	marker := ""
	if cfg.Storage.Type == "bolt" || cfg.Storage.Type == "file" {
		marker = filepath.Join(cfg.Storage.Path, MarkerFile)
		onInit = func() error {
			return os.WriteFile(marker, []byte("this directory holds an initialized Keyward store\n"), 0o600)
		}
	}
	cc := core.Config{
		OnInitialized:   onInit,
		AuthMethods:     map[string]logical.Factory{},
		Engines:         map[string]logical.Factory{},
		Storage:         n.store,
		Now:             cfg.Now,
		StorageType:     cfg.Storage.Type,
		Logger:          logger,
		DefaultLeaseTTL: cfg.DefaultLeaseTTL,
		MaxLeaseTTL:     cfg.MaxLeaseTTL,
		ClusterName:     cfg.ClusterName,
		APIAddr:         cfg.APIAddr,
		SanitizedConfig: cfg.Sanitized(),
		Limits: core.Limits{
			LoginFailuresPerAddress:    cfg.LoginLimits.FailuresPerAddress,
			LoginFailuresPerUser:       cfg.LoginLimits.FailuresPerUser,
			OperatorRequestsPerAddress: cfg.Operator.RequestsPerAddress,
		},
	}
	for _, block := range cfg.Operator.AllowedCIDRs {
		if p, err := cidr.ParseExact(block); err == nil { // Validate reported the others
			cc.Limits.OperatorCIDRs = append(cc.Limits.OperatorCIDRs, p)
		}
	}
	// One metrics registry per node: two nodes in one process count apart.
	cc.Metrics = monitor.NewRegistry()
	cc.Metrics.AddRuntimeCollectors()
	n.alerts = watch.NewAlertMetrics(cc.Metrics, 0)
	for _, add := range services {
		if err := add(cfg, &cc, logger); err != nil {
			n.closeStore()
			return nil, err
		}
	}
	svcs, err := sysServices(cfg, cc.Metrics, &n.leases, logger)
	if err != nil {
		n.closeStore()
		return nil, err
	}
	if n.cluster != nil {
		n.cluster.coreConfig(&cc)
		svcs = append(svcs, n.cluster.service())
	}
	if n.pgha != nil {
		n.pgha.coreConfig(&cc)
	}
	n.watch = watch.NewHub(watch.Options{RingSize: cfg.Watch.RingSize, SubscriberBuffer: cfg.Watch.SubscriberBuffer,
		MaxIdentities: cfg.Watch.MaxIdentities, Location: cfg.Watch.Location(),
		FlushInterval: cfg.Watch.FlushInterval, MaxAccessPaths: cfg.Watch.MaxAccessPaths, Logger: logger})
	n.newDetection(cfg, logger)
	if !cfg.Watch.Disable {
		cc.Events = n.watch
		svcs = append(svcs, watchService(n.watch))
	}
	n.sinks = newSinks(logger, cfg.Watch.SinkNetworks)
	svcs = append(svcs, sinkService(n.sinks))
	svcs = append(svcs, reportsService(n, cfg))
	cc.Services = svcs
	// Every alert the node raises goes to the sinks and to the metrics.
	n.bgAlerts = &breakGlassAlerts{logger: logger.With("component", "break-glass")}
	n.SetBreakGlassNotifier(n.alertFanout())
	n.SetAlertNotifier(n.alertFanout())
	cc.BreakGlassNotifier = n.bgAlerts
	if n.seals, err = withSeals(cfg, &cc, logger); err != nil {
		n.closeStore()
		return nil, err
	}
	c, err := core.New(cc)
	if err != nil {
		closeSeals(n.seals)
		n.closeStore()
		return nil, err
	}
	// A damaged store must stop the server before it listens.
	init, err := c.Initialized(context.Background())
	if err != nil {
		n.closeStore()
		return nil, fmt.Errorf("storage is damaged: %w", err)
	}
	if !init && marker != "" {
		if _, err := os.Stat(marker); err == nil {
			n.closeStore()
			return nil, fmt.Errorf("storage is damaged: %s was initialized (see %s) but its store file holds no Keyward data; refusing to treat it as new", cfg.Storage.Path, MarkerFile)
		}
	}
	n.core = c
	if n.loginGate != nil {
		c.SetLoginGate(n.loginGate)
	}
	// Each listener keeps its own proxies, timeouts and caps all the way
	// into the HTTP layer: nothing one listener trusts applies to another.
	for i, l := range cfg.Listeners {
		hl, err := listenerConfig(l)
		if err != nil {
			n.closeStore()
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		n.httpCfg = append(n.httpCfg, hl)
	}
	hc := httpapi.Config{MaxRequestSize: cfg.MaxRequestSize,
		MaxUnauthenticatedRequestSize: cfg.MaxUnauthenticatedRequestSize,
		MaxInFlightBodyBytes:          cfg.MaxInFlightRequestBytes,
		RateLimit:                     cfg.RateLimit.RequestsPerSecond, RateBurst: cfg.RateLimit.Burst}
	if n.cluster != nil {
		hc.Forward = n.cluster.fwd
	}
	if n.pgha != nil {
		hc.Forward = n.pgha
	}
	n.api = httpapi.New(c, hc, logger)
	if n.cluster != nil {
		n.cluster.attach(c, n.api)
	}
	if n.pgha != nil {
		n.pgha.attach(c)
	}
	return n, nil
}

// listenerConfig is the HTTP layer's view of one listener block.
func listenerConfig(l config.Listener) (httpapi.Listener, error) {
	proxies, err := l.ProxyPrefixes()
	if err != nil {
		return httpapi.Listener{}, err
	}
	return httpapi.Listener{
		ReadHeaderTimeout:          l.ReadHeaderTimeout,
		ReadTimeout:                l.ReadTimeout,
		WriteTimeout:               l.WriteTimeout,
		IdleTimeout:                l.IdleTimeout,
		UnauthenticatedIdleTimeout: l.UnauthenticatedIdleTimeout,
		TrustedProxies:             proxies,
		MaxConnections:             l.MaxConnections,
		MaxConnectionsPerAddress:   l.MaxConnectionsPerAddress,
	}, nil
}

// Core returns the node's core.
func (n *Node) Core() *core.Core { return n.core }

// URLs returns the base URL of each listener once started.
func (n *Node) URLs() []string { return n.urls }

// Start opens every listener and serves in the background.
func (n *Node) Start() error {
	for i, l := range n.cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			n.Close()
			return fmt.Errorf("listen %s: %w", l.Address, err)
		}
		srv := n.api.Server(n.httpCfg[i])
		scheme := "http"
		var tlsConfig *tls.Config
		if !l.TLSDisable {
			cr, err := newCertReloader(l.TLSCertFile, l.TLSKeyFile)
			if err != nil {
				ln.Close()
				n.Close()
				return fmt.Errorf("listener %s: load TLS certificate: %w", l.Address, err)
			}
			min := uint16(tls.VersionTLS12)
			if l.TLSMinVersion == "tls13" {
				min = tls.VersionTLS13
			}
			// Client certificates are requested, never required: the cert
			// auth method verifies them against its own CAs.
			// The certificate comes from certs, so SIGHUP can swap it.
			tlsConfig = &tls.Config{MinVersion: min, GetCertificate: cr.getCertificate, ClientAuth: tls.RequestClientCert}
			scheme = "https"
			n.certs = append(n.certs, cr)
		} else {
			n.certs = append(n.certs, nil)
		}
		n.lns = append(n.lns, ln)
		n.servers = append(n.servers, srv)
		n.urls = append(n.urls, scheme+"://"+ln.Addr().String())
		go func() {
			if err := srv.Serve(ln, tlsConfig); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.logger.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
		n.logger.Info("listening", "addr", ln.Addr().String(), "tls", !l.TLSDisable)
	}
	if slices.ContainsFunc(n.certs, func(r *certReloader) bool { return r != nil }) {
		n.hupStop = make(chan struct{})
		go n.reloadOnHangup(n.hupStop)
	}
	// An auto-sealed store unseals itself from here on.
	n.core.StartAutoUnseal()
	return nil
}

// Run serves until ctx is done, then shuts down gracefully.
func (n *Node) Run(ctx context.Context) error {
	<-ctx.Done()
	return n.Close()
}

// Close stops the listeners (letting in-flight requests finish for up to
// ten seconds), seals the core and closes storage.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if n.hupStop != nil {
			close(n.hupStop)
		}
		if n.watch != nil {
			n.watch.EndSubscriptions("server shutting down") // open streams would hold Shutdown
		}
		for _, s := range n.servers {
			if err := s.Shutdown(ctx); err != nil {
				n.closeErr = errors.Join(n.closeErr, err)
			}
		}
		if n.core != nil {
			n.closeErr = errors.Join(n.closeErr, n.core.Close())
		}
		n.closeErr = errors.Join(n.closeErr, closeSeals(n.seals))
		n.closeErr = errors.Join(n.closeErr, n.closeStore())
	})
	return n.closeErr
}

func (n *Node) closeStore() error {
	if n.closer != nil {
		err := n.closer.Close()
		n.closer = nil
		return err
	}
	return nil
}

// DevResult is what a dev server prints once. Its types keep both secrets
// out of every format and log: the caller reveals them to print them.
type DevResult struct {
	UnsealKey sensitive.Bytes
	RootToken sensitive.String
}

// InitDev initializes (if needed) with a single unseal key, unseals, and
// mounts KV v2 at secret/ on first initialization. On a persisted dev store
// that is already initialized it needs the unseal key from the first run.
func (n *Node) InitDev(ctx context.Context, rootTokenID string) (*DevResult, error) {
	init, err := n.core.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	if init {
		return nil, errors.New("dev store is already initialized: unseal it with its key (keyward operator unseal)")
	}
	res, err := n.core.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1, RootTokenID: sensitive.NewString(rootTokenID)})
	if err != nil {
		return nil, err
	}
	if err := n.core.Unseal(ctx, res.Shares); err != nil {
		return nil, err
	}
	if err := n.core.MountDefaultKV(ctx); err != nil {
		return nil, err
	}
	return &DevResult{UnsealKey: res.Shares[0], RootToken: res.RootToken}, nil
}
