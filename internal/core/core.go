// Package core is the request pipeline: sealed? -> authenticate the token ->
// check the ACL -> route to the mount -> create tokens for logins. It is the
// only place that decides whether a token may do something; engines never
// check policies themselves. It never logs a token, a secret value or key
// material: log lines name accessors, paths and request ids.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/mfa"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/watch"
)

// Version is reported by sys/health and sys/seal-status.
const Version = "0.1.0"

// Config configures a Core. The zero value is usable apart from Storage.
type Config struct {
	Storage     storage.Backend
	StorageType string // reported by seal-status ("bolt", "inmem")
	Logger      *slog.Logger
	// DefaultLeaseTTL and MaxLeaseTTL are the system-wide lease bounds
	// (defaults 768h for both, as in Vault).
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	// ClusterName is reported by sys/health.
	ClusterName string
	// APIAddr is the URL clients reach this server at (the config's
	// api_addr); sys/leader reports it as the leader's address.
	APIAddr string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TokenSweepInterval is how often expired tokens are removed (default 1m).
	TokenSweepInterval time.Duration
	// OnInitialized, when set, runs after a successful Initialize (the node
	// records that the store holds data, so an emptied store file is never
	// mistaken for a new one).
	OnInitialized func() error
	// Services are the sys/ services (audit, password policies, wrapping,
	// leases, metrics), built at each unseal in this order and closed in
	// the reverse; a part nobody provides is off.
	Services []Service
	// Engines and AuthMethods are the factories of the secrets engines and
	// auth methods, by type (the token store is built in).
	Engines     map[string]logical.Factory
	AuthMethods map[string]logical.Factory
	// KVUpgrade converts a KV version 1 mount for version 2 in place; nil
	// refuses the upgrade.
	KVUpgrade *KVUpgrade
	// Metrics receives the core's counters (nil: a registry of its own).
	Metrics *monitor.Registry
	// Limits bound failed logins and the anonymous operator endpoints.
	Limits Limits
	// SanitizedConfig is what sys/config/state/sanitized answers: the
	// server's configuration without secrets (nil: an empty object).
	SanitizedConfig map[string]any

	// HA, when set, makes this core one of several over shared storage:
	// it unseals into standby and is active only while it holds the lock.
	HA HA
	// NodeID and ClusterAddr name this node to the others (sys/leader,
	// sys/ha-status).
	NodeID      string
	ClusterAddr string
	// BeforeInitialize runs before Initialize writes anything (raft:
	// bootstrap a one-node cluster and lead it).
	BeforeInitialize func(ctx context.Context) error
	// OnUnsealed runs once the barrier opens (at unseal, and during
	// Initialize), before the node seeks the HA lock: raft reads the
	// cluster CA through the barrier to start its cluster port. An error
	// seals the core again.
	OnUnsealed func(ctx context.Context, b *barrier.Barrier) error
	// LeaderInfo, when set, adds fields to sys/leader (raft's
	// raft_committed_index and raft_applied_index, which bao status shows).
	LeaderInfo func() map[string]any
	// SealedPaths are extra sys/ endpoints served without a token in any
	// state, by path relative to /v1/ ("sys/storage/raft/join"); the
	// handler sees the raw request.
	SealedPaths map[string]func(ctx context.Context, req *logical.Request) (*logical.Response, error)

	// Seal, when set, is the auto seal that wraps the unseal key; nil is
	// Shamir. MigrateFrom is the seal of a disabled stanza: the store may
	// still be wrapped by it and is being migrated away (see autoseal.go).
	Seal        seal.Seal
	MigrateFrom seal.Seal
	// Events, when set, receives an access event for every request outcome
	// (see EventSink).
	Events EventSink
	// BreakGlassNotifier receives the critical alert of each break-glass
	// activation (rule "break-glass"); nil logs the activation as an error
	// instead.
	BreakGlassNotifier watch.Notifier
	// BreakGlassStepUp, when set, runs for each break-glass officer
	// approval after the officer's token was accepted; an error refuses
	// the approval. It is the seam for step-up MFA (a fresh code per
	// approval); nil adds no factor beyond the officer's token.
	BreakGlassStepUp func(ctx context.Context, req *logical.Request, officer BreakGlassOfficer) error
}

// Core is one Keyward server's logic. It is safe for concurrent use.
type Core struct {
	cfg Config
	// loginGate, when set, may refuse a login before its token is issued
	// (the watch lock-role containment; SetLoginGate).
	loginGate atomic.Pointer[LoginGate]
	logger    *slog.Logger
	phys      storage.Backend
	barrier   *barrier.Barrier
	now       func() time.Time

	// stateLock guards the unsealed state: held for reading by every
	// request, for writing by seal and unseal.
	stateLock sync.RWMutex
	active    *active // nil while sealed

	limits   *limiters
	unsealMu sync.Mutex
	unseal   shareProgress
	genRoot  *generateRoot // guarded by unsealMu
	// rekeyMu guards rekey; like unsealMu it is never held while taking
	// stateLock.
	rekeyMu        sync.Mutex
	rekey          *rekey
	rotationLimits rotationLimits

	engines     map[string]logical.Factory
	authMethods map[string]logical.Factory

	clusterID atomic.Pointer[string] // set at unseal; read lock-free by health
	requests  *monitor.Requests
	// passwords is the unsealed (or unsealing) state's PasswordGenerator,
	// read lock-free by engines' background work; nil while sealed.
	passwords atomic.Pointer[passwordSource]

	// ha is the standby/active loop while unsealed with an HA lock
	// (guarded by stateLock); activeSince is this node's advertisement
	// while it is active.
	ha          *haRun
	activeSince atomic.Pointer[Advertisement]
	// isActive and haRunning mirror c.active != nil and c.ha != nil
	// (written under stateLock), so that Sealed and Standby never take
	// stateLock: the active node's own services (autopilot) ask them while
	// a teardown holds stateLock and waits for those services to end.
	isActive  atomic.Bool
	haRunning atomic.Bool

	auto autoUnseal

	bg     breakGlassState
	cg     cgState
	access accessState
}

// active is everything that exists only while the core is unsealed.
type active struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	tokens   *token.Store
	policies *policyStore
	identity *identity.Store
	mfa      *mfa.Store
	mounts   *mountTable
	services []builtService // in start order
	// The services' parts in the pipeline; nil when no service has one.
	audit     AuditBroker
	leases    LeaseManager
	wrapper   Wrapper
	passwords PasswordGenerator
}

// New creates a sealed Core over cfg.Storage.
func New(cfg Config) (*Core, error) {
	if cfg.Storage == nil {
		return nil, errors.New("core: no storage backend")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultLeaseTTL == 0 {
		cfg.DefaultLeaseTTL = 768 * time.Hour
	}
	if cfg.MaxLeaseTTL == 0 {
		cfg.MaxLeaseTTL = 768 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenSweepInterval == 0 {
		cfg.TokenSweepInterval = time.Minute
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = "keyward"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = monitor.NewRegistry()
	}
	c := &Core{
		cfg:         cfg,
		logger:      cfg.Logger.With("component", "core"),
		phys:        cfg.Storage,
		barrier:     barrier.New(cfg.Storage, cfg.Logger).WithClock(cfg.Now),
		now:         cfg.Now,
		engines:     map[string]logical.Factory{},
		authMethods: map[string]logical.Factory{},
		limits:      newLimiters(cfg.Limits, cfg.Now),
		requests:    cfg.Metrics.Requests(),

		rotationLimits: defaultRotationLimits,
	}
	c.auto.kick = make(chan struct{}, 1)
	c.auto.stop = make(chan struct{})
	for k, f := range cfg.Engines {
		c.engines[k] = f
	}
	for k, f := range cfg.AuthMethods {
		c.authMethods[k] = f
	}
	return c, nil
}

// Sealed reports whether the core is sealed. It never takes stateLock
// (see isActive).
func (c *Core) Sealed() bool {
	return c.barrier.Sealed()
}

// Initialized reports whether the store has been initialized. An error means
// the store could not be read or is damaged; it is never "not initialized".
func (c *Core) Initialized(ctx context.Context) (bool, error) {
	return c.barrier.Initialized(ctx)
}

// Close seals the core and stops its background work.
func (c *Core) Close() error {
	c.stopAutoUnseal()
	c.stopHA()
	c.stateLock.Lock()
	defer c.stateLock.Unlock()
	c.sealLocked()
	return nil
}

// postUnseal loads the mount tables, policies and token store. It runs with
// stateLock held for writing.
func (c *Core) postUnseal(ctx context.Context) (err error) {
	actx, cancel := context.WithCancel(context.Background())
	a := &active{ctx: actx, cancel: cancel}
	// Engines start (loadMounts) before the services: one that asks for a
	// password meanwhile waits for them.
	ps := &passwordSource{up: make(chan struct{})}
	c.passwords.Store(ps)
	defer func() {
		ps.g = a.passwords
		close(ps.up)
		if err != nil {
			c.passwords.Store(nil)
		}
	}()
	bs := c.barrier
	a.policies, err = newPolicyStore(ctx, barrier.NewView(bs, "sys/policy/"))
	if err != nil {
		cancel()
		return fmt.Errorf("load policies: %w", err)
	}
	a.identity, err = identity.New(ctx, barrier.NewView(bs, "identity/"), identity.Options{
		Logger: c.cfg.Logger,
		Now:    c.now,
		Mount:  a.authMountByAccessor,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("load identity store: %w", err)
	}
	a.mfa, err = mfa.New(ctx, barrier.NewView(bs, "sys/mfa/"), mfa.Options{
		Logger:     c.cfg.Logger,
		Now:        c.now,
		EntityName: a.identityName,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("load mfa store: %w", err)
	}
	a.tokens, err = token.New(ctx, barrier.NewView(bs, "sys/token/"), token.Options{
		Logger:     c.cfg.Logger,
		Now:        c.now,
		DefaultTTL: c.cfg.DefaultLeaseTTL,
		MaxTTL:     c.cfg.MaxLeaseTTL,
		Sudo: func(_ context.Context, req *logical.Request) bool {
			return a.hasSudo(req.Token, req.MountPoint+req.Path, req.Operation)
		},
		IdentityPolicies: a.identityPolicies,
		OnRenew: func(ctx context.Context, e *token.Entry, req *logical.Request) error {
			m := a.issuer(e.Path, e.CreationTime)
			if m == nil {
				if strings.HasPrefix(e.Path, "auth/") {
					// Nobody is left to approve the renewal.
					return logical.Errorf(http.StatusForbidden, "the auth method that issued this token is no longer mounted")
				}
				return nil
			}
			if !m.enter() {
				return errMountChanged
			}
			defer m.leave()
			r, ok := m.backend.(logical.AuthRenewer)
			if !ok {
				return nil
			}
			areq := *req
			areq.MountPoint, areq.MountType, areq.MountAccessor, areq.Storage = m.entry.Path, m.entry.Type, m.entry.Accessor, m.view
			return r.RenewAuth(ctx, &areq, e.Meta)
		},
		OnRevoke: func(ctx context.Context, e *token.Entry) error {
			c.bgEnd(ctx, a, e.Accessor, "")
			if a.leases == nil {
				return nil
			}
			return a.leases.RevokeByToken(ctx, e.Accessor)
		},
	})
	if err != nil {
		cancel()
		return fmt.Errorf("load token store: %w", err)
	}
	id, err := c.loadClusterID(ctx)
	if err != nil {
		cancel()
		return err
	}
	c.clusterID.Store(&id)
	a.mounts, err = c.loadMounts(ctx, a)
	if err != nil {
		cancel()
		return fmt.Errorf("load mounts: %w", err)
	}
	if err := c.startServices(ctx, a); err != nil {
		cancel()
		return err
	}
	if err := c.bgResume(ctx, a); err != nil {
		cancel()
		return err
	}
	sm := a.mounts.get("sys/")
	sm.sudo, sm.unauth = a.sysPathLists(sm.backend)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.tokens.Run(actx, c.cfg.TokenSweepInterval)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		c.runKeyringRotation(actx)
	}()
	c.resumeRemounts(ctx, a)
	c.resumeUpgrades(a)
	c.active = a
	c.isActive.Store(true)
	return nil
}

// hasSudo reports whether a token holds sudo on path.
func (a *active) hasSudo(ti *logical.TokenInfo, path string, op logical.Operation) bool {
	if ti == nil {
		return false
	}
	if ti.Root {
		return true
	}
	acl, err := a.policies.acl(withIdentityPolicies(ti.Policies, ti.IdentityPolicies), nil)
	if err != nil {
		return false
	}
	return acl.Check(path, policy.Operation(op), nil).Sudo
}

// sealLocked drops all unsealed state and wipes key material. stateLock must
// be held for writing.
func (c *Core) sealLocked() {
	if c.ha != nil {
		c.ha.cancel() // stopHA has waited for it, or it sees the seal and exits
		c.ha = nil
		c.haRunning.Store(false)
	}
	c.teardownActive()
	c.activeSince.Store(nil)
	c.wipeRekey() // a pending new unseal key never outlives the unsealed state
	c.wipeBreakGlass()
	c.barrier.Seal()
}

// system is the logical.SystemView handed to backends.
type system struct{ c *Core }

func (s system) DefaultLeaseTTL() time.Duration { return s.c.cfg.DefaultLeaseTTL }

// Now is the core's clock (core.Config.Now); engines that keep times find
// it through logical.Clock.
func (s system) Now() time.Time             { return s.c.now() }
func (s system) MaxLeaseTTL() time.Duration { return s.c.cfg.MaxLeaseTTL }

// passwordSource is the PasswordGenerator of one unsealed state, g set
// before up is closed (once the services are built).
type passwordSource struct {
	up chan struct{}
	g  PasswordGenerator
}

// GeneratePasswordFromPolicy generates a password from a named policy of
// sys/policies/password (engines find it through a type assertion), through
// the service that is the PasswordGenerator. During unseal it waits until
// the services are up (or ctx ends), so a factory must not call it.
func (s system) GeneratePasswordFromPolicy(ctx context.Context, name string) (string, error) {
	ps := s.c.passwords.Load()
	if ps == nil {
		return "", logical.ErrSealed
	}
	select {
	case <-ps.up:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if ps.g == nil {
		return "", logical.BadRequest("password policy %q: password policies are not available", name)
	}
	return ps.g.Generate(ctx, name)
}

// loadClusterIDReadOnly reads the cluster id on a standby, which cannot
// write: "" until the active node has created it.
func (c *Core) loadClusterIDReadOnly(ctx context.Context) (string, error) {
	raw, err := c.barrier.Get(ctx, "core/cluster-id")
	if err != nil {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	return string(raw), nil
}

// loadClusterID reads the cluster id, creating it on first unseal.
func (c *Core) loadClusterID(ctx context.Context) (string, error) {
	raw, err := c.barrier.Get(ctx, "core/cluster-id")
	if err != nil {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	if raw != nil {
		return string(raw), nil
	}
	id := randomID()
	if err := c.barrier.Put(ctx, "core/cluster-id", []byte(id)); err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	return id, nil
}
