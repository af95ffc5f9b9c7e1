package lease

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/storage"
)

// Revocation states of a lease.
const (
	StateActive        = "active"
	StateRevokePending = "revoke_pending"
	StateIrrevocable   = "irrevocable"
)

// Options tunes a Manager. The zero value is usable.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxAttempts bounds revocation attempts before a lease is marked
	// irrevocable (default 8).
	MaxAttempts int
	// BaseBackoff is the delay after the first failed attempt; it doubles
	// per attempt up to MaxBackoff, with up to 25% random jitter added
	// (defaults 5s and 5m: 8 attempts span about 10 minutes).
	BaseBackoff, MaxBackoff time.Duration
	// Workers is the number of concurrent revocations (default 8).
	Workers int
	// RevokeTimeout bounds one call into an engine (default 30s).
	RevokeTimeout time.Duration
	// DefaultMaxTTL caps leases whose secret and mount give no max TTL
	// (default 768h). A lease never lives forever.
	DefaultMaxTTL time.Duration
	// Metrics receives the lease counters and gauges (default: a registry
	// of the Manager's own, which nothing reads).
	Metrics *monitor.Registry
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = monitor.NewRegistry()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.RevokeTimeout <= 0 {
		o.RevokeTimeout = 30 * time.Second
	}
	if o.DefaultMaxTTL <= 0 {
		o.DefaultMaxTTL = 768 * time.Hour
	}
}

// Engines is how the manager reaches the engines that issued its leases:
// the core routes by mount path to the backend. The core's implementation
// also reports whether a request's token holds sudo (sudoChecker).
type Engines interface {
	Revoke(ctx context.Context, mountPath string, s *logical.Secret) error
	Renew(ctx context.Context, mountPath string, s *logical.Secret, increment time.Duration) (*logical.Secret, error)
}

// entry is one persisted lease. InternalData may hold credentials: it only
// ever goes to storage (behind the barrier) and back to the engine.
type entry struct {
	ID           string         `json:"id"`
	MountPath    string         `json:"mount_path"`
	Path         string         `json:"path"`
	Accessor     string         `json:"accessor"`
	IssueTime    time.Time      `json:"issue_time"`
	ExpireTime   time.Time      `json:"expire_time"`
	MaxExpire    time.Time      `json:"max_expire"`
	LastRenewal  time.Time      `json:"last_renewal,omitzero"`
	TTL          time.Duration  `json:"ttl"`
	Renewable    bool           `json:"renewable"`
	InternalData map[string]any `json:"internal_data,omitempty"`
	// FormerIDs are the ids the lease had before its mount moved; they
	// still reach it for lookup, renew and revoke.
	FormerIDs []string `json:"former_ids,omitempty"`
	State     string   `json:"state"`
	Attempts  int      `json:"attempts"`
	LastError string   `json:"last_error,omitempty"`

	inflight bool // a worker holds it
}

// due is when the scheduler must act on e.
func (e *entry) due() time.Time { return e.ExpireTime }

func (e *entry) secret() *logical.Secret {
	return &logical.Secret{
		LeaseID:      e.ID,
		TTL:          e.TTL,
		MaxTTL:       e.MaxExpire.Sub(e.IssueTime),
		Renewable:    e.Renewable,
		IssueTime:    e.IssueTime,
		InternalData: e.InternalData,
	}
}

// Manager tracks leases; the core uses it as its LeaseManager (node wires
// it). It is safe for concurrent use.
type Manager struct {
	// Router serves sys/leases/*, sys/renew* and sys/revoke* (Backend).
	*logical.Router

	view    logical.Storage
	engines Engines
	logger  *slog.Logger
	opts    Options

	mu      sync.Mutex
	leases  map[string]*entry
	former  map[string]string // former id -> current id
	byToken map[string]map[string]struct{}
	sched   schedHeap

	// moveMu keeps Remount apart from every operation that calls an engine
	// or writes a lease record: they hold it for reading, Remount for
	// writing, so no record is written under an id that is being changed.
	moveMu sync.RWMutex

	kick    chan struct{}
	work    chan string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool // Close took the leases out of the gauges
	metrics metrics
}

const keyPrefix = "lease/"

func storageKey(id string) string {
	return keyPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// New restores the leases persisted in view and starts the scheduler.
// Overdue leases are revoked in the background, so New returns once the
// records are loaded.
func New(ctx context.Context, view logical.Storage, engines Engines, logger *slog.Logger, opts Options) (*Manager, error) {
	opts.fill()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		view:    view,
		engines: engines,
		logger:  logger.With("component", "lease"),
		opts:    opts,
		metrics: newMetrics(opts.Metrics),
		leases:  map[string]*entry{},
		former:  map[string]string{},
		byToken: map[string]map[string]struct{}{},
		kick:    make(chan struct{}, 1),
		work:    make(chan string, 256),
	}
	keys, err := view.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("lease: list: %w", err)
	}
	overdue := 0
	now := opts.Now()
	for _, k := range keys {
		raw, err := view.Get(ctx, keyPrefix+k)
		if err != nil {
			return nil, fmt.Errorf("lease: load %s: %w", k, err)
		}
		if raw == nil {
			continue
		}
		e := &entry{}
		if err := json.Unmarshal(raw, e); err != nil {
			return nil, fmt.Errorf("lease: decode %s: %w", k, err)
		}
		m.index(e)
		if e.State != StateIrrevocable {
			heap.Push(&m.sched, item{at: e.due(), id: e.ID})
			if !e.due().After(now) {
				overdue++
			}
		}
	}
	if len(keys) > 0 {
		m.logger.Info("leases restored", "count", len(m.leases), "overdue", overdue)
	}
	m.Router = logical.NewRouter(backendHelp, backend{m: m}.routes()...)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1 + opts.Workers)
	go m.schedule()
	for range opts.Workers {
		go m.worker()
	}
	return m, nil
}

// Close stops the scheduler and waits for revocations in flight.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	for _, e := range m.leases {
		m.gaugeAdd(e.State, -1)
	}
	m.closed = true
	m.mu.Unlock()
	return nil
}

func (m *Manager) index(e *entry) {
	if old := m.leases[e.ID]; old != nil {
		m.gaugeAdd(old.State, -1)
	}
	m.gaugeAdd(e.State, 1)
	m.leases[e.ID] = e
	for _, f := range e.FormerIDs {
		m.former[f] = e.ID
	}
	if e.Accessor != "" {
		s := m.byToken[e.Accessor]
		if s == nil {
			s = map[string]struct{}{}
			m.byToken[e.Accessor] = s
		}
		s[e.ID] = struct{}{}
	}
}

func (m *Manager) unindex(e *entry) {
	if m.leases[e.ID] != e {
		return // already gone (revoked and force-revoked at once)
	}
	m.gaugeAdd(e.State, -1)
	delete(m.leases, e.ID)
	for _, f := range e.FormerIDs {
		if m.former[f] == e.ID {
			delete(m.former, f)
		}
	}
	if s := m.byToken[e.Accessor]; s != nil {
		delete(s, e.ID)
		if len(s) == 0 {
			delete(m.byToken, e.Accessor)
		}
	}
}

func (m *Manager) persist(ctx context.Context, e *entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("lease: encode: %w", err)
	}
	if err := m.view.Put(ctx, storageKey(e.ID), raw); err != nil {
		return fmt.Errorf("lease: persist: %w", err)
	}
	return nil
}

// poke wakes the scheduler so it re-reads the heap top and the clock.
func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Register gives s a lease id under req's mount and path, bounds its TTL by
// the max TTL (secret, mount or default, never unbounded) and persists it.
func (m *Manager) Register(ctx context.Context, req *logical.Request, s *logical.Secret) error {
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	now := m.opts.Now()
	maxTTL := s.MaxTTL
	if mount := req.MountConfig.MaxLeaseTTL; mount > 0 && (maxTTL <= 0 || maxTTL > mount) {
		maxTTL = mount
	}
	if maxTTL <= 0 {
		maxTTL = m.opts.DefaultMaxTTL
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = req.MountConfig.DefaultLeaseTTL
	}
	if ttl <= 0 || ttl > maxTTL {
		ttl = maxTTL
	}
	path := strings.Trim(req.MountPoint+req.Path, "/")
	e := &entry{
		ID:           path + "/" + rand.Text(),
		MountPath:    req.MountPoint,
		Path:         path,
		IssueTime:    now,
		ExpireTime:   now.Add(ttl),
		MaxExpire:    now.Add(maxTTL),
		TTL:          ttl,
		Renewable:    s.Renewable,
		InternalData: s.InternalData,
		State:        StateActive,
	}
	if req.Token != nil {
		e.Accessor = req.Token.Accessor
	}
	if err := m.persist(ctx, e); err != nil {
		// Without a record nothing would ever revoke the credential: undo it now.
		if rerr := m.engines.Revoke(ctx, req.MountPoint, e.secret()); rerr != nil {
			m.logger.Error("revoke unregistered secret", "path", path, "err", rerr)
		}
		return err
	}
	m.mu.Lock()
	m.index(e)
	heap.Push(&m.sched, item{at: e.due(), id: e.ID})
	top := m.sched[0].id == e.ID
	m.mu.Unlock()
	if top {
		m.poke()
	}
	s.LeaseID, s.TTL, s.MaxTTL, s.IssueTime = e.ID, ttl, maxTTL, now
	return nil
}

// RevokeByToken schedules the revocation of every lease the token with
// accessor created. The leases are marked due now and persisted, so the
// revocation survives a restart; it runs in the background.
func (m *Manager) RevokeByToken(ctx context.Context, accessor string) error {
	if accessor == "" {
		return nil
	}
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	now := m.opts.Now()
	m.mu.Lock()
	var due []*entry
	for id := range m.byToken[accessor] {
		if e := m.leases[id]; e != nil && e.State == StateActive {
			e.ExpireTime = now
			due = append(due, e)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, e := range due {
		m.mu.Lock()
		snap := *e
		m.mu.Unlock()
		if err := m.persist(ctx, &snap); err != nil {
			errs = append(errs, err)
		}
		m.mu.Lock()
		heap.Push(&m.sched, item{at: now, id: e.ID})
		m.mu.Unlock()
	}
	if len(due) > 0 {
		m.logger.Info("revoking leases of revoked token", "accessor", accessor, "count", len(due))
		m.poke()
	}
	return errors.Join(errs...)
}

// schedule is the one scheduler goroutine: it sleeps until the earliest due
// time and hands due leases to the workers.
func (m *Manager) schedule() {
	defer m.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var ready []string
		wait := time.Hour
		m.mu.Lock()
		now := m.opts.Now()
		for len(m.sched) > 0 {
			top := m.sched[0]
			if top.at.After(now) {
				wait = top.at.Sub(now)
				break
			}
			heap.Pop(&m.sched)
			e := m.leases[top.id]
			// Stale heap items (renewed, revoked, already queued) are dropped.
			if e == nil || e.inflight || e.State == StateIrrevocable || !e.due().Equal(top.at) {
				continue
			}
			e.inflight = true
			ready = append(ready, e.ID)
			if len(ready) >= cap(m.work) {
				wait = 0
				break
			}
		}
		m.mu.Unlock()
		for _, id := range ready {
			select {
			case m.work <- id:
			case <-m.ctx.Done():
				return
			}
		}
		timer.Reset(max(wait, 0))
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (m *Manager) worker() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case id := <-m.work:
			m.attempt(m.ctx, id)
		}
	}
}

// attempt revokes one lease through its engine. On failure the lease stays,
// marked revoke_pending and rescheduled with backoff, or irrevocable after
// the last attempt. It returns the engine's error.
func (m *Manager) attempt(ctx context.Context, id string) error {
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	m.mu.Lock()
	e := m.resolve(id)
	if e == nil {
		m.mu.Unlock()
		return nil
	}
	e.inflight = true
	id = e.ID
	mount, secret := e.MountPath, e.secret()
	m.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, m.opts.RevokeTimeout)
	err := m.engines.Revoke(rctx, mount, secret)
	cancel()
	if err == nil {
		m.metrics.revoked.Inc()
		derr := m.view.Delete(ctx, storageKey(id))
		m.mu.Lock()
		m.unindex(e)
		e.inflight = false
		m.mu.Unlock()
		if derr != nil {
			// The engine revoked it; a stale record is revoked again
			// (idempotently) at the next unseal.
			m.logger.Error("delete revoked lease", "lease_id", id, "err", derr)
		}
		m.logger.Debug("lease revoked", "lease_id", id)
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: leave the lease as it is; it is due again at unseal.
		m.mu.Lock()
		e.inflight = false
		m.mu.Unlock()
		return err
	}
	m.metrics.revokeFailures.Inc()
	m.mu.Lock()
	e.inflight = false
	e.Attempts++
	e.LastError = safeError(err)
	if e.Attempts >= m.opts.MaxAttempts {
		m.setState(e, StateIrrevocable)
	} else {
		m.setState(e, StateRevokePending)
		e.ExpireTime = m.opts.Now().Add(m.backoff(e.Attempts))
		heap.Push(&m.sched, item{at: e.ExpireTime, id: e.ID})
	}
	snap := *e
	m.mu.Unlock()
	if snap.State == StateIrrevocable {
		m.logger.Error("lease irrevocable", "lease_id", id, "attempts", snap.Attempts, "err", err)
	} else {
		m.logger.Warn("lease revocation failed", "lease_id", id, "attempt", snap.Attempts, "retry_at", snap.ExpireTime, "err", err)
	}
	if perr := m.persist(ctx, &snap); perr != nil {
		m.logger.Error("persist lease state", "lease_id", id, "err", perr)
	}
	m.poke()
	return err
}

// safeError is the part of an engine error kept in the lease record and
// shown in lookups: its message, shortened. Engines name users and
// statements in errors, never passwords.
func safeError(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// backoff is the delay after attempt n (1-based): BaseBackoff·2^(n-1),
// capped, plus up to 25% jitter from crypto/rand.
func (m *Manager) backoff(n int) time.Duration {
	d := m.opts.BaseBackoff
	for i := 1; i < n && d < m.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, m.opts.MaxBackoff)
	if q := int64(d / 4); q > 0 {
		if j, err := rand.Int(rand.Reader, big.NewInt(q)); err == nil {
			d += time.Duration(j.Int64())
		}
	}
	return d
}

// errNotFound is returned for unknown lease ids (and, so as not to reveal
// that a lease exists, for leases the caller may not touch).
var errNotFound = logical.BadRequest("invalid lease ID")

// sudoChecker is implemented by the core's LeaseEngines: whether the
// request's token holds sudo on the request's path.
type sudoChecker interface {
	HasSudo(req *logical.Request) bool
}

// owned fetches a lease the caller may renew or revoke: one its own token
// created, unless the caller is root or holds sudo on the path (T13).
func (m *Manager) owned(req *logical.Request, id string) (*entry, error) {
	m.mu.Lock()
	e := m.resolve(id)
	m.mu.Unlock()
	if e == nil {
		return nil, errNotFound
	}
	if req.Token == nil {
		return nil, logical.ErrPermissionDenied
	}
	if req.Token.Root || (e.Accessor != "" && req.Token.Accessor == e.Accessor) {
		return e, nil
	}
	if sc, ok := m.engines.(sudoChecker); ok && sc.HasSudo(req) {
		return e, nil
	}
	return nil, logical.ErrPermissionDenied
}

// Renew extends lease id by increment (the lease's TTL when 0), never past
// its max TTL. The engine is asked first, so a failure leaves it unchanged.
func (m *Manager) Renew(ctx context.Context, req *logical.Request, id string, increment time.Duration) (*logical.Secret, []string, error) {
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	e, err := m.owned(req, id)
	if err != nil {
		return nil, nil, err
	}
	now := m.opts.Now()
	m.mu.Lock()
	state, renewable, expire, maxExpire, ttl := e.State, e.Renewable, e.ExpireTime, e.MaxExpire, e.TTL
	mount, secret := e.MountPath, e.secret()
	id = e.ID
	m.mu.Unlock()
	switch {
	case state != StateActive:
		return nil, nil, logical.BadRequest("lease is being revoked")
	case !renewable:
		return nil, nil, logical.BadRequest("lease is not renewable")
	case !expire.After(now) || !maxExpire.After(now):
		return nil, nil, logical.BadRequest("lease expired")
	}
	if increment <= 0 {
		increment = ttl
	}
	var warnings []string
	if left := maxExpire.Sub(now); increment > left {
		increment = left
		warnings = append(warnings, "TTL of the lease is capped at its max TTL")
	}
	secret.TTL = increment
	out, err := m.engines.Renew(ctx, mount, secret, increment)
	if err != nil {
		return nil, nil, fmt.Errorf("renew lease: %w", err)
	}
	newTTL := increment
	if out != nil && out.TTL > 0 && out.TTL < newTTL {
		newTTL = out.TTL
	}
	m.mu.Lock()
	if e.State != StateActive || m.leases[id] != e {
		m.mu.Unlock()
		return nil, nil, logical.BadRequest("lease is being revoked")
	}
	e.ExpireTime, e.TTL, e.LastRenewal = now.Add(newTTL), newTTL, now
	if out != nil && out.InternalData != nil {
		e.InternalData = out.InternalData
	}
	heap.Push(&m.sched, item{at: e.ExpireTime, id: e.ID})
	snap := *e
	m.mu.Unlock()
	if err := m.persist(ctx, &snap); err != nil {
		return nil, nil, err
	}
	return &logical.Secret{LeaseID: id, TTL: newTTL, Renewable: true, IssueTime: snap.IssueTime}, warnings, nil
}

// Revoke revokes lease id now. If the engine fails, the lease stays,
// revoke_pending, and the retries continue in the background.
func (m *Manager) Revoke(ctx context.Context, req *logical.Request, id string) error {
	e, err := m.owned(req, id)
	if err != nil {
		return err
	}
	return m.revokeNow(ctx, e)
}

func (m *Manager) revokeNow(ctx context.Context, e *entry) error {
	m.mu.Lock()
	if e.inflight {
		m.mu.Unlock()
		return logical.Errorf(http.StatusConflict, "lease revocation already in progress")
	}
	if e.State == StateIrrevocable {
		// An explicit revoke gives an irrevocable lease a fresh round.
		m.setState(e, StateRevokePending)
		e.Attempts = 0
	}
	e.inflight = true
	id := e.ID
	m.mu.Unlock()
	if err := m.attempt(ctx, id); err != nil {
		return logical.Errorf(http.StatusInternalServerError, "revocation of lease %q failed; it is kept and retried", id)
	}
	return nil
}

// resolve finds a lease by its id or by an id it had before its mount
// moved. m.mu must be held.
func (m *Manager) resolve(id string) *entry {
	if e := m.leases[id]; e != nil {
		return e
	}
	if cur, ok := m.former[id]; ok {
		return m.leases[cur]
	}
	return nil
}

// Remount moves the leases of the mount at from to the mount at to, as
// sys/remount does: each lease's id and path now start with to's path
// instead of from's, so lookups, listings, renewals, revocations and
// revoke-prefix under the new path find them, and revocation reaches the
// engine at its new mount. The old id still names the lease for lookup,
// renew and revoke (clients hold it), but not for revoke-prefix or
// listings. Each lease is written under its new id before its old record
// is deleted, so calling Remount again after an interruption (in this
// process or after a restart) finishes the move. It returns how many
// leases moved.
func (m *Manager) Remount(ctx context.Context, from, to string) (int, error) {
	m.moveMu.Lock()
	defer m.moveMu.Unlock()
	oldPath, newPath := strings.Trim(from, "/"), strings.Trim(to, "/")
	m.mu.Lock()
	var moving []*entry
	for _, e := range m.leases {
		if e.MountPath == from {
			moving = append(moving, e)
		}
	}
	m.mu.Unlock()
	sort.Slice(moving, func(i, j int) bool { return moving[i].ID < moving[j].ID })
	n := 0
	for _, e := range moving {
		m.mu.Lock()
		if m.leases[e.ID] != e {
			m.mu.Unlock()
			continue
		}
		ne := *e
		m.mu.Unlock()
		ne.ID = newPath + strings.TrimPrefix(e.ID, oldPath)
		ne.Path = newPath + strings.TrimPrefix(e.Path, oldPath)
		ne.MountPath = to
		ne.FormerIDs = append(append([]string(nil), e.FormerIDs...), e.ID)
		if err := m.persist(ctx, &ne); err != nil {
			return n, err
		}
		m.mu.Lock()
		m.unindex(e)
		m.index(&ne)
		if ne.State != StateIrrevocable {
			heap.Push(&m.sched, item{at: ne.due(), id: ne.ID})
		}
		m.mu.Unlock()
		if err := m.view.Delete(ctx, storageKey(e.ID)); err != nil {
			return n, fmt.Errorf("lease: delete record of moved lease: %w", err)
		}
		n++
	}
	if n > 0 {
		m.logger.Info("leases moved with their mount", "from", from, "to", to, "count", n)
		m.poke()
	}
	return n, nil
}

// RevokePrefix revokes every lease whose id starts with prefix. Failed ones
// stay revoke_pending; the error counts them.
func (m *Manager) RevokePrefix(ctx context.Context, prefix string) (int, error) {
	var failed, n int
	for _, e := range m.matching(prefix) {
		n++
		if err := m.revokeNow(ctx, e); err != nil {
			failed++
		}
	}
	if failed > 0 {
		return n, logical.Errorf(http.StatusInternalServerError, "%d of %d leases under %q failed to revoke; they are kept and retried", failed, n, prefix)
	}
	return n, nil
}

// ForceRevoke forgets every lease under prefix without asking the engine.
// It is for credentials an operator has removed by hand.
func (m *Manager) ForceRevoke(ctx context.Context, prefix string) (int, error) {
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	var errs []error
	n := 0
	for _, e := range m.matching(prefix) {
		if err := m.view.Delete(ctx, storageKey(e.ID)); err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		m.unindex(e)
		m.mu.Unlock()
		n++
	}
	m.logger.Warn("leases force-revoked without engine revocation", "prefix", prefix, "count", n)
	return n, errors.Join(errs...)
}

// Tidy gives every irrevocable lease a fresh round of attempts (for use once
// the database is back) and returns how many were requeued.
func (m *Manager) Tidy(ctx context.Context) (int, error) {
	m.moveMu.RLock()
	defer m.moveMu.RUnlock()
	now := m.opts.Now()
	m.mu.Lock()
	var requeue []*entry
	for _, e := range m.leases {
		if e.State == StateIrrevocable && !e.inflight {
			m.setState(e, StateRevokePending)
			e.Attempts, e.ExpireTime = 0, now
			heap.Push(&m.sched, item{at: now, id: e.ID})
			snap := *e
			requeue = append(requeue, &snap)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, e := range requeue {
		errs = append(errs, m.persist(ctx, e))
	}
	m.poke()
	return len(requeue), errors.Join(errs...)
}

func (m *Manager) matching(prefix string) []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*entry
	for id, e := range m.leases {
		if strings.HasPrefix(id, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Info is what a lookup shows of a lease. It carries no internal data.
type Info struct {
	ID string
	// MountPath and Path are where the lease was issued ("database/",
	// "creds/app").
	MountPath string
	Path      string
	IssueTime time.Time
	// MaxExpire is when the lease ends whatever its renewals.
	MaxExpire   time.Time
	ExpireTime  time.Time
	LastRenewal time.Time
	TTL         time.Duration
	Renewable   bool
	State       string
	Attempts    int
	LastError   string
}

// Lookup describes lease id.
func (m *Manager) Lookup(id string) (Info, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.resolve(id)
	if e == nil {
		return Info{}, false
	}
	return m.info(e), true
}

func (m *Manager) info(e *entry) Info {
	ttl := max(e.ExpireTime.Sub(m.opts.Now()), 0)
	return Info{ID: e.ID, MountPath: e.MountPath, Path: e.Path, IssueTime: e.IssueTime, MaxExpire: e.MaxExpire,
		ExpireTime: e.ExpireTime, LastRenewal: e.LastRenewal,
		TTL: ttl, Renewable: e.Renewable, State: e.State, Attempts: e.Attempts, LastError: e.LastError}
}

// All describes every lease, sorted by id (the reports service reads it).
func (m *Manager) All() []Info {
	es := m.matching("")
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(es))
	for _, e := range es {
		out = append(out, m.info(e))
	}
	return out
}

// Counts returns how many leases exist, are pending revocation and are
// irrevocable.
func (m *Manager) Counts() (total, pending, irrevocable int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.leases {
		switch e.State {
		case StateRevokePending:
			pending++
		case StateIrrevocable:
			irrevocable++
		}
	}
	return len(m.leases), pending, irrevocable
}

// List returns the next path components under prefix among lease ids, as
// Vault's LIST sys/leases/lookup/PREFIX does ("name/" for a folder).
func (m *Manager) List(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return storage.ListNames(prefix, maps.Keys(m.leases))
}

// item is one scheduled wake-up.
type item struct {
	at time.Time
	id string
}

// schedHeap is a min-heap of wake-ups. Entries are never removed early:
// the scheduler drops stale ones when they reach the top.
type schedHeap []item

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h schedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *schedHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *schedHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Poke makes the scheduler re-read the clock and the earliest due lease at
// once. Only callers that move an injected Options.Now need it.
func (m *Manager) Poke() { m.poke() }
