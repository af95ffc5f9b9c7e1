package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// ErrInvalidToken is returned for an unknown, expired, revoked, exhausted or
// wrongly bound token. It deliberately says nothing more, and it matches
// logical.ErrPermissionDenied with errors.Is, so it always answers 403.
var ErrInvalidToken error = invalidToken{}

type invalidToken struct{}

func (invalidToken) Error() string        { return "permission denied" }
func (invalidToken) Is(target error) bool { return target == logical.ErrPermissionDenied }

const (
	hashLen      = sha256.Size
	saltKey      = "salt"
	idPrefix     = "id/"
	accPrefix    = "accessor/"
	parentPrefix = "parent/"
	rolePrefix   = "roles/"
	// maxTokenLen bounds what is hashed; real tokens are tokenfmt.Len long.
	maxTokenLen = 256
	// cacheMax bounds the entry cache; it is cleared when it fills.
	cacheMax = 1 << 16
	// maxDepth bounds the walk up a token's ancestors, so that a cycle in
	// damaged storage ends (in a refusal) instead of looping; a real chain
	// of tokens each created by the previous one is far shorter.
	maxDepth = 1 << 12

	revokeTree   = "tree"
	revokeOrphan = "orphan"
	// revokeUsed marks a token whose last use is being served: no request
	// may use it again, the request that took the last use may still read
	// it, and it is revoked (as a tree) once that request ends.
	revokeUsed = "used"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// DefaultTTL is the TTL of a non-root token created without one (768h
	// if zero); MaxTTL caps the lifetime of non-periodic tokens (768h if zero).
	DefaultTTL, MaxTTL time.Duration
	// OnRevoke is called for each token being revoked, before its entry is
	// deleted. If it fails the revocation stops, the token stays unusable,
	// and Sweep retries later; it may therefore be called more than once for
	// the same token. The entry it gets has no ID.
	OnRevoke func(ctx context.Context, e *Entry) error
	// Sudo reports whether the caller of a backend request holds sudo on the
	// request path. When nil, only root tokens count as sudo. It gates
	// no_parent, period and a custom id on auth/token/create.
	Sudo func(ctx context.Context, req *logical.Request) bool
	// OnRenew, when set, is asked before a token is renewed through the
	// backend; an error refuses the renewal. The core uses it to let the
	// auth method that issued the token decide (cert auth requires the same
	// client certificate).
	OnRenew func(ctx context.Context, e *Entry, req *logical.Request) error
	// IdentityPolicies, when set, returns the policies a token of the
	// entity gets from the identity store now (its own and its groups'),
	// which lookups show as identity_policies.
	IdentityPolicies func(entityID string) []string
}

// Store is the token store. It is safe for concurrent use. It caches
// entries in memory, so one Store must own its storage: a second Store over
// the same storage (a standby) must not serve requests.
type Store struct {
	st       logical.Storage
	log      *slog.Logger
	now      func() time.Time
	defTTL   time.Duration
	maxTTL   time.Duration
	onRevoke func(ctx context.Context, e *Entry) error
	sudo     func(ctx context.Context, req *logical.Request) bool
	onRenew  func(ctx context.Context, e *Entry, req *logical.Request) error
	identPol func(entityID string) []string

	hashers sync.Pool // *hasher

	// mu serialises read-modify-write of entries (use counts, renewals,
	// revocation marks) and guards pending.
	mu sync.Mutex
	// pending holds the tokens marked revokeUsed whose last request is still
	// running; Sweep leaves them to that request's end.
	pending map[[hashLen]byte]struct{}

	// roleMu orders token role writes, deletes and the one-time
	// migration of roles stored in the old shape (roles.go).
	roleMu sync.Mutex

	cacheMu sync.RWMutex
	cache   map[[hashLen]byte]*Entry
	// epoch counts invalidations, so a load that raced one is not cached.
	epoch atomic.Uint64

	// batchKeys seals and opens batch tokens (batch.go); replaced whole
	// on rotation, under mu.
	batchKeys atomic.Pointer[batchKeyring]
}

type hasher struct {
	h   hash.Hash
	buf []byte
	sum [hashLen]byte
}

// New opens the token store kept in s, creating its HMAC key on first use.
func New(ctx context.Context, s logical.Storage, opts Options) (*Store, error) {
	key, err := logical.LoadOrCreateKey(ctx, s, saltKey, 32)
	if err != nil {
		return nil, fmt.Errorf("token store: hmac key: %w", err)
	}
	st := &Store{
		st:       s,
		log:      opts.Logger,
		now:      opts.Now,
		defTTL:   opts.DefaultTTL,
		maxTTL:   opts.MaxTTL,
		onRevoke: opts.OnRevoke,
		sudo:     opts.Sudo,
		onRenew:  opts.OnRenew,
		identPol: opts.IdentityPolicies,
		cache:    map[[hashLen]byte]*Entry{},
		pending:  map[[hashLen]byte]struct{}{},
	}
	if st.log == nil {
		st.log = slog.New(slog.DiscardHandler)
	}
	st.log = st.log.With("component", "token")
	if st.now == nil {
		st.now = time.Now
	}
	if st.defTTL <= 0 {
		st.defTTL = 768 * time.Hour
	}
	if st.maxTTL <= 0 {
		st.maxTTL = 768 * time.Hour
	}
	if st.defTTL > st.maxTTL {
		st.defTTL = st.maxTTL
	}
	k := slices.Clone(key)
	st.hashers.New = func() any {
		return &hasher{h: hmac.New(sha256.New, k), buf: make([]byte, 0, maxTokenLen)}
	}
	if err := st.loadBatchKeys(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// hash returns the keyed hash of a token. It does not allocate once the
// pool is warm.
func (s *Store) hash(token string) [hashLen]byte {
	hs := s.hashers.Get().(*hasher)
	hs.h.Reset()
	hs.buf = append(hs.buf[:0], token...)
	hs.h.Write(hs.buf)
	hs.h.Sum(hs.sum[:0])
	out := hs.sum
	clear(hs.buf)
	s.hashers.Put(hs)
	return out
}

func idKey(h [hashLen]byte) string { return idPrefix + hex.EncodeToString(h[:]) }

func hexHash(h [hashLen]byte) string { return hex.EncodeToString(h[:]) }

func parseHash(s string) ([hashLen]byte, bool) {
	var h [hashLen]byte
	if len(s) != 2*hashLen {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// --- cache ---

func (s *Store) cached(h [hashLen]byte) *Entry {
	s.cacheMu.RLock()
	e := s.cache[h]
	s.cacheMu.RUnlock()
	return e
}

func (s *Store) cachePut(h [hashLen]byte, e *Entry, epoch uint64) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.epoch.Load() != epoch {
		return
	}
	if len(s.cache) >= cacheMax {
		clear(s.cache)
	}
	s.cache[h] = e
}

func (s *Store) invalidate(h [hashLen]byte) {
	s.cacheMu.Lock()
	delete(s.cache, h)
	s.epoch.Add(1)
	s.cacheMu.Unlock()
}

// --- storage ---

// read loads an entry from storage, bypassing the cache. It returns nil for
// an absent entry.
func (s *Store) read(ctx context.Context, h [hashLen]byte) (*Entry, error) {
	b, err := s.st.Get(ctx, idKey(h))
	if err != nil {
		return nil, fmt.Errorf("read token entry: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	return decodeEntry(h, b)
}

// load returns the entry for h from the cache or storage, caching what it
// reads when the entry is usable and no invalidation raced the read.
func (s *Store) load(ctx context.Context, h [hashLen]byte) (*Entry, error) {
	if e := s.cached(h); e != nil {
		return e, nil
	}
	epoch := s.epoch.Load()
	e, err := s.read(ctx, h)
	if err != nil || e == nil {
		return nil, err
	}
	if e.revoking == "" {
		s.cachePut(h, e, epoch)
	}
	return e, nil
}

func (s *Store) write(ctx context.Context, e *Entry) error {
	b, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if err := s.st.Put(ctx, idKey(e.hash), b); err != nil {
		return fmt.Errorf("write token entry %s: %w", e.Accessor, err)
	}
	return nil
}

// apply writes ops in order, atomically when the storage supports batches.
func (s *Store) apply(ctx context.Context, ops []logical.BatchOp) error {
	if bs, ok := s.st.(logical.BatchStorage); ok {
		return bs.Batch(ctx, ops)
	}
	for _, op := range ops {
		var err error
		if op.Value == nil {
			err = s.st.Delete(ctx, op.Key)
		} else {
			err = s.st.Put(ctx, op.Key, op.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// byAccessor resolves an accessor to its entry's hash.
func (s *Store) byAccessor(ctx context.Context, accessor string) ([hashLen]byte, bool, error) {
	var zero [hashLen]byte
	if !validAccessor(accessor) {
		return zero, false, nil
	}
	b, err := s.st.Get(ctx, accPrefix+accessor)
	if err != nil {
		return zero, false, fmt.Errorf("read accessor %s: %w", accessor, err)
	}
	if b == nil {
		return zero, false, nil
	}
	h, ok := parseHash(string(b))
	return h, ok, nil
}

// newAccessor returns a random accessor: 26 base32 characters, 130 bits.
// It has no token prefix, so it can never pass as a token.
func newAccessor() string { return rand.Text() }

func validAccessor(a string) bool {
	if len(a) != 26 {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// --- create ---

// Create stores a new token for e and returns it. e is filled in place:
// Accessor, CreationTime, TTL, ExpireTime, Orphan, Type and ID (the raw token,
// which the caller must not keep). A non-empty e.ID asks for a custom token.
// e.ParentAccessor names the parent; empty or e.Orphan makes an orphan.
// e.Type TypeBatch asks for a batch token, which is not stored and has no
// accessor (see batch.go); it cannot be root, periodic, use-limited or
// custom, and its explicit max TTL only caps its TTL.
//
// Create validates policy names and CIDRs, and gives every token without
// the root policy an expiry: a zero TTL means the default TTL, and TTLs are
// capped by the explicit max TTL and the store's max TTL. A child never
// outlives its ancestors: its expiry is capped at theirs and its explicit
// max TTL at theirs. A use-limited parent gets ErrUseLimitedParent.
func (s *Store) Create(ctx context.Context, e *Entry) (string, error) {
	pols, err := normalizePolicies("policies", e.Policies)
	if err != nil {
		return "", err
	}
	e.Policies = pols
	switch e.Type {
	case "", TypeService:
		e.Type = TypeService
	case TypeBatch:
	default:
		return "", logical.BadRequest("token type %q is not supported", e.Type)
	}
	if e.NumUses < 0 {
		return "", logical.BadRequest("num_uses cannot be negative")
	}
	if e.TTL < 0 || e.ExplicitMaxTTL < 0 || e.Period < 0 || e.maxTTL < 0 {
		return "", logical.BadRequest("ttl, explicit_max_ttl and period cannot be negative")
	}
	prefixes, err := tokenparams.ParseCIDRs("bound_cidrs", e.BoundCIDRs)
	if err != nil {
		return "", err
	}
	e.prefixes = prefixes
	if e.Type == TypeBatch {
		return s.createBatch(ctx, e)
	}

	token := e.ID.Reveal()
	custom := token != ""
	if custom {
		if err := validCustomID(token); err != nil {
			return "", err
		}
	} else {
		token = tokenfmt.Generate(tokenfmt.Service)
	}
	e.ID = sensitive.String{}
	e.hash = s.hash(token)
	if custom {
		old, err := s.read(ctx, e.hash)
		if err != nil {
			return "", fmt.Errorf("create token: %w", err)
		}
		if old != nil {
			return "", logical.BadRequest("a token with this id already exists")
		}
	}

	now := s.now()
	e.CreationTime = now
	e.lastRenew = time.Time{}
	e.Accessor = newAccessor()
	e.revoking = ""

	parentHash, limits, err := s.parentBounds(ctx, e, now, "create token", s.read)
	if err != nil {
		return "", err
	}
	s.applyBounds(e, now, limits)

	b, err := encodeEntry(e)
	if err != nil {
		return "", err
	}
	hh := hexHash(e.hash)
	ops := []logical.BatchOp{
		{Key: idPrefix + hh, Value: b},
		{Key: accPrefix + e.Accessor, Value: []byte(hh)},
	}
	if e.parentHash != "" {
		ops = append(ops, logical.BatchOp{Key: parentPrefix + e.parentHash + "/" + hh, Value: []byte{}})
	}
	if err := s.apply(ctx, ops); err != nil {
		return "", fmt.Errorf("create token %s: %w", e.Accessor, err)
	}

	// A revocation of the parent may have listed its children before our
	// index entry existed; it marks the parent first, so re-check it.
	if e.parentHash != "" {
		parent, err := s.read(ctx, parentHash)
		if err == nil && (parent == nil || parent.revoking != "") {
			err = ErrInvalidToken
		}
		if err != nil {
			if _, rerr := s.revokeTree(ctx, e.hash); rerr != nil {
				s.log.Warn("revoke token of revoked parent", "accessor", e.Accessor, "error", rerr)
			}
			return "", err
		}
	}
	s.log.Debug("token created", "accessor", e.Accessor, "policies", e.Policies, "path", e.Path)
	e.ID = sensitive.NewString(token)
	return token, nil
}

// applyBounds sets e's TTL and expiry (setTTL) within what its ancestors
// allow: its explicit max TTL capped at what is left of limits.hard, its
// expiry at limits.expire, so a child never outlives them.
func (s *Store) applyBounds(e *Entry, now time.Time, limits bounds) {
	if !limits.hard.IsZero() {
		if left := limits.hard.Sub(now); e.ExplicitMaxTTL == 0 || e.ExplicitMaxTTL > left {
			e.ExplicitMaxTTL = left
		}
	}
	s.setTTL(e, now)
	if !limits.expire.IsZero() && (e.ExpireTime.IsZero() || e.ExpireTime.After(limits.expire)) {
		e.ExpireTime = limits.expire
		e.TTL = limits.expire.Sub(now)
	}
}

// setTTL fills e.TTL and e.ExpireTime from the requested TTL, period and
// caps. Only root tokens may live forever.
func (s *Store) setTTL(e *Entry, now time.Time) {
	limit := s.maxTTL
	if e.maxTTL > 0 && e.maxTTL < limit {
		limit = e.maxTTL
	}
	ttl := e.TTL
	switch {
	case e.Period > 0:
		if e.Period > limit {
			e.Period = limit
		}
		ttl = e.Period
	case ttl == 0 && !e.IsRoot():
		ttl = s.defTTL
	}
	if ttl > limit {
		ttl = limit
	}
	if e.ExplicitMaxTTL > 0 && (ttl == 0 || ttl > e.ExplicitMaxTTL) {
		ttl = e.ExplicitMaxTTL
	}
	e.TTL = ttl
	e.ExpireTime = time.Time{}
	if ttl > 0 {
		e.ExpireTime = now.Add(ttl)
	}
}

func validCustomID(id string) error {
	if len(id) > maxTokenLen {
		return logical.BadRequest("custom token id is longer than %d bytes", maxTokenLen)
	}
	if validAccessor(id) {
		return logical.BadRequest("custom token id cannot have the shape of an accessor")
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r > '~' {
			return logical.BadRequest("custom token id must be printable ASCII without spaces")
		}
	}
	if strings.Contains(id, "/") {
		return logical.BadRequest("custom token id cannot contain '/'")
	}
	if isBatch(id) {
		return logical.BadRequest("custom token id cannot start with %q, the batch token prefix", tokenfmt.Batch)
	}
	return nil
}

// --- use and lookup ---

// ErrUseLimitedParent refuses a child token for a use-limited parent (as
// Vault does): the child would escape the parent's use count.
var ErrUseLimitedParent = logical.BadRequest("a use-limited token cannot create child tokens")

// BreakGlassPath is the creation path of a break-glass emergency token.
// Such a token never creates tokens (ErrBreakGlassParent): a child's
// requests would be missing from the activation's report, and an orphan
// would outlive the emergency TTL.
const BreakGlassPath = "auth/token/break-glass"

// ErrBreakGlassParent refuses token creation by an emergency token.
var ErrBreakGlassParent = logical.Errorf(http.StatusForbidden, "a break-glass emergency token cannot create tokens")

// bounds are what a token's ancestors impose on it: it may not live past
// expire (their earliest current expiry) nor past hard (the earliest end
// of their explicit max TTLs). A zero time means no bound. (The store's max
// TTL needs no bound of its own: an ancestor never lives past it, and a
// child never past its ancestors' expiry.)
type bounds struct{ expire, hard time.Time }

// and returns the tighter of b and o.
func (b bounds) and(o bounds) bounds {
	earliest := func(x, y time.Time) time.Time {
		if x.IsZero() || (!y.IsZero() && y.Before(x)) {
			return y
		}
		return x
	}
	return bounds{expire: earliest(b.expire, o.expire), hard: earliest(b.hard, o.hard)}
}

// boundsOf is what e imposes on its children.
func boundsOf(e *Entry) bounds {
	b := bounds{expire: e.ExpireTime}
	if e.ExplicitMaxTTL > 0 {
		b.hard = e.CreationTime.Add(e.ExplicitMaxTTL)
	}
	return b
}

// hardLimit is the latest time e can ever live to, however often it is
// renewed: creation plus its explicit max TTL and, for non-periodic
// tokens, plus the max TTL. Zero means no limit (root tokens).
func (s *Store) hardLimit(e *Entry) time.Time {
	var limit time.Time
	if e.ExplicitMaxTTL > 0 {
		limit = e.CreationTime.Add(e.ExplicitMaxTTL)
	}
	if e.Period == 0 && !e.ExpireTime.IsZero() {
		maxTTL := s.maxTTL
		if e.maxTTL > 0 && e.maxTTL < maxTTL {
			maxTTL = e.maxTTL
		}
		if m := e.CreationTime.Add(maxTTL); limit.IsZero() || m.Before(limit) {
			limit = m
		}
	}
	return limit
}

// lineage walks e's ancestors at now. ok is false when one of them is
// missing, expired or being revoked: a child never outlives its parent,
// even before the sweep revokes it. It returns the bounds they impose.
func (s *Store) lineage(ctx context.Context, e *Entry, now time.Time) (b bounds, ok bool, err error) {
	for p, depth := e.parentHash, 0; p != ""; depth++ {
		ph, valid := parseHash(p)
		if !valid || depth >= maxDepth {
			return b, false, nil
		}
		parent, err := s.load(ctx, ph)
		if err != nil {
			return b, false, err
		}
		if parent == nil || !parent.usable(now) {
			return b, false, nil
		}
		b = b.and(boundsOf(parent))
		p = parent.parentHash
	}
	return b, true, nil
}

// valid reports whether e may authenticate a request at now: it is usable
// and so is each of its ancestors.
func (s *Store) valid(ctx context.Context, e *Entry, now time.Time) (bool, error) {
	if e == nil || !e.usable(now) {
		return false, nil
	}
	if e.parentHash == "" {
		return true, nil
	}
	_, ok, err := s.lineage(ctx, e, now)
	return ok, err
}

// Use authenticates one request with token from remoteIP (an IP address
// without port). It rejects unknown, expired, revoked and wrongly bound
// tokens, and tokens with an expired or revoked ancestor, with
// ErrInvalidToken, and consumes one use of a use-limited token. The
// returned entry's NumUses is the count left after this use.
//
// The last use of a use-limited token is served in full, as in Vault: the
// token is marked so that no other request can use it, the request may
// still look it up (lookup-self shows num_uses 0), and the token and its
// descendants are revoked when ctx ends (an HTTP request's context ends
// when its handler returns). A ctx that can never end revokes it before
// Use returns.
func (s *Store) Use(ctx context.Context, token, remoteIP string) (*Entry, error) {
	if isBatch(token) {
		e, err := s.lookupBatch(ctx, token)
		if err != nil {
			return nil, err
		}
		if !e.allows(remoteIP) {
			return nil, ErrInvalidToken
		}
		return e, nil
	}
	if token == "" || len(token) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	h := s.hash(token)
	e, err := s.load(ctx, h)
	if err != nil {
		return nil, err
	}
	ok, err := s.valid(ctx, e, s.now())
	if err != nil {
		return nil, err
	}
	if !ok || !e.allows(remoteIP) {
		return nil, ErrInvalidToken
	}
	if e.NumUses > 0 {
		return s.consume(ctx, h, remoteIP)
	}
	return e.clone(), nil
}

// consume takes one use of a use-limited token, under mu and from storage so
// that concurrent uses can never exceed the limit.
func (s *Store) consume(ctx context.Context, h [hashLen]byte, remoteIP string) (*Entry, error) {
	s.mu.Lock()
	e, err := s.read(ctx, h)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if e == nil || !e.usable(s.now()) || !e.allows(remoteIP) {
		s.mu.Unlock()
		return nil, ErrInvalidToken
	}
	if e.NumUses == 0 { // changed under us; unlimited now (not expected)
		s.mu.Unlock()
		return e.clone(), nil
	}
	e.NumUses--
	last := e.NumUses == 0
	if last {
		// Mark it so no other request can use it; it is revoked once
		// this request is done.
		e.revoking = revokeUsed
	}
	if err := s.write(ctx, e); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("consume token use: %w", err)
	}
	s.invalidate(h)
	deferred := last && ctx.Done() != nil
	if deferred {
		s.pending[h] = struct{}{}
	}
	s.mu.Unlock()
	out := e.clone()
	out.revoking = ""
	switch {
	case deferred:
		keep := context.WithoutCancel(ctx)
		context.AfterFunc(ctx, func() { s.finishUse(keep, h, e.Accessor) })
	case last:
		s.finishUse(ctx, h, e.Accessor)
	}
	return out, nil
}

// finishUse revokes a token whose last use has been served.
func (s *Store) finishUse(ctx context.Context, h [hashLen]byte, accessor string) {
	s.mu.Lock()
	delete(s.pending, h)
	s.mu.Unlock()
	if _, err := s.revokeTree(ctx, h); err != nil {
		// The mark stands, so the token is unusable; Sweep finishes.
		s.log.Warn("revoke exhausted token", "accessor", accessor, "error", err)
	}
}

// isPending reports whether h is a token whose last request is running.
func (s *Store) isPending(h [hashLen]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[h]
	return ok
}

// lookupCaller returns the entry of the token authenticating the current
// backend request: a valid token, or one whose last use this request is
// serving.
func (s *Store) lookupCaller(ctx context.Context, h [hashLen]byte) (*Entry, error) {
	e, err := s.read(ctx, h)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if e != nil && e.revoking == revokeUsed && s.isPending(h) && (e.ExpireTime.IsZero() || now.Before(e.ExpireTime)) {
		_, ok, err := s.lineage(ctx, e, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrInvalidToken
		}
		return e.clone(), nil
	}
	ok, err := s.valid(ctx, e, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidToken
	}
	return e.clone(), nil
}

// Lookup returns the entry of a valid token without consuming a use.
func (s *Store) Lookup(ctx context.Context, token string) (*Entry, error) {
	if isBatch(token) {
		return s.lookupBatch(ctx, token)
	}
	if token == "" || len(token) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	e, err := s.load(ctx, s.hash(token))
	if err != nil {
		return nil, err
	}
	ok, err := s.valid(ctx, e, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidToken
	}
	return e.clone(), nil
}

// LookupAccessor returns the entry of the valid token with this accessor.
func (s *Store) LookupAccessor(ctx context.Context, accessor string) (*Entry, error) {
	h, ok, err := s.byAccessor(ctx, accessor)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidToken
	}
	e, err := s.load(ctx, h)
	if err != nil {
		return nil, err
	}
	if ok, err = s.valid(ctx, e, s.now()); err != nil {
		return nil, err
	}
	if !ok || e.Accessor != accessor {
		return nil, ErrInvalidToken
	}
	return e.clone(), nil
}

// --- renew ---

// ErrNotRenewable is returned (as a 400) for tokens that cannot be renewed.
var ErrNotRenewable = &logical.CodedError{Code: http.StatusBadRequest, Msg: "lease is not renewable"}

// Renew extends the token's TTL by increment from now (the token's own TTL
// when increment is zero; the period for periodic tokens), never past its
// explicit max TTL nor, for non-periodic tokens, past creation plus the max
// TTL.
func (s *Store) Renew(ctx context.Context, token string, increment time.Duration) (*Entry, error) {
	if isBatch(token) {
		if _, err := s.lookupBatch(ctx, token); err != nil {
			return nil, err
		}
		return nil, ErrBatchRenew
	}
	if token == "" || len(token) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	return s.renew(ctx, s.hash(token), increment)
}

func (s *Store) renew(ctx context.Context, h [hashLen]byte, increment time.Duration) (*Entry, error) {
	if increment < 0 {
		return nil, logical.BadRequest("increment cannot be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.read(ctx, h)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if e == nil || !e.usable(now) {
		return nil, ErrInvalidToken
	}
	if !e.Renewable || e.ExpireTime.IsZero() {
		return nil, ErrNotRenewable
	}
	ttl := increment
	if e.Period > 0 {
		ttl = e.Period
	} else if ttl == 0 {
		ttl = e.TTL
	}
	// A renewal never takes a token past its own hard limit nor past its
	// ancestors' current expiry.
	up, ok, err := s.lineage(ctx, e, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidToken
	}
	limits := up.and(bounds{hard: s.hardLimit(e)})
	exp := now.Add(ttl)
	for _, limit := range []time.Time{limits.expire, limits.hard} {
		if !limit.IsZero() && exp.After(limit) {
			exp = limit
		}
	}
	if !exp.After(now) {
		return nil, ErrInvalidToken
	}
	e.ExpireTime = exp
	e.lastRenew = now
	if err := s.write(ctx, e); err != nil {
		return nil, fmt.Errorf("renew token: %w", err)
	}
	s.invalidate(h)
	return e.clone(), nil
}

// ttlLeft is the remaining TTL of e at now, 0 for tokens that never expire.
func ttlLeft(e *Entry, now time.Time) time.Duration {
	if e.ExpireTime.IsZero() {
		return 0
	}
	d := e.ExpireTime.Sub(now)
	if d < 0 {
		return 0
	}
	// Round, don't truncate: a renewal by 1h reports 3600, not the 3599
	// left a few microseconds later.
	return d.Round(time.Second)
}

// parentBounds resolves the parent e names by ParentAccessor (none for an
// orphan), refuses a parent that is gone, expired, being revoked or
// use-limited, and returns its hash and what bounds a child of it: the
// parent and every ancestor above it. It sets e's parent hash and orphan
// flag. get reads the parent (from the cache or storage); op names the
// caller in errors.
func (s *Store) parentBounds(ctx context.Context, e *Entry, now time.Time, op string,
	get func(context.Context, [hashLen]byte) (*Entry, error)) (ph [hashLen]byte, limits bounds, err error) {
	if e.Orphan {
		e.ParentAccessor = ""
	}
	if e.ParentAccessor == "" {
		e.parentHash, e.Orphan = "", true
		return ph, limits, nil
	}
	ph, ok, err := s.byAccessor(ctx, e.ParentAccessor)
	if err != nil {
		return ph, limits, fmt.Errorf("%s: %w", op, err)
	}
	if !ok {
		return ph, limits, ErrInvalidToken
	}
	parent, err := get(ctx, ph)
	if err != nil {
		return ph, limits, fmt.Errorf("%s: %w", op, err)
	}
	if parent != nil && parent.useLimited() {
		return ph, limits, ErrUseLimitedParent
	}
	if parent == nil || !parent.usable(now) {
		return ph, limits, ErrInvalidToken
	}
	limits, ok, err = s.lineage(ctx, parent, now)
	if err != nil {
		return ph, limits, fmt.Errorf("%s: %w", op, err)
	}
	if !ok {
		return ph, limits, ErrInvalidToken
	}
	e.parentHash, e.Orphan = hexHash(ph), false
	return ph, limits.and(boundsOf(parent)), nil
}
