package token

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// Batch tokens are not stored: the token is its own entry, sealed.
//
//	token   = "kwb_" base62(sealed) checksum         (tokenfmt.EncodeBatch)
//	sealed  = version(1) | key id (4, big endian) | nonce (12) | AES-256-GCM(payload)
//	AAD     = "keyward batch token" | version | key id
//	payload = flags(1) | creation (uvarint unix ns) | ttl (uvarint ns)
//	          | [parent hash (32) if flags&1] | policies | meta | display name
//	          | path | entity id | alias | role | bound cidrs
//
// Strings are a uvarint length and bytes; lists a uvarint count and
// strings; meta a count and key, value pairs. The keys live in a keyring
// stored through the barrier at batchKeysKey; every token names the key that
// sealed it, new tokens use the newest, and RotateBatchKey adds a key.
//
// A batch token is valid while it has not expired and, unless an orphan,
// while its parent (always a service token) and the parent's ancestors are:
// each use looks them up, from the entry cache. Batch tokens cannot be
// renewed, revoked on their own, create tokens, be root, periodic or
// use-limited.

// TypeBatch is the type of batch tokens.
const TypeBatch = tokenparams.TypeBatch

const (
	batchKeysKey  = "batch-keys"
	batchVersion  = 1
	batchHeader   = 1 + 4 + 12
	batchAADLabel = "keyward batch token"
	flagParent    = 1
)

// Errors of batch tokens, as Vault words them; all are 400s.
var (
	ErrBatchRenew      = &logical.CodedError{Code: http.StatusBadRequest, Msg: "batch tokens cannot be renewed"}
	ErrBatchRevoke     = &logical.CodedError{Code: http.StatusBadRequest, Msg: "batch tokens cannot be revoked"}
	ErrBatchParent     = &logical.CodedError{Code: http.StatusBadRequest, Msg: "batch tokens cannot create more tokens"}
	errBatchRoot       = logical.BadRequest("batch tokens cannot be root tokens")
	errBatchPeriodic   = logical.BadRequest("batch tokens cannot be periodic")
	errBatchUseLimited = logical.BadRequest("batch tokens cannot be use-limited (num_uses)")
	errBatchCustomID   = logical.BadRequest("batch tokens cannot have a custom id")
)

// batchRefusal is the one check of what a batch token cannot be: root,
// periodic or use-limited (a role's token_type is checked the same way by
// tokenparams.CheckType when the role is written).
func batchRefusal(root bool, period time.Duration, numUses int) error {
	switch {
	case root:
		return errBatchRoot
	case period > 0:
		return errBatchPeriodic
	case numUses > 0:
		return errBatchUseLimited
	}
	return nil
}

// isBatch reports whether token has the batch prefix. Custom ids may not
// have it, so such a token is a batch token or no token at all.
func isBatch(token string) bool { return strings.HasPrefix(token, tokenfmt.Batch) }

// batchKey is one key of the batch keyring as stored.
type batchKey struct {
	ID      uint32    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
	// Retired is when a newer key replaced this one; zero for the newest.
	Retired time.Time `json:"retired,omitzero"`
}

// batchKeyring is the in-memory keyring: the AEAD of every kept key.
type batchKeyring struct {
	active uint32
	keys   []batchKey // oldest first
	aeads  map[uint32]cipher.AEAD
}

func newKeyring(keys []batchKey) (*batchKeyring, error) {
	kr := &batchKeyring{keys: keys, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if len(k.Key) != 32 {
			return nil, fmt.Errorf("batch key %d has %d bytes, want 32", k.ID, len(k.Key))
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("batch key %d: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("batch key %d: %w", k.ID, err)
		}
		kr.aeads[k.ID] = aead
		if k.ID > kr.active {
			kr.active = k.ID
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("batch keyring is empty")
	}
	return kr, nil
}

func newBatchKey(id uint32, now time.Time) (batchKey, error) {
	k := batchKey{ID: id, Key: make([]byte, 32), Created: now.UTC()}
	if _, err := rand.Read(k.Key); err != nil {
		return k, fmt.Errorf("generate batch key: %w", err)
	}
	return k, nil
}

// loadBatchKeys reads the keyring, creating it with one key on first use.
func (s *Store) loadBatchKeys(ctx context.Context) error {
	raw, err := s.st.Get(ctx, batchKeysKey)
	if err != nil {
		return fmt.Errorf("token store: read batch keys: %w", err)
	}
	var keys []batchKey
	if raw == nil {
		k, err := newBatchKey(1, s.now())
		if err != nil {
			return err
		}
		keys = []batchKey{k}
		if err := s.writeBatchKeys(ctx, keys); err != nil {
			return err
		}
	} else if err := json.Unmarshal(raw, &keys); err != nil {
		return fmt.Errorf("token store: decode batch keys: %w", err)
	}
	kr, err := newKeyring(keys)
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	s.batchKeys.Store(kr)
	return nil
}

func (s *Store) writeBatchKeys(ctx context.Context, keys []batchKey) error {
	raw, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("token store: encode batch keys: %w", err)
	}
	if err := s.st.Put(ctx, batchKeysKey, raw); err != nil {
		return fmt.Errorf("token store: write batch keys: %w", err)
	}
	return nil
}

// RotateBatchKey adds a new batch key, which seals every batch token
// created from now on, and returns its id. Tokens sealed with older keys
// stay valid until they expire, unless revokeExisting, which drops every
// older key so that every batch token issued so far stops working at once.
// Keys retired longer ago than the store's max TTL are dropped: no token
// they sealed can still be live.
func (s *Store) RotateBatchKey(ctx context.Context, revokeExisting bool) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	old := s.batchKeys.Load()
	var keys []batchKey
	if !revokeExisting {
		for _, k := range old.keys {
			if k.Retired.IsZero() {
				k.Retired = now
			}
			if now.Sub(k.Retired) <= s.maxTTL {
				keys = append(keys, k)
			}
		}
	}
	k, err := newBatchKey(old.active+1, now)
	if err != nil {
		return 0, err
	}
	keys = append(keys, k)
	kr, err := newKeyring(keys)
	if err != nil {
		return 0, err
	}
	if err := s.writeBatchKeys(ctx, keys); err != nil {
		return 0, err
	}
	s.batchKeys.Store(kr)
	s.log.Info("batch token key rotated", "key_id", k.ID, "kept_keys", len(keys), "revoke_existing", revokeExisting)
	return k.ID, nil
}

// batchKeyInfo describes the keyring without key material.
func (s *Store) batchKeyInfo() map[string]any {
	kr := s.batchKeys.Load()
	var created time.Time
	for _, k := range kr.keys {
		if k.ID == kr.active {
			created = k.Created
		}
	}
	return map[string]any{"key_id": kr.active, "created": created.Format(time.RFC3339), "keys": len(kr.keys)}
}

// createBatch issues a batch token for e (see Create). Nothing is stored.
func (s *Store) createBatch(ctx context.Context, e *Entry) (string, error) {
	if !e.ID.Empty() {
		return "", errBatchCustomID
	}
	if err := batchRefusal(e.IsRoot(), e.Period, e.NumUses); err != nil {
		return "", err
	}
	now := s.now()
	e.CreationTime = now
	e.Accessor = ""
	e.Renewable = false
	e.lastRenew = time.Time{}
	e.revoking = ""
	e.hash = [hashLen]byte{}
	parent, limits, err := s.parentBounds(ctx, e, now, "create batch token", s.load)
	if err != nil {
		return "", err
	}
	s.applyBounds(e, now, limits)
	// Never renewed, so the explicit max TTL was simply a cap on the TTL
	// (a batch token's expiry is never zero: it cannot be root).
	e.ExplicitMaxTTL = 0
	if e.TTL <= 0 {
		return "", ErrInvalidToken
	}
	sealed, err := s.sealBatch(encodeBatch(e, parent))
	if err != nil {
		return "", err
	}
	e.batchID = s.batchID(sealed)
	token := tokenfmt.EncodeBatch(sealed)
	if token == "" {
		return "", logical.BadRequest("batch token would be longer than %d bytes: use less metadata, fewer policies or a service token", tokenfmt.MaxBatchLen)
	}
	s.log.Debug("batch token created", "accessor", e.batchID, "policies", e.Policies, "path", e.Path, "orphan", e.Orphan)
	e.ID = sensitive.NewString(token)
	return token, nil
}

// batchEntry opens a batch token. Any failure is ErrInvalidToken.
func (s *Store) batchEntry(token string) (*Entry, error) {
	sealed, ok := tokenfmt.DecodeBatch(token)
	if !ok {
		return nil, ErrInvalidToken
	}
	plain, ok := s.openBatch(sealed)
	if !ok {
		return nil, ErrInvalidToken
	}
	e, err := decodeBatch(plain)
	if err != nil {
		return nil, ErrInvalidToken
	}
	e.batchID = s.batchID(sealed)
	return e, nil
}

// batchID is the OwnerID of a sealed batch token: its GCM tag is unique to
// it, and a keyed hash of the tag names it without revealing it.
func (s *Store) batchID(sealed []byte) string {
	h := s.hash(string(sealed[len(sealed)-16:]))
	return "batch-" + hex.EncodeToString(h[:12])
}

// lookupBatch returns the entry of a valid batch token.
func (s *Store) lookupBatch(ctx context.Context, token string) (*Entry, error) {
	e, err := s.batchEntry(token)
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
	return e, nil
}

// BatchExpiry reports, for a valid batch token, its expiry: the leases it
// creates must end by then, since no revocation of the token will end them.
// ok is false for every other token.
func (s *Store) BatchExpiry(ctx context.Context, token string) (expire time.Time, ok bool) {
	if !isBatch(token) {
		return time.Time{}, false
	}
	e, err := s.lookupBatch(ctx, token)
	if err != nil {
		return time.Time{}, false
	}
	return e.ExpireTime, true
}

func batchAAD(header []byte) []byte {
	return append([]byte(batchAADLabel), header[:5]...)
}

func (s *Store) sealBatch(plain []byte) ([]byte, error) {
	kr := s.batchKeys.Load()
	out := make([]byte, batchHeader, batchHeader+len(plain)+16)
	out[0] = batchVersion
	binary.BigEndian.PutUint32(out[1:5], kr.active)
	if _, err := rand.Read(out[5:batchHeader]); err != nil {
		return nil, fmt.Errorf("create batch token: nonce: %w", err)
	}
	return kr.aeads[kr.active].Seal(out, out[5:batchHeader], plain, batchAAD(out)), nil
}

func (s *Store) openBatch(sealed []byte) ([]byte, bool) {
	if len(sealed) < batchHeader+16 || sealed[0] != batchVersion {
		return nil, false
	}
	aead := s.batchKeys.Load().aeads[binary.BigEndian.Uint32(sealed[1:5])]
	if aead == nil {
		return nil, false
	}
	plain, err := aead.Open(nil, sealed[5:batchHeader], sealed[batchHeader:], batchAAD(sealed))
	return plain, err == nil
}

// encodeBatch is the payload of a batch token for e; parent is its
// parent's hash, zero for an orphan.
func encodeBatch(e *Entry, parent [hashLen]byte) []byte {
	b := make([]byte, 0, 128)
	var flags byte
	if e.parentHash != "" {
		flags |= flagParent
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(e.CreationTime.UnixNano()))
	b = binary.AppendUvarint(b, uint64(e.TTL))
	if flags&flagParent != 0 {
		b = append(b, parent[:]...)
	}
	b = appendList(b, e.Policies)
	b = binary.AppendUvarint(b, uint64(len(e.Meta)))
	for _, k := range slices.Sorted(maps.Keys(e.Meta)) {
		b = appendString(b, k)
		b = appendString(b, e.Meta[k])
	}
	for _, v := range []string{e.DisplayName, e.Path, e.EntityID, e.Alias, e.Role} {
		b = appendString(b, v)
	}
	return appendList(b, e.BoundCIDRs)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

var errBatchPayload = errors.New("malformed batch token payload")

// payloadReader reads a batch payload; the first error sticks.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBatchPayload
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errBatchPayload
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *payloadReader) str() string { return string(r.bytes(r.uvarint())) }

// count reads a list length; each element takes at least one byte.
func (r *payloadReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errBatchPayload
		return 0
	}
	return int(n)
}

func (r *payloadReader) list() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.str())
	}
	return out
}

// decodeBatch turns a payload back into an entry.
func decodeBatch(b []byte) (*Entry, error) {
	if len(b) == 0 {
		return nil, errBatchPayload
	}
	r := &payloadReader{b: b[1:]}
	flags := b[0]
	if flags&^flagParent != 0 {
		return nil, errBatchPayload
	}
	created := r.uvarint()
	ttl := r.uvarint()
	e := &Entry{Type: TypeBatch, Orphan: true}
	if flags&flagParent != 0 {
		e.parentHash = hex.EncodeToString(r.bytes(hashLen))
		e.Orphan = false
	}
	e.Policies = r.list()
	if n := r.count(); n > 0 {
		e.Meta = make(map[string]string, n)
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			e.Meta[k] = r.str()
		}
	}
	e.DisplayName, e.Path, e.EntityID, e.Alias, e.Role = r.str(), r.str(), r.str(), r.str(), r.str()
	e.BoundCIDRs = r.list()
	if r.err != nil || len(r.b) != 0 || created > 1<<62 || ttl == 0 || ttl > 1<<62 {
		return nil, errBatchPayload
	}
	e.CreationTime = time.Unix(0, int64(created))
	e.TTL = time.Duration(ttl)
	e.ExpireTime = e.CreationTime.Add(e.TTL)
	prefixes, err := tokenparams.ParseCIDRs("bound_cidrs", e.BoundCIDRs)
	if err != nil {
		return nil, errBatchPayload
	}
	e.prefixes = prefixes
	return e, nil
}
