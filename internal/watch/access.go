package watch

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Bounds of the access index. DefaultMaxAccessPaths is the number of
// secret paths kept when Options.MaxAccessPaths is unset; MaxReaders is
// the number of reader identities kept per path (a full set drops the
// reader seen least recently and counts it in ReadersDropped).
const (
	DefaultMaxAccessPaths = 50000
	MaxReaders            = 32
)

// AccessPrefix is where the access index lives in the watch service's
// storage; accessMetaKey holds when the index began counting.
const (
	AccessPrefix  = "access/"
	accessMetaKey = "access-meta"
)

// SecretAccess is what the index knows of the reads of one secret path:
// successful reads of its data, by whom and when. It holds no value.
type SecretAccess struct {
	Path  string    `json:"path"`
	Mount string    `json:"mount"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	Reads uint64    `json:"reads"`
	// Readers are keyed by identity key (Identity.Key): at most
	// MaxReaders, the least recently seen dropped first.
	Readers        map[string]ReaderAccess `json:"readers,omitempty"`
	ReadersDropped uint64                  `json:"readers_dropped,omitempty"`
}

// ReaderAccess is one identity's reads of one path.
type ReaderAccess struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	Reads uint64    `json:"reads"`
}

// IsSecretRead reports whether e is a successful read of secret data: a
// 200 read on a kv mount of anything but its metadata and control paths
// (metadata/, config, subkeys/, delete/, undelete/, destroy/), or of a
// database mount's creds/ or static-creds/.
func IsSecretRead(e *Event) bool {
	if e.Operation != string(logical.ReadOperation) || e.Result != ResultOK || e.Status != 200 ||
		e.Mount == "" || !strings.HasPrefix(e.Path, e.Mount) {
		return false
	}
	rel := e.Path[len(e.Mount):]
	if rel == "" || strings.HasSuffix(rel, "/") {
		return false
	}
	switch e.MountType {
	case "kv":
		for _, p := range []string{"metadata/", "subkeys/", "delete/", "undelete/", "destroy/"} {
			if strings.HasPrefix(rel, p) {
				return false
			}
		}
		return rel != "config" && rel != "data"
	case "database":
		return strings.HasPrefix(rel, "creds/") || strings.HasPrefix(rel, "static-creds/")
	}
	return false
}

// AccessIndex keeps per-path read records for at most a fixed number of
// secret paths in memory; at the cap the path read least recently is
// evicted (from memory and, at the next Flush, from storage). It is safe
// for concurrent use.
type AccessIndex struct {
	mu      sync.Mutex
	limit   int
	byPath  map[string]*list.Element // of *SecretAccess
	lru     *list.List               // front: read most recently
	dirty   map[string]bool          // paths to write (true) or delete (false)
	since   time.Time                // first event the index counted
	metaSet bool                     // since changed since the last Flush
	evicted uint64
}

// NewAccessIndex returns an empty index of at most maxPaths paths
// (DefaultMaxAccessPaths when maxPaths <= 0).
func NewAccessIndex(maxPaths int) *AccessIndex {
	if maxPaths <= 0 {
		maxPaths = DefaultMaxAccessPaths
	}
	return &AccessIndex{limit: maxPaths, byPath: map[string]*list.Element{}, lru: list.New(), dirty: map[string]bool{}}
}

// Add counts e if it is a secret read (IsSecretRead).
func (x *AccessIndex) Add(e *Event) {
	if !IsSecretRead(e) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.since.IsZero() || e.Time.Before(x.since) {
		x.since, x.metaSet = e.Time, true
	}
	el, ok := x.byPath[e.Path]
	if ok {
		x.lru.MoveToFront(el)
	} else {
		if x.lru.Len() >= x.limit {
			old := x.lru.Back()
			op := old.Value.(*SecretAccess).Path
			x.lru.Remove(old)
			delete(x.byPath, op)
			x.dirty[op] = false
			x.evicted++
		}
		el = x.lru.PushFront(&SecretAccess{Path: e.Path, Mount: e.Mount})
		x.byPath[e.Path] = el
	}
	el.Value.(*SecretAccess).add(e)
	x.dirty[e.Path] = true
}

func (s *SecretAccess) add(e *Event) {
	t := e.Time
	if s.First.IsZero() || t.Before(s.First) {
		s.First = t
	}
	if t.After(s.Last) {
		s.Last = t
	}
	s.Reads++
	key := e.Identity.Key()
	if key == "" {
		return
	}
	if s.Readers == nil {
		s.Readers = map[string]ReaderAccess{}
	}
	r, ok := s.Readers[key]
	if !ok && len(s.Readers) >= MaxReaders {
		var oldest string
		for k, v := range s.Readers {
			if oldest == "" || v.Last.Before(s.Readers[oldest].Last) || v.Last.Equal(s.Readers[oldest].Last) && k < oldest {
				oldest = k
			}
		}
		delete(s.Readers, oldest)
		s.ReadersDropped++
	}
	if r.First.IsZero() || t.Before(r.First) {
		r.First = t
	}
	if t.After(r.Last) {
		r.Last = t
	}
	r.Reads++
	s.Readers[key] = r
}

func (s *SecretAccess) clone() SecretAccess {
	c := *s
	c.Readers = maps.Clone(s.Readers)
	return c
}

// Get returns a copy of path's record, or false.
func (x *AccessIndex) Get(path string) (SecretAccess, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.byPath[path]
	if !ok {
		return SecretAccess{}, false
	}
	return el.Value.(*SecretAccess).clone(), true
}

// Snapshot returns copies of every record, sorted by path.
func (x *AccessIndex) Snapshot() []SecretAccess {
	x.mu.Lock()
	out := make([]SecretAccess, 0, x.lru.Len())
	for el := x.lru.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*SecretAccess).clone())
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b SecretAccess) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Since returns the time of the first read the index counted (zero when
// it has counted none): a path not read since then may still have been
// read before.
func (x *AccessIndex) Since() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.since
}

// Len returns how many paths are indexed; Evicted how many were evicted
// at the cap since the process started.
func (x *AccessIndex) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lru.Len()
}

// Evicted returns how many paths were evicted at the cap.
func (x *AccessIndex) Evicted() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.evicted
}

// accessKey names a path's record in storage by a hash of the path.
func accessKey(path string) string {
	sum := sha256.Sum256([]byte(path))
	return AccessPrefix + hex.EncodeToString(sum[:16])
}

type accessMeta struct {
	Since time.Time `json:"since"`
}

// Flush writes the records changed since the last Flush to s and deletes
// the evicted ones. On error the unwritten paths stay dirty.
func (x *AccessIndex) Flush(ctx context.Context, s logical.Storage) error {
	type op struct {
		path string
		data []byte
	}
	x.mu.Lock()
	ops := make([]op, 0, len(x.dirty))
	for p, keep := range x.dirty {
		if !keep {
			ops = append(ops, op{path: p})
			continue
		}
		el, ok := x.byPath[p]
		if !ok {
			continue
		}
		data, err := json.Marshal(el.Value.(*SecretAccess))
		if err != nil {
			x.mu.Unlock()
			return fmt.Errorf("watch: encode access record: %w", err)
		}
		ops = append(ops, op{p, data})
	}
	clear(x.dirty)
	var meta []byte
	if x.metaSet {
		meta, _ = json.Marshal(accessMeta{Since: x.since})
		x.metaSet = false
	}
	x.mu.Unlock()
	if meta != nil {
		if err := s.Put(ctx, accessMetaKey, meta); err != nil {
			x.mu.Lock()
			x.metaSet = true
			x.mu.Unlock()
			return fmt.Errorf("watch: flush access index: %w", err)
		}
	}
	for i, o := range ops {
		var err error
		if o.data == nil {
			err = s.Delete(ctx, accessKey(o.path))
		} else {
			err = s.Put(ctx, accessKey(o.path), o.data)
		}
		if err != nil {
			x.mu.Lock()
			for _, r := range ops[i:] {
				if _, set := x.dirty[r.path]; !set {
					_, live := x.byPath[r.path]
					x.dirty[r.path] = live
				}
			}
			x.mu.Unlock()
			return fmt.Errorf("watch: flush access index: %w", err)
		}
	}
	return nil
}

// Load replaces the index with the records in s. Beyond the cap the paths
// read least recently are left out (and deleted at the next Flush). An
// unreadable record is skipped and deleted at the next Flush (the index
// must never keep a node from unsealing); skipped counts those, err is
// only for a failed List.
func (x *AccessIndex) Load(ctx context.Context, s logical.Storage) (skipped int, err error) {
	keys, err := s.List(ctx, AccessPrefix)
	if err != nil {
		return 0, fmt.Errorf("watch: list access index: %w", err)
	}
	var all []*SecretAccess
	var bad []string
	for _, k := range keys {
		data, err := s.Get(ctx, AccessPrefix+k)
		if err != nil {
			bad = append(bad, k)
			continue
		}
		if data == nil {
			continue
		}
		r := &SecretAccess{}
		if err := json.Unmarshal(data, r); err != nil || r.Path == "" || accessKey(r.Path) != AccessPrefix+k {
			bad = append(bad, k)
			continue
		}
		all = append(all, r)
	}
	var since time.Time
	if raw, err := s.Get(ctx, accessMetaKey); err == nil && raw != nil {
		var m accessMeta
		if json.Unmarshal(raw, &m) == nil {
			since = m.Since
		}
	}
	slices.SortFunc(all, func(a, b *SecretAccess) int { return b.Last.Compare(a.Last) })
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byPath = map[string]*list.Element{}
	x.lru.Init()
	clear(x.dirty)
	x.since, x.metaSet = since, false
	for _, r := range all {
		if _, dup := x.byPath[r.Path]; dup {
			continue
		}
		if x.lru.Len() >= x.limit {
			x.dirty[r.Path] = false
			continue
		}
		x.byPath[r.Path] = x.lru.PushBack(r)
		if x.since.IsZero() || r.First.Before(x.since) {
			x.since, x.metaSet = r.First, true
		}
	}
	for _, k := range bad {
		// Deleted by key: the path of an unreadable record is unknown.
		_ = s.Delete(ctx, AccessPrefix+k)
	}
	return len(bad), nil
}

// Reset forgets every record in memory (at seal, after the last Flush).
func (x *AccessIndex) Reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byPath = map[string]*list.Element{}
	x.lru.Init()
	clear(x.dirty)
	x.since, x.metaSet = time.Time{}, false
}
