package watch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// AlertPrefix and MFAPrefix are where alerts and require-MFA marks live
// in the watch service's storage.
const (
	AlertPrefix = "alerts/"
	MFAPrefix   = "mfa-required/"
)

// Containment is what the server does for a rule's contain actions. The
// node implements it through the core: RevokeToken revokes the token with
// this accessor, its children and their leases; Seal seals the server
// (refusing unless the server's configuration allows it). Audit records
// an automatic action in the audit log. No method may block on the
// detector (Seal must return before the server seals).
type Containment interface {
	RevokeToken(ctx context.Context, accessor string) error
	// LockTarget names the auth mount ("auth/approle/") and the role or
	// user ("deploy") that issued the token with this accessor.
	LockTarget(ctx context.Context, accessor string) (mount, name string, err error)
	Seal(ctx context.Context) error
	// RequireMFA makes the entity's next login pass MFA (the MFA store's
	// mark, cleared by the first login that passes).
	RequireMFA(ctx context.Context, entityID string) error
	Audit(ctx context.Context, a *Alert, act Action)
}

// EngineOptions configure an Engine. Zero values take the defaults.
type EngineOptions struct {
	// QueueSize bounds the events waiting for the detectors (default
	// 8192); past it events are dropped and counted, never waited for.
	QueueSize int
	// MaxResolved is how many resolved alerts are kept (default 1000).
	MaxResolved int
	Notifier    Notifier
	Contain     Containment
	// Inspect reads policies for policy-widening (nil: that rule sees
	// nothing).
	Inspect Inspector
	// IsProduction replaces IsProductionPath (environment labels).
	IsProduction func(r *Rule, e *Event) bool
	// Location is the baselines' time zone (learned hours).
	Location *time.Location
	Logger   *slog.Logger
	// Now stamps acknowledgements and actions (default time.Now).
	Now func() time.Time
}

// Engine runs the detectors over the hub's events, keeps the alerts and
// the tuned rules and the canary registry behind the barrier, notifies
// every alert change and takes the configured containment. It lives as
// long as the node; Attach and Detach follow unseal and seal.
type Engine struct {
	opts     EngineOptions
	q        chan observed
	dropped  atomic.Uint64
	attached atomic.Bool
	rules    atomic.Pointer[ruleSet]
	canaries atomic.Pointer[canarySet]
	drills   atomic.Pointer[drillSet]
	idle     atomic.Int64 // events handed over and not yet processed

	mu      sync.Mutex // alerts, open, storage
	storage logical.Storage
	alerts  map[string]*Alert
	open    map[string]string // group key -> id of the alert not resolved
	// dirty are alerts whose grouped count changed since they were last
	// written: bumps are written at most every persistEvery (and at
	// Detach), so a flood of matching events costs no write each.
	dirty map[string]bool
	locks map[string]Lock // lock-role locks by LockID
	det   detectors
	// policies is the ACL policies as last read (policy-widening); only
	// the engine goroutine uses it.
	policies map[string]string
	roles    map[string]map[string]any // auth roles as last read, by path
	stop     chan struct{}
	done     chan struct{}
}

// ruleSet is the rules in effect: immutable, swapped whole.
type ruleSet struct {
	by  map[string]*Rule
	loc *time.Location
}

func (rs *ruleSet) rule(name string) *Rule {
	if r := rs.by[name]; r != nil && r.Enabled {
		return r
	}
	return nil
}

func (rs *ruleSet) on(name, path string) *Rule {
	if r := rs.rule(name); r != nil && (name == RuleProduction || r.onPaths(path)) {
		return r
	}
	return nil
}

func defaultRules(loc *time.Location) *ruleSet {
	rs := &ruleSet{by: map[string]*Rule{}, loc: loc}
	for _, n := range Rules {
		r, _ := DefaultRule(n)
		rs.by[n] = &r
	}
	return rs
}

// NewEngine returns a detached engine.
func NewEngine(opts EngineOptions) *Engine {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.MaxResolved <= 0 {
		opts.MaxResolved = 1000
	}
	if opts.Notifier == nil {
		opts.Notifier = Notifiers(nil)
	}
	if opts.IsProduction == nil {
		opts.IsProduction = IsProductionPath
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{opts: opts, q: make(chan observed, opts.QueueSize), alerts: map[string]*Alert{}, open: map[string]string{},
		dirty: map[string]bool{}}
	e.det.isProduction = opts.IsProduction
	e.rules.Store(defaultRules(opts.Location))
	e.canaries.Store(newCanarySet(nil))
	e.drills.Store(newDrillSet())
	return e
}

// offer hands an event to the detectors without blocking.
func (en *Engine) offer(ev *Event, p Prior) {
	if !en.attached.Load() {
		return
	}
	en.idle.Add(1)
	select {
	case en.q <- observed{e: *ev, prior: p}:
	default:
		en.idle.Add(-1)
		en.dropped.Add(1)
	}
}

// Dropped counts events the detectors never saw because their queue was
// full.
func (en *Engine) Dropped() uint64 { return en.dropped.Load() }

// Pending is how many handed-over events the detectors have not finished
// (tests wait for 0).
func (en *Engine) Pending() int64 { return en.idle.Load() }

// Attach loads the rules, canaries and alerts from s and starts the
// detectors. Unreadable entries are logged and skipped: they never keep a
// node from unsealing.
func (en *Engine) Attach(ctx context.Context, s logical.Storage) {
	rs := defaultRules(en.opts.Location)
	if keys, err := s.List(ctx, RulePrefix); err != nil {
		en.opts.Logger.Error("watch: rules not loaded; using defaults", "err", err)
	} else {
		for _, k := range keys {
			data, err := s.Get(ctx, RulePrefix+k)
			if err != nil || data == nil {
				continue
			}
			if _, known := rs.by[k]; !known {
				continue
			}
			r, err := DecodeRule(k, data)
			if err != nil {
				en.opts.Logger.Error("watch: stored rule unreadable; using its default", "rule", k, "err", err)
				continue
			}
			rs.by[k] = &r
		}
	}
	cs, err := loadCanaries(ctx, s)
	if err != nil {
		en.opts.Logger.Error("watch: canaries not loaded", "err", err)
	}
	alerts := map[string]*Alert{}
	open := map[string]string{}
	if keys, err := s.List(ctx, AlertPrefix); err != nil {
		en.opts.Logger.Error("watch: alerts not loaded", "err", err)
	} else {
		for _, k := range keys {
			data, err := s.Get(ctx, AlertPrefix+k)
			if err != nil || data == nil {
				continue
			}
			var a Alert
			if json.Unmarshal(data, &a) != nil || a.ID != k {
				en.opts.Logger.Warn("watch: unreadable alert skipped", "id", k)
				continue
			}
			alerts[k] = &a
			if a.Status != AlertResolved {
				open[a.GroupKey] = a.ID
			}
		}
	}
	en.mu.Lock()
	oldStop, oldDone := en.stop, en.done
	en.stop, en.done = nil, nil
	en.mu.Unlock()
	if oldStop != nil { // attached twice without a Detach: stop the old loop
		close(oldStop)
		<-oldDone
	}
	locks := loadLocks(ctx, s, en.opts.Logger)
	en.mu.Lock()
	en.locks = locks
	en.storage, en.alerts, en.open, en.dirty = s, alerts, open, map[string]bool{}
	en.det = detectors{isProduction: en.opts.IsProduction}
	en.rules.Store(rs)
	en.canaries.Store(newCanarySet(cs))
	en.stop, en.done = make(chan struct{}), make(chan struct{})
	go en.loop(en.stop, en.done)
	en.mu.Unlock()
	en.attached.Store(true)
}

// Detach stops the detectors and forgets the alerts in memory (at seal).
func (en *Engine) Detach() {
	en.attached.Store(false)
	en.mu.Lock()
	stop, done := en.stop, en.done
	en.stop, en.done = nil, nil
	en.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	en.mu.Lock()
	en.storage, en.alerts, en.open, en.dirty = nil, map[string]*Alert{}, map[string]string{}, map[string]bool{}
	en.det = detectors{isProduction: en.opts.IsProduction}
	en.policies, en.roles = nil, nil
	en.locks = nil
	en.drills.Store(newDrillSet())
	en.mu.Unlock()
	for {
		select {
		case <-en.q:
			en.idle.Add(-1)
		default:
			return
		}
	}
}

// persistEvery is how often grouped counts are written.
const persistEvery = 5 * time.Second

func (en *Engine) loop(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(persistEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			en.flushDirty()
			return
		case <-tick.C:
			en.flushDirty()
		case o := <-en.q:
			en.process(&o)
			en.idle.Add(-1)
		}
	}
}

// flushDirty writes the alerts whose counts changed.
func (en *Engine) flushDirty() {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return
	}
	for id := range en.dirty {
		if a := en.alerts[id]; a != nil {
			en.persistLocked(context.Background(), a)
		}
		delete(en.dirty, id)
	}
}

func (en *Engine) process(o *observed) {
	rs := en.rules.Load()
	if en.policies == nil && en.opts.Inspect != nil && policyName(o.e.Path) == "" && rs.rule(RulePolicyWidening) != nil {
		if all, err := en.opts.Inspect.ACLPolicies(context.Background()); err == nil {
			en.policies = all
		}
	}
	drill, drs := en.drillFor(rs, &o.e)
	for _, m := range en.det.run(drs, o, en.canaries.Load()) {
		m.drill = drill
		en.raise(&m, &o.e)
	}
	if m := en.policyChange(rs, o); m != nil {
		m.drill = drill
		en.raise(m, &o.e)
	}
	if m := en.roleChange(rs, o); m != nil {
		m.drill = drill
		en.raise(m, &o.e)
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// raise opens an alert for m or counts e into the open one of its group.
func (en *Engine) raise(m *match, e *Event) {
	ctx := context.Background()
	en.mu.Lock()
	if en.storage == nil {
		en.mu.Unlock()
		return
	}
	if id, ok := en.open[m.group]; ok {
		if a := en.alerts[id]; a != nil && a.Status != AlertResolved {
			a.Count++
			if e.Time.After(a.LastSeen) {
				a.LastSeen = e.Time
			}
			maps.Copy(a.Evidence, m.evidence)
			en.dirty[a.ID] = true
			c := cloneAlert(a)
			en.mu.Unlock()
			en.opts.Notifier.Notify(c)
			return
		}
	}
	a := &Alert{ID: newID(), Rule: m.rule.Name, Severity: m.rule.Severity, Status: AlertOpen, GroupKey: m.group,
		Identity: e.Identity, Summary: m.summary, Evidence: m.evidence, FirstSeen: e.Time, LastSeen: e.Time, Count: 1}
	if m.drill != nil {
		a.Drill = m.drill.ID
	}
	if a.Evidence == nil {
		a.Evidence = map[string]string{}
	}
	a.Identity.Claims = maps.Clone(e.Identity.Claims)
	en.alerts[a.ID] = a
	en.open[m.group] = a.ID
	rule := *m.rule
	en.mu.Unlock()
	acts := en.contain(ctx, &rule, a, e)
	en.mu.Lock()
	a.Actions = append(a.Actions, acts...)
	en.persistLocked(ctx, a)
	c := cloneAlert(a)
	en.mu.Unlock()
	en.opts.Notifier.Notify(c)
}

// contain takes rule's actions for the new alert a (or records them in
// dry-run), auditing each.
func (en *Engine) contain(ctx context.Context, r *Rule, a *Alert, e *Event) []Action {
	var acts []Action
	for _, kind := range r.Contain {
		act := Action{Kind: kind, DryRun: r.DryRun, Time: en.opts.Now()}
		var err error
		switch kind {
		case ActionRevokeToken:
			act.Target = "accessor:" + e.Identity.Accessor
			if e.Identity.Accessor == "" {
				err = errors.New("the request carried no token")
			} else if !r.DryRun {
				err = en.containment().RevokeToken(ctx, e.Identity.Accessor)
			}
		case ActionRequireMFA:
			act.Target = who(&e.Identity)
			if who(&e.Identity) == "anonymous" {
				err = errors.New("the request had no identity")
			} else if !r.DryRun {
				err = en.requireMFA(ctx, &e.Identity, a.ID)
				if err == nil {
					if e.Identity.EntityID == "" {
						err = errors.New("marked, but not enforceable: the token has no entity (auth/token tokens carry none), so no login of it can be held for MFA")
					} else {
						err = en.containment().RequireMFA(ctx, e.Identity.EntityID)
					}
				}
			}
		case ActionLockRole:
			var mount, name string
			if e.Identity.Accessor == "" {
				err = errors.New("the request carried no token")
			} else if mount, name, err = en.containment().LockTarget(ctx, e.Identity.Accessor); err == nil {
				act.Target = mount + " " + name
				if !r.DryRun {
					err = en.lock(ctx, Lock{Mount: mount, Name: name, Until: en.opts.Now().Add(r.lockDuration()),
						AlertID: a.ID, Rule: r.Name, Created: en.opts.Now()})
				}
			}
		case ActionSeal:
			act.Target = "server"
			if !r.DryRun {
				err = en.containment().Seal(ctx)
			}
		}
		if err != nil {
			act.Error = err.Error()
		}
		en.containment().Audit(ctx, a, act)
		acts = append(acts, act)
	}
	return acts
}

type noContainment struct{}

var errNoContainment = errors.New("containment is not available on this server")

func (noContainment) RevokeToken(context.Context, string) error { return errNoContainment }
func (noContainment) Seal(context.Context) error                { return errNoContainment }
func (noContainment) RequireMFA(context.Context, string) error  { return errNoContainment }
func (noContainment) LockTarget(context.Context, string) (string, string, error) {
	return "", "", errNoContainment
}
func (noContainment) Audit(context.Context, *Alert, Action) {}

func (en *Engine) containment() Containment {
	if en.opts.Contain == nil {
		return noContainment{}
	}
	return en.opts.Contain
}

// MFAMark is a require-MFA mark: the record that containment asked the
// identity to pass MFA at its next login. The enforcement is the MFA
// store's (Containment.RequireMFA), for identities with an entity.
type MFAMark struct {
	Identity string    `json:"identity"`
	AlertID  string    `json:"alert_id"`
	Time     time.Time `json:"time"`
}

func (en *Engine) requireMFA(ctx context.Context, id *Identity, alertID string) error {
	en.mu.Lock()
	s := en.storage
	en.mu.Unlock()
	if s == nil {
		return errors.New("sealed")
	}
	data, _ := json.Marshal(MFAMark{Identity: id.Key(), AlertID: alertID, Time: en.opts.Now()})
	return s.Put(ctx, MFAPrefix+hashKey(id.Key()), data)
}

// MFARequired reports whether identity key carries a require-MFA mark.
func (en *Engine) MFARequired(ctx context.Context, key string) (bool, error) {
	en.mu.Lock()
	s := en.storage
	en.mu.Unlock()
	if s == nil {
		return false, errors.New("sealed")
	}
	data, err := s.Get(ctx, MFAPrefix+hashKey(key))
	return data != nil, err
}

func hashKey(k string) string {
	return storageKey(k)[len(BaselinePrefix):]
}

func (en *Engine) persistLocked(ctx context.Context, a *Alert) {
	delete(en.dirty, a.ID)
	data, err := json.Marshal(a)
	if err == nil {
		err = en.storage.Put(ctx, AlertPrefix+a.ID, data)
	}
	if err != nil {
		en.opts.Logger.Error("watch: alert not persisted", "id", a.ID, "rule", a.Rule, "err", err)
	}
}

func cloneAlert(a *Alert) Alert {
	c := *a
	c.Evidence = maps.Clone(a.Evidence)
	c.Actions = slices.Clone(a.Actions)
	c.Identity.Claims = maps.Clone(a.Identity.Claims)
	return c
}

// AlertFilter selects alerts in List; zero fields match all.
type AlertFilter struct {
	Status   AlertStatus
	Severity Severity // at least this severity
	Rule     string
	// Drill selects the alerts raised in the drill scope of this id.
	Drill string
}

// ErrSealed is returned while the engine is detached.
var ErrSealed = errors.New("watch: server is sealed")

// Alerts returns the alerts f selects, newest first.
func (en *Engine) Alerts(f AlertFilter) ([]Alert, error) {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return nil, ErrSealed
	}
	var out []Alert
	for _, a := range en.alerts {
		if f.Status != "" && a.Status != f.Status || f.Severity != 0 && a.Severity < f.Severity || f.Rule != "" && a.Rule != f.Rule ||
			f.Drill != "" && a.Drill != f.Drill {
			continue
		}
		out = append(out, cloneAlert(a))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Alert returns the alert id.
func (en *Engine) Alert(id string) (Alert, bool) {
	en.mu.Lock()
	defer en.mu.Unlock()
	a, ok := en.alerts[id]
	if !ok {
		return Alert{}, false
	}
	return cloneAlert(a), true
}

// ErrNoAlert is returned for an unknown alert id.
var ErrNoAlert = errors.New("no such alert")

// Acknowledge marks alert id acknowledged by by (an identity, never a
// token). Acknowledging a resolved alert is an error.
func (en *Engine) Acknowledge(ctx context.Context, id, by string) (Alert, error) {
	return en.transition(ctx, id, func(a *Alert) error {
		switch a.Status {
		case AlertResolved:
			return fmt.Errorf("alert %s is resolved", id)
		case AlertAcknowledged:
			return nil
		}
		a.Status, a.AckedBy, a.AckedAt = AlertAcknowledged, by, en.opts.Now()
		return nil
	})
}

// Resolve closes alert id: a new match of its group opens a new alert.
func (en *Engine) Resolve(ctx context.Context, id, by string) (Alert, error) {
	return en.transition(ctx, id, func(a *Alert) error {
		if a.Status == AlertResolved {
			return nil
		}
		a.Status, a.ResolvedBy, a.ResolvedAt = AlertResolved, by, en.opts.Now()
		if en.open[a.GroupKey] == a.ID {
			delete(en.open, a.GroupKey)
		}
		return nil
	})
}

func (en *Engine) transition(ctx context.Context, id string, f func(*Alert) error) (Alert, error) {
	en.mu.Lock()
	if en.storage == nil {
		en.mu.Unlock()
		return Alert{}, ErrSealed
	}
	a, ok := en.alerts[id]
	if !ok {
		en.mu.Unlock()
		return Alert{}, ErrNoAlert
	}
	before := a.Status
	if err := f(a); err != nil {
		en.mu.Unlock()
		return Alert{}, err
	}
	changed := a.Status != before
	if changed {
		delete(en.dirty, a.ID)
		data, err := json.Marshal(a)
		if err == nil {
			err = en.storage.Put(ctx, AlertPrefix+a.ID, data)
		}
		if err != nil {
			en.mu.Unlock()
			return Alert{}, fmt.Errorf("watch: store alert: %w", err)
		}
		en.pruneLocked(ctx)
	}
	c := cloneAlert(a)
	en.mu.Unlock()
	if changed {
		en.opts.Notifier.Notify(c)
	}
	return c, nil
}

// pruneLocked deletes the oldest resolved alerts beyond MaxResolved.
func (en *Engine) pruneLocked(ctx context.Context) {
	var resolved []*Alert
	for _, a := range en.alerts {
		if a.Status == AlertResolved {
			resolved = append(resolved, a)
		}
	}
	if len(resolved) <= en.opts.MaxResolved {
		return
	}
	sort.Slice(resolved, func(i, j int) bool { return resolved[i].ResolvedAt.Before(resolved[j].ResolvedAt) })
	for _, a := range resolved[:len(resolved)-en.opts.MaxResolved] {
		if err := en.storage.Delete(ctx, AlertPrefix+a.ID); err != nil {
			en.opts.Logger.Error("watch: old alert not deleted", "id", a.ID, "err", err)
			return
		}
		delete(en.alerts, a.ID)
	}
}

// Rule returns the rule in effect for name.
func (en *Engine) Rule(name string) (Rule, bool) {
	r, ok := en.rules.Load().by[name]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}

// SetRule stores r and puts it in effect.
func (en *Engine) SetRule(ctx context.Context, r Rule) error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return ErrSealed
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	if err := en.storage.Put(ctx, RulePrefix+r.Name, data); err != nil {
		return fmt.Errorf("watch: store rule: %w", err)
	}
	en.swapRule(&r)
	return nil
}

// ResetRule deletes name's tuning: the default is in effect again.
func (en *Engine) ResetRule(ctx context.Context, name string) error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return ErrSealed
	}
	if err := en.storage.Delete(ctx, RulePrefix+name); err != nil {
		return fmt.Errorf("watch: delete rule: %w", err)
	}
	r, _ := DefaultRule(name)
	en.swapRule(&r)
	return nil
}

func (en *Engine) swapRule(r *Rule) {
	old := en.rules.Load()
	next := &ruleSet{by: maps.Clone(old.by), loc: old.loc}
	next.by[r.Name] = r
	en.rules.Store(next)
}

func loadCanaries(ctx context.Context, s logical.Storage) ([]Canary, error) {
	keys, err := s.List(ctx, CanaryPrefix)
	if err != nil {
		return nil, err
	}
	var out []Canary
	for _, k := range keys {
		data, err := s.Get(ctx, CanaryPrefix+k)
		if err != nil || data == nil {
			continue
		}
		c, err := decodeCanary(data)
		if err != nil || canaryKey(c.Path) != CanaryPrefix+k {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Canaries returns the registered canaries by path.
func (en *Engine) Canaries() []Canary { return slices.Clone(en.canaries.Load().list) }

// AddCanary registers c (replacing a canary at the same path).
func (en *Engine) AddCanary(ctx context.Context, c Canary) error {
	return en.changeCanaries(ctx, func(s logical.Storage) error {
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return s.Put(ctx, canaryKey(c.Path), data)
	})
}

// RemoveCanary unregisters the canary at path (no error when none).
func (en *Engine) RemoveCanary(ctx context.Context, path string) error {
	return en.changeCanaries(ctx, func(s logical.Storage) error { return s.Delete(ctx, canaryKey(path)) })
}

func (en *Engine) changeCanaries(ctx context.Context, f func(logical.Storage) error) error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return ErrSealed
	}
	if err := f(en.storage); err != nil {
		return fmt.Errorf("watch: canary registry: %w", err)
	}
	cs, err := loadCanaries(ctx, en.storage)
	if err != nil {
		return fmt.Errorf("watch: canary registry: %w", err)
	}
	en.canaries.Store(newCanarySet(cs))
	return nil
}
