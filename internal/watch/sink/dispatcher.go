package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
	"github.com/keyward/keyward/internal/watch"
)

// ErrDetached is returned while the dispatcher is not attached (the node
// is sealed or a standby).
var ErrDetached = errors.New("alert delivery is not running (sealed or standby)")

// Options tune a Dispatcher. The zero value works: the wall clock, real
// timers and sleeps, and the bounds below.
type Options struct {
	// Now is the clock (the webhook timestamp, dead-letter times).
	Now func() time.Time
	// AfterFunc arms escalation timers (time.AfterFunc by default;
	// clocktest.Clock.AfterFunc in tests).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Sleep waits between tries; it returns early with ctx's error.
	Sleep func(ctx context.Context, d time.Duration) error
	// QueueSize bounds the deliveries waiting for a worker (default 1024).
	QueueSize int
	// Workers deliver in parallel (default 4).
	Workers int
	// MaxDeadLetters bounds the dead-letter list; the oldest go first
	// (default 1000).
	MaxDeadLetters int
	// MaxTracked bounds the alerts remembered for escalation and for
	// telling a change from a repeat (default 10000).
	MaxTracked int
	// AllowedNetworks, when not empty, are the only networks sinks may
	// connect to (the server config's watch sink_networks).
	AllowedNetworks []netip.Prefix
	// Hostname names this server in syslog and mail (os.Hostname).
	Hostname string
	Logger   *slog.Logger
}

// Stats count what the dispatcher did since it was built.
type Stats struct {
	// Queued deliveries, one per alert change and sink.
	Queued uint64
	// Delivered deliveries (on any try, or a dead-letter retry).
	Delivered uint64
	// Retries made after a failed try.
	Retries uint64
	// DeadLettered deliveries that ran out of tries, were refused for
	// good, or found the queue full.
	DeadLettered uint64
	// DeadLettersEvicted old dead letters removed to keep the bound.
	DeadLettersEvicted uint64
	// Dropped deliveries lost: alerts notified while detached, deliveries
	// pending or retrying at seal, overflow past the dead-letter queue.
	Dropped uint64
	// Escalated deliveries sent to an escalation sink.
	Escalated uint64
}

// Dispatcher is the watch.Notifier that delivers alerts to the sinks of
// sys/watch/sinks. Notify never blocks: it decides the deliveries of an
// alert change under a lock and queues them (bounded); workers send them
// with retries. It runs only while attached (Attach at unseal on the
// active node, Detach at seal); an alert notified while detached is
// dropped and counted. It is safe for concurrent use.
type Dispatcher struct {
	opts   Options
	log    *slog.Logger
	sender sender

	mu    sync.Mutex
	run   *running
	stats Stats
}

var _ watch.Notifier = (*Dispatcher)(nil)

// running is the attached state: it lives from Attach to Detach.
type running struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	store   logical.Storage
	sinks   map[string]*Config
	alerts  map[string]*tracked
	queue   []job
	busy    map[string]bool // sinks a worker is trying now
	spill   []job           // found the queue full: to become dead letters
	wake    chan struct{}
	dead    []string // dead-letter ids, oldest first
	deadMu  sync.Mutex
	stopped bool
	seq     uint64
	waiting int // deliveries waiting to retry
	// outcomes are the delivery outcomes by alert (under Dispatcher.mu).
	outcomes outcomes
}

// tracked is what the dispatcher remembers of one alert.
type tracked struct {
	alert    watch.Alert
	sentTo   map[string]bool // sinks that received it
	armed    map[string]bool // sinks whose escalation timer was armed
	stops    []func() bool
	order    uint64
	maxLevel int
}

type job struct {
	cfg     *Config
	d       Delivery
	attempt int // tries made
}

// New returns a detached dispatcher.
func New(opts Options) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.MaxDeadLetters <= 0 {
		opts.MaxDeadLetters = 1000
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = 10000
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{opts: opts, log: opts.Logger.With("component", "watch-sinks"),
		sender: sender{now: opts.Now, host: opts.Hostname, control: dialControl(opts.AllowedNetworks)}}
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Storage keys under the service's view.
const (
	sinkPrefix = "sinks/"
	deadPrefix = "dead/"
)

// Attach loads the sinks and dead letters from store (the service's view
// behind the barrier) and starts delivering. A sink whose stored settings
// no longer validate is skipped with a log line.
func (d *Dispatcher) Attach(ctx context.Context, store logical.Storage) error {
	names, err := store.List(ctx, sinkPrefix)
	if err != nil {
		return fmt.Errorf("list sinks: %w", err)
	}
	sinks := map[string]*Config{}
	for _, name := range names {
		var s stored
		found, err := logical.GetJSON(ctx, store, sinkPrefix+name, &s)
		if err != nil {
			return fmt.Errorf("load sink %q: %w", name, err)
		}
		if !found {
			continue
		}
		c, err := s.config(name)
		if err != nil {
			d.log.Error("skipping sink", "sink", name, "err", err)
			continue
		}
		sinks[name] = c
	}
	dead, err := store.List(ctx, deadPrefix)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	slices.Sort(dead)
	rctx, cancel := context.WithCancel(context.Background())
	r := &running{ctx: rctx, cancel: cancel, store: store, sinks: sinks, alerts: map[string]*tracked{}, busy: map[string]bool{},
		wake: make(chan struct{}, 1), dead: dead}
	d.mu.Lock()
	if d.run != nil {
		d.mu.Unlock()
		cancel()
		return errors.New("alert delivery is already attached")
	}
	d.run = r
	d.mu.Unlock()
	for range d.opts.Workers {
		r.wg.Add(1)
		go d.worker(r)
	}
	d.log.Info("alert delivery started", "sinks", len(sinks), "dead_letters", len(dead))
	return nil
}

// Detach stops delivering: escalation timers stop, tries in flight are
// cancelled, and queued deliveries are dropped (counted). Escalation state
// is not kept across a seal (docs/watch.md, Escalation).
func (d *Dispatcher) Detach() {
	d.mu.Lock()
	r := d.run
	d.run = nil
	if r != nil {
		r.stopped = true
		for _, t := range r.alerts {
			for _, stop := range t.stops {
				stop()
			}
		}
		d.stats.Dropped += uint64(len(r.queue) + len(r.spill))
		r.queue, r.spill = nil, nil
	}
	d.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
	d.log.Info("alert delivery stopped")
}

// Notify implements watch.Notifier: it never blocks and never fails.
func (d *Dispatcher) Notify(a watch.Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.run
	if r == nil {
		d.stats.Dropped++
		return
	}
	t := r.alerts[a.ID]
	var kind Kind
	if t == nil {
		switch a.Status {
		case watch.AlertAcknowledged:
			kind = KindAcknowledged
		case watch.AlertResolved:
			kind = KindResolved
		default:
			kind = KindRaised
		}
		t = &tracked{sentTo: map[string]bool{}, armed: map[string]bool{}}
		d.track(r, a.ID, t)
	} else {
		prev := t.alert
		switch {
		case a.Status != prev.Status && a.Status == watch.AlertAcknowledged:
			kind = KindAcknowledged
		case a.Status != prev.Status && a.Status == watch.AlertResolved:
			kind = KindResolved
		case a.Status != prev.Status && a.Status == watch.AlertOpen:
			kind = KindRaised // reopened
		case a.Severity > prev.Severity || len(a.Actions) > len(prev.Actions):
			kind = KindUpdated
		}
	}
	t.alert = cloneAlert(a)
	if a.Status != watch.AlertOpen {
		for _, stop := range t.stops {
			stop()
		}
		t.stops = nil
		clear(t.armed)
	}
	if kind == "" {
		return // a repeat (count, last seen): not worth a message
	}
	routed := d.routed(r, a.Severity)
	targets := routed
	if kind == KindAcknowledged || kind == KindResolved {
		// Whoever was told of the alert hears that it is handled.
		for name := range t.sentTo {
			if c := r.sinks[name]; c != nil && !slices.Contains(targets, c) {
				targets = append(targets, c)
			}
		}
	}
	for _, c := range targets {
		d.enqueue(r, c, kind, 0, t)
	}
	if a.Status == watch.AlertResolved {
		delete(r.alerts, a.ID)
		return
	}
	if a.Status == watch.AlertOpen && a.Severity == watch.SeverityCritical {
		for _, c := range routed {
			d.arm(r, a.ID, t, c, 1)
		}
	}
}

// routed are the sinks whose min_severity sev reaches, by name.
func (d *Dispatcher) routed(r *running, sev watch.Severity) []*Config {
	var out []*Config
	for _, c := range r.sinks {
		if sev >= c.MinSeverity && !c.EscalationOnly {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Config) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// track remembers t, forgetting the oldest alert past the bound
// (acknowledged ones first, as they no longer escalate).
func (d *Dispatcher) track(r *running, id string, t *tracked) {
	r.seq++
	t.order = r.seq
	r.alerts[id] = t
	if len(r.alerts) <= d.opts.MaxTracked {
		return
	}
	var victim string
	var victimT *tracked
	for k, v := range r.alerts {
		if k == id {
			continue
		}
		better := victimT == nil ||
			(v.alert.Status != watch.AlertOpen && victimT.alert.Status == watch.AlertOpen) ||
			((v.alert.Status != watch.AlertOpen) == (victimT.alert.Status != watch.AlertOpen) && v.order < victimT.order)
		if better {
			victim, victimT = k, v
		}
	}
	for _, stop := range victimT.stops {
		stop()
	}
	delete(r.alerts, victim)
}

// arm starts the escalation timer of alert id delivered to c, once per
// sink and alert: after c.EscalateAfter the alert, if still open, goes to
// c.EscalateTo at level.
func (d *Dispatcher) arm(r *running, id string, t *tracked, c *Config, level int) {
	if c.EscalateAfter <= 0 || c.EscalateTo == "" || t.armed[c.Name] {
		return
	}
	t.armed[c.Name] = true
	from := c.Name
	t.stops = append(t.stops, d.opts.AfterFunc(c.EscalateAfter, func() { d.escalate(r, id, from, level) }))
}

func (d *Dispatcher) escalate(r *running, id, from string, level int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != r || r.stopped {
		return
	}
	t := r.alerts[id]
	if t == nil || t.alert.Status != watch.AlertOpen || !t.armed[from] {
		return
	}
	src := r.sinks[from]
	if src == nil || src.EscalateTo == "" {
		return // the sink was deleted or no longer escalates
	}
	next := r.sinks[src.EscalateTo]
	if next == nil {
		d.log.Warn("escalation sink missing", "sink", from, "escalate_to", src.EscalateTo, "alert", id)
		return
	}
	if !t.sentTo[next.Name] || level > t.maxLevel {
		d.stats.Escalated++
		d.log.Info("alert escalated", "alert", id, "from", from, "to", next.Name, "level", level)
		d.enqueue(r, next, KindEscalated, level, t)
		t.maxLevel = max(t.maxLevel, level)
	}
	d.arm(r, id, t, next, level+1)
}

// enqueue queues the delivery of t's alert to c, dropping the oldest
// queued delivery into the dead letters when the queue is full.
func (d *Dispatcher) enqueue(r *running, c *Config, kind Kind, level int, t *tracked) {
	t.sentTo[c.Name] = true
	j := job{cfg: c, d: Delivery{ID: uuid.New(), Kind: kind, Sink: c.Name, Level: level, Alert: cloneAlert(t.alert), Queued: d.opts.Now()}}
	d.stats.Queued++
	r.outcomes.get(t.alert.ID, d.opts.MaxTracked).Pending[c.Name]++
	if len(r.queue) >= d.opts.QueueSize {
		old := r.queue[0]
		r.queue = r.queue[1:]
		if len(r.spill) < d.opts.QueueSize {
			r.spill = append(r.spill, old)
		} else {
			d.stats.Dropped++
		}
	}
	r.queue = append(r.queue, j)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func cloneAlert(a watch.Alert) watch.Alert {
	a.Evidence = cloneMap(a.Evidence)
	a.Identity.Claims = cloneMap(a.Identity.Claims)
	a.Actions = slices.Clone(a.Actions)
	return a
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// worker sends queued deliveries until r stops.
func (d *Dispatcher) worker(r *running) {
	defer r.wg.Done()
	for {
		d.mu.Lock()
		var j job
		var spilled, ok bool
		switch {
		case len(r.spill) > 0:
			j, r.spill, spilled, ok = r.spill[0], r.spill[1:], true, true
		case len(r.queue) > 0:
			// One try at a time per sink: a receiver that never answers
			// holds one worker, not all of them, and a sink gets its
			// deliveries in order.
			if i := slices.IndexFunc(r.queue, func(q job) bool { return !r.busy[q.cfg.Name] }); i >= 0 {
				j, ok = r.queue[i], true
				r.queue = slices.Delete(r.queue, i, i+1)
				r.busy[j.cfg.Name] = true
			}
		}
		// Wake another worker only after taking a job: one that found
		// nothing it may send waits for a new job or a finished try.
		more := ok && len(r.spill)+len(r.queue) > 0
		d.mu.Unlock()
		if more {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
		if !ok {
			select {
			case <-r.ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		if spilled {
			d.deadLetter(r, j, 0, "delivery queue full")
			continue
		}
		d.deliver(r, j)
		d.mu.Lock()
		delete(r.busy, j.cfg.Name)
		d.mu.Unlock()
	}
}

// backoff is the wait after try n (1-based) failed.
func backoff(c *Config, n int) time.Duration {
	w := c.Backoff
	for i := 1; i < n && w < c.MaxBackoff; i++ {
		w *= 2
	}
	return min(w, c.MaxBackoff)
}

// deliver makes the next try of j. A failed try that may be retried
// waits in a goroutine of its own, not in the worker, so one failing sink
// cannot hold up the others; at most QueueSize deliveries wait so, and a
// failure beyond that becomes a dead letter at once.
func (d *Dispatcher) deliver(r *running, j job) {
	j.attempt++
	err := d.sender.send(r.ctx, j.cfg, &j.d)
	if err == nil {
		d.mu.Lock()
		d.stats.Delivered++
		if oc := r.outcomes.done(j.d.Alert.ID, j.cfg.Name); oc != nil {
			if _, ok := oc.Delivered[j.cfg.Name]; !ok {
				oc.Delivered[j.cfg.Name] = d.opts.Now()
			}
		}
		d.mu.Unlock()
		d.log.Debug("alert delivered", "sink", j.cfg.Name, "type", string(j.cfg.Type), "alert", j.d.Alert.ID,
			"delivery", j.d.ID, "attempt", j.attempt)
		return
	}
	if r.ctx.Err() != nil {
		d.count(func(s *Stats) { s.Dropped++ })
		return
	}
	d.log.Warn("alert delivery failed", "sink", j.cfg.Name, "type", string(j.cfg.Type), "alert", j.d.Alert.ID,
		"delivery", j.d.ID, "attempt", j.attempt, "max_attempts", j.cfg.MaxAttempts, "err", err.Error())
	if IsPermanent(err) || j.attempt >= j.cfg.MaxAttempts {
		d.deadLetter(r, j, j.attempt, err.Error())
		return
	}
	d.mu.Lock()
	full := r.waiting >= d.opts.QueueSize
	if !full {
		r.waiting++
		d.stats.Retries++
		r.wg.Add(1)
	}
	d.mu.Unlock()
	if full {
		d.deadLetter(r, j, j.attempt, err.Error()+" (too many deliveries waiting to retry)")
		return
	}
	go func() {
		defer r.wg.Done()
		werr := d.opts.Sleep(r.ctx, backoff(j.cfg, j.attempt))
		d.mu.Lock()
		defer d.mu.Unlock()
		r.waiting--
		if werr != nil || r.stopped {
			d.stats.Dropped++
			return
		}
		r.queue = append(r.queue, j) // a retry is not pushed out by newer deliveries
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}()
}

func (d *Dispatcher) count(f func(*Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// current returns the attached state, or ErrDetached.
func (d *Dispatcher) current() (*running, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run == nil {
		return nil, ErrDetached
	}
	return d.run, nil
}
