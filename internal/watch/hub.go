package watch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Options tune a Hub. Zero values take the defaults.
type Options struct {
	// RingSize is how many recent events are kept in memory (default 4096).
	RingSize int
	// SubscriberBuffer is each subscriber's queue (default 256): a
	// subscriber that falls this far behind is dropped.
	SubscriberBuffer int
	// MaxIdentities bounds the baselines kept (default 10000).
	MaxIdentities int
	// Location is the time zone of the baselines' hours and weekdays
	// (default UTC).
	Location *time.Location
	// FlushInterval is how often changed baselines are written while
	// unsealed (default 1m); they are also written at seal.
	FlushInterval time.Duration
	// MaxAccessPaths bounds the access index (default
	// DefaultMaxAccessPaths); it is flushed with the baselines.
	MaxAccessPaths int
	Logger         *slog.Logger
}

// Hub receives events from the core and serves them to the ring, the
// subscribers and the baselines. It lives as long as the node; Attach and
// Detach follow unseal and seal. It is safe for concurrent use.
type Hub struct {
	opts  Options
	ring  *Ring
	aggr  *Aggregator
	acc   *AccessIndex
	seq   atomic.Uint64
	subs  atomic.Pointer[[]*Subscription]
	subMu sync.Mutex // serialises changes to subs
	// engine, when set, runs the detectors on every event (SetEngine).
	engine atomic.Pointer[Engine]

	stMu    sync.Mutex
	storage logical.Storage // nil while sealed
	stop    chan struct{}
	done    chan struct{}
}

// NewHub returns a hub with opts.
func NewHub(opts Options) *Hub {
	if opts.RingSize <= 0 {
		opts.RingSize = 4096
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = 256
	}
	if opts.MaxIdentities <= 0 {
		opts.MaxIdentities = 10000
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{opts: opts, ring: NewRing(opts.RingSize), aggr: NewAggregator(opts.Location, opts.MaxIdentities),
		acc: NewAccessIndex(opts.MaxAccessPaths)}
	h.subs.Store(&[]*Subscription{})
	return h
}

// Emit records e: it numbers it, adds it to the ring and the baselines and
// offers it to every subscriber whose filter matches. It never blocks: a
// subscriber whose queue is full is dropped.
func (h *Hub) Emit(e Event) {
	e.Seq = h.seq.Add(1)
	h.ring.Add(&e)
	p := h.aggr.AddPrior(&e)
	h.acc.Add(&e)
	if en := h.engine.Load(); en != nil {
		en.offer(&e, p)
	}
	for _, s := range *h.subs.Load() {
		if !s.filter.Match(&e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			h.drop(s, "subscriber too slow")
		}
	}
}

// SetEngine makes en see every event from now on (nil: none).
func (h *Hub) SetEngine(en *Engine) { h.engine.Store(en) }

// Engine returns the detection engine (nil when detection is off).
func (h *Hub) Engine() *Engine { return h.engine.Load() }

// Ring returns the hub's ring of recent events.
func (h *Hub) Ring() *Ring { return h.ring }

// Baselines returns the hub's aggregator.
func (h *Hub) Baselines() *Aggregator { return h.aggr }

// Access returns the hub's per-secret access index.
func (h *Hub) Access() *AccessIndex { return h.acc }

// Subscription is one subscriber's queue. Events arrive on C until the
// subscriber is dropped or the hub detaches, when Done closes.
type Subscription struct {
	filter Filter
	ch     chan Event
	done   chan struct{}
	once   sync.Once
	reason atomic.Pointer[string]
}

// C delivers the subscriber's events.
func (s *Subscription) C() <-chan Event { return s.ch }

// Done is closed when the subscription ends (see Reason).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Reason says why the subscription ended ("" while it runs).
func (s *Subscription) Reason() string {
	if r := s.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// Subscribe adds a subscriber with filter f. Call Unsubscribe when done.
func (h *Hub) Subscribe(f Filter) *Subscription {
	s := &Subscription{filter: f, ch: make(chan Event, h.opts.SubscriberBuffer), done: make(chan struct{})}
	h.subMu.Lock()
	old := *h.subs.Load()
	next := make([]*Subscription, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	h.subs.Store(&next)
	h.subMu.Unlock()
	return s
}

// Unsubscribe removes s; it is safe to call more than once.
func (h *Hub) Unsubscribe(s *Subscription) { h.drop(s, "unsubscribed") }

// Subscribers returns how many subscriptions are live.
func (h *Hub) Subscribers() int { return len(*h.subs.Load()) }

func (h *Hub) drop(s *Subscription, reason string) {
	s.once.Do(func() {
		s.reason.Store(&reason)
		close(s.done)
		h.subMu.Lock()
		old := *h.subs.Load()
		next := make([]*Subscription, 0, len(old))
		for _, o := range old {
			if o != s {
				next = append(next, o)
			}
		}
		h.subs.Store(&next)
		h.subMu.Unlock()
	})
}

// EndSubscriptions ends every live subscription, telling each reason
// (the node calls it before shutting its listeners down, which waits for
// open streams).
func (h *Hub) EndSubscriptions(reason string) {
	for _, s := range *h.subs.Load() {
		h.drop(s, reason)
	}
}

// Attach is called at unseal with the watch service's storage: it loads
// the persisted baselines and starts the periodic flush. Baselines that
// cannot be loaded are logged and learnt again: they never keep a node
// from unsealing.
func (h *Hub) Attach(ctx context.Context, s logical.Storage) {
	if skipped, err := h.aggr.Load(ctx, s); err != nil {
		h.opts.Logger.Error("watch: baselines not loaded; learning them again", "err", err)
	} else if skipped > 0 {
		h.opts.Logger.Warn("watch: unreadable baselines skipped and to be deleted", "count", skipped)
	}
	if skipped, err := h.acc.Load(ctx, s); err != nil {
		h.opts.Logger.Error("watch: access index not loaded; counting reads again", "err", err)
	} else if skipped > 0 {
		h.opts.Logger.Warn("watch: unreadable access records skipped and deleted", "count", skipped)
	}
	h.stMu.Lock()
	defer h.stMu.Unlock()
	if h.storage != nil { // attached twice without a Detach: stop the old flush loop
		close(h.stop)
		<-h.done
	}
	h.storage = s
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.flushLoop(s, h.stop, h.done)
}

func (h *Hub) flushLoop(s logical.Storage, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(h.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := h.aggr.Flush(context.Background(), s); err != nil {
				h.opts.Logger.Error("watch: periodic baseline flush failed", "err", err)
			}
			if err := h.acc.Flush(context.Background(), s); err != nil {
				h.opts.Logger.Error("watch: periodic access index flush failed", "err", err)
			}
		}
	}
}

// Flush writes changed baselines now; it does nothing while detached.
func (h *Hub) Flush(ctx context.Context) error {
	h.stMu.Lock()
	s := h.storage
	h.stMu.Unlock()
	if s == nil {
		return nil
	}
	return errors.Join(h.aggr.Flush(ctx, s), h.acc.Flush(ctx, s))
}

// Detach is called at seal or step-down: it ends every subscription,
// writes the baselines a last time and forgets them and the ring, so a
// sealed node holds no access history in memory.
func (h *Hub) Detach(ctx context.Context) error {
	h.EndSubscriptions("server sealed")
	h.stMu.Lock()
	s, stop, done := h.storage, h.stop, h.done
	h.storage, h.stop, h.done = nil, nil, nil
	h.stMu.Unlock()
	if s == nil {
		return nil
	}
	close(stop)
	<-done
	err := errors.Join(h.aggr.Flush(ctx, s), h.acc.Flush(ctx, s))
	h.aggr.Reset()
	h.acc.Reset()
	h.ring.Reset()
	return err
}
