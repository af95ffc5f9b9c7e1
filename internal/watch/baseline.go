package watch

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Bounds of one identity's baseline. A full set keeps what it has and
// counts what it could not add in Overflow.
const (
	MaxPaths    = 256
	MaxPrefixes = 64
	MaxNetworks = 32
)

// BaselinePrefix is where baselines live in the watch service's storage.
const BaselinePrefix = "baselines/"

// Baseline is what one identity usually does, learnt from its events.
type Baseline struct {
	Key   string    `json:"key"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Paths counts requests by full path, Prefixes by mount plus the first
	// segment below it ("secret/data/ci").
	Paths    map[string]uint64 `json:"paths"`
	Prefixes map[string]uint64 `json:"prefixes"`
	// Hours and Weekdays count requests by hour of day (0-23) and weekday
	// (0 is Sunday) in the Aggregator's time zone.
	Hours    [24]uint64 `json:"hours"`
	Weekdays [7]uint64  `json:"weekdays"`
	// Networks counts requests by source network: the /24 of an IPv4
	// address, the /64 of an IPv6 one.
	Networks map[string]uint64 `json:"networks"`
	Requests uint64            `json:"requests"`
	Failures uint64            `json:"failures"`
	Denied   uint64            `json:"denied"`
	// MinuteStart and MinuteCount are the current minute's requests;
	// PeakPerMinute the most seen in one minute.
	MinuteStart   time.Time `json:"minute_start"`
	MinuteCount   uint64    `json:"minute_count"`
	PeakPerMinute uint64    `json:"peak_per_minute"`
	// Overflow counts paths, prefixes or networks not kept because their
	// set was full.
	Overflow uint64 `json:"overflow"`
}

// RequestRate is the mean requests per hour between First and Last (the
// count itself when they are less than an hour apart).
func (b *Baseline) RequestRate() float64 {
	h := b.Last.Sub(b.First).Hours()
	if h < 1 {
		return float64(b.Requests)
	}
	return float64(b.Requests) / h
}

// FailureRate is the share of requests that were denied or failed.
func (b *Baseline) FailureRate() float64 {
	if b.Requests == 0 {
		return 0
	}
	return float64(b.Failures) / float64(b.Requests)
}

func (b *Baseline) add(e *Event, loc *time.Location, net, prefix string) {
	t := e.Time
	if b.First.IsZero() || t.Before(b.First) {
		b.First = t
	}
	if t.After(b.Last) {
		b.Last = t
	}
	b.Requests++
	if e.Result != ResultOK {
		b.Failures++
	}
	if e.Result == ResultDenied {
		b.Denied++
	}
	lt := t.In(loc)
	b.Hours[lt.Hour()]++
	b.Weekdays[lt.Weekday()]++
	minute := t.Truncate(time.Minute)
	if !minute.Equal(b.MinuteStart) {
		b.MinuteStart, b.MinuteCount = minute, 0
	}
	b.MinuteCount++
	b.PeakPerMinute = max(b.PeakPerMinute, b.MinuteCount)
	b.Paths = countIn(b.Paths, e.Path, MaxPaths, &b.Overflow)
	b.Prefixes = countIn(b.Prefixes, prefix, MaxPrefixes, &b.Overflow)
	if net != "" {
		b.Networks = countIn(b.Networks, net, MaxNetworks, &b.Overflow)
	}
}

func countIn(m map[string]uint64, k string, limit int, overflow *uint64) map[string]uint64 {
	if k == "" {
		return m
	}
	if m == nil {
		m = map[string]uint64{}
	}
	if _, ok := m[k]; ok || len(m) < limit {
		m[k]++
	} else {
		*overflow++
	}
	return m
}

// pathPrefix is the mount plus the first segment below it: for KV v2 the
// segment after data/ or metadata/ is kept too, so "secret/data/ci/db"
// gives "secret/data/ci".
func pathPrefix(mount, path string) string {
	if mount == "" || !strings.HasPrefix(path, mount) {
		seg, _, _ := strings.Cut(path, "/")
		return seg
	}
	// Substrings of path: no allocation per event.
	rel := path[len(mount):]
	seg, rest, _ := strings.Cut(rel, "/")
	n := len(mount) + len(seg)
	if (seg == "data" || seg == "metadata") && rest != "" {
		sub, _, _ := strings.Cut(rest, "/")
		n += 1 + len(sub)
	}
	return path[:n]
}

// Network is the source network of addr (an IP, or IP:port): its /24 for
// IPv4, its /64 for IPv6, "" when addr is not an address.
func Network(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return ""
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// Aggregator keeps the baselines of at most MaxIdentities identities in
// memory. When a new identity arrives at the cap, the one seen least
// recently is evicted (from memory and, at the next Flush, from storage).
// It is safe for concurrent use.
type Aggregator struct {
	mu      sync.Mutex
	loc     *time.Location
	limit   int
	byKey   map[string]*list.Element // of *Baseline
	lru     *list.List               // front: most recently seen
	dirty   map[string]bool          // keys to write (true) or delete (false)
	badKeys map[string]bool          // unreadable storage keys to delete
	evicted uint64
}

// NewAggregator returns an empty aggregator counting hours in loc (UTC
// when nil) for up to maxIdentities identities (at least 1).
func NewAggregator(loc *time.Location, maxIdentities int) *Aggregator {
	if loc == nil {
		loc = time.UTC
	}
	return &Aggregator{loc: loc, limit: max(maxIdentities, 1), byKey: map[string]*list.Element{},
		lru: list.New(), dirty: map[string]bool{}, badKeys: map[string]bool{}}
}

// Prior is what an identity's baseline held just before one event was
// counted into it: the detectors judge novelty from it, since by the time
// they see the event the baseline already includes it.
type Prior struct {
	Requests              uint64
	First                 time.Time
	Hour, Weekday         uint64 // requests before at the event's hour and weekday
	Network, Prefix, Path uint64 // earlier requests from its network, under its prefix, on its path
}

// Add counts e towards its identity's baseline; anonymous events are
// skipped.
func (a *Aggregator) Add(e *Event) { a.AddPrior(e) }

// AddPrior is Add returning the baseline as it was before e (zero for an
// anonymous event or a new identity).
func (a *Aggregator) AddPrior(e *Event) (p Prior) {
	key := e.Identity.Key()
	if key == "" {
		return p
	}
	net, prefix := Network(e.RemoteAddr), pathPrefix(e.Mount, e.Path)
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.byKey[key]
	if ok {
		a.lru.MoveToFront(el)
	} else {
		if a.lru.Len() >= a.limit {
			old := a.lru.Back()
			ob := old.Value.(*Baseline)
			a.lru.Remove(old)
			delete(a.byKey, ob.Key)
			a.dirty[ob.Key] = false
			a.evicted++
		}
		el = a.lru.PushFront(&Baseline{Key: key})
		a.byKey[key] = el
	}
	b := el.Value.(*Baseline)
	if b.Requests > 0 {
		lt := e.Time.In(a.loc)
		p = Prior{Requests: b.Requests, First: b.First, Hour: b.Hours[lt.Hour()], Weekday: b.Weekdays[lt.Weekday()],
			Path: b.Paths[e.Path], Prefix: b.Prefixes[prefix]}
		if net != "" {
			p.Network = b.Networks[net]
		}
	}
	b.add(e, a.loc, net, prefix)
	a.dirty[key] = true
	return p
}

// Get returns a copy of key's baseline, or false.
func (a *Aggregator) Get(key string) (Baseline, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.byKey[key]
	if !ok {
		return Baseline{}, false
	}
	return el.Value.(*Baseline).clone(), true
}

// Len returns how many identities have a baseline in memory.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

// Evicted returns how many baselines were evicted at the cap.
func (a *Aggregator) Evicted() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.evicted
}

func (b *Baseline) clone() Baseline {
	c := *b
	c.Paths = cloneMap(b.Paths)
	c.Prefixes = cloneMap(b.Prefixes)
	c.Networks = cloneMap(b.Networks)
	return c
}

func cloneMap(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	c := make(map[string]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// storageKey names a baseline in storage by a hash of its identity key, so
// storage keys carry no entity ids or role names.
func storageKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return BaselinePrefix + hex.EncodeToString(sum[:16])
}

// Flush writes the baselines changed since the last Flush to s and
// deletes the evicted ones. On error the unwritten keys stay dirty.
func (a *Aggregator) Flush(ctx context.Context, s logical.Storage) error {
	a.mu.Lock()
	type op struct {
		key  string
		data []byte
	}
	ops := make([]op, 0, len(a.dirty))
	for k, keep := range a.dirty {
		if !keep {
			ops = append(ops, op{key: k})
			continue
		}
		el, ok := a.byKey[k]
		if !ok {
			continue
		}
		data, err := json.Marshal(el.Value.(*Baseline))
		if err != nil {
			a.mu.Unlock()
			return fmt.Errorf("watch: encode baseline: %w", err)
		}
		ops = append(ops, op{k, data})
	}
	clear(a.dirty)
	bad := make([]string, 0, len(a.badKeys))
	for k := range a.badKeys {
		bad = append(bad, k)
	}
	clear(a.badKeys)
	a.mu.Unlock()
	for _, k := range bad {
		if err := s.Delete(ctx, k); err != nil {
			a.mu.Lock()
			a.badKeys[k] = true
			a.mu.Unlock()
			return fmt.Errorf("watch: delete unreadable baseline: %w", err)
		}
	}
	for i, o := range ops {
		var err error
		if o.data == nil {
			err = s.Delete(ctx, storageKey(o.key))
		} else {
			err = s.Put(ctx, storageKey(o.key), o.data)
		}
		if err != nil {
			a.mu.Lock()
			for _, r := range ops[i:] {
				if _, set := a.dirty[r.key]; !set {
					_, live := a.byKey[r.key]
					a.dirty[r.key] = live
				}
			}
			a.mu.Unlock()
			return fmt.Errorf("watch: flush baselines: %w", err)
		}
	}
	return nil
}

// Load replaces the aggregator's baselines with those in s. Beyond the
// cap, the least recently seen are left out (and deleted at the next
// Flush). A baseline that cannot be read or decoded (one written with a
// keyring a snapshot restore replaced) is skipped and deleted at the next
// Flush: baselines are learnt again, and must never keep a node from
// unsealing. skipped counts those; err is only for a failed List.
func (a *Aggregator) Load(ctx context.Context, s logical.Storage) (skipped int, err error) {
	keys, err := s.List(ctx, BaselinePrefix)
	if err != nil {
		return 0, fmt.Errorf("watch: list baselines: %w", err)
	}
	var all []*Baseline
	var bad []string
	for _, k := range keys {
		data, err := s.Get(ctx, BaselinePrefix+k)
		if err != nil {
			bad = append(bad, k)
			continue
		}
		if data == nil {
			continue
		}
		b := &Baseline{}
		if err := json.Unmarshal(data, b); err != nil || b.Key == "" || storageKey(b.Key) != BaselinePrefix+k {
			bad = append(bad, k)
			continue
		}
		all = append(all, b)
	}
	// Most recently seen first, so the cap keeps those.
	sortByLastDesc(all)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byKey = map[string]*list.Element{}
	a.lru.Init()
	clear(a.dirty)
	clear(a.badKeys)
	for _, k := range bad {
		a.badKeys[BaselinePrefix+k] = true
	}
	for _, b := range all {
		if _, dup := a.byKey[b.Key]; dup {
			continue
		}
		if a.lru.Len() >= a.limit {
			a.dirty[b.Key] = false
			continue
		}
		a.byKey[b.Key] = a.lru.PushBack(b)
	}
	return len(bad), nil
}

// Reset forgets every baseline in memory (at seal, after the last Flush).
func (a *Aggregator) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byKey = map[string]*list.Element{}
	a.lru.Init()
	clear(a.dirty)
	clear(a.badKeys)
}

func sortByLastDesc(bs []*Baseline) {
	slices.SortFunc(bs, func(x, y *Baseline) int { return y.Last.Compare(x.Last) })
}
