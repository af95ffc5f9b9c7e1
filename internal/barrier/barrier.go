package barrier

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// KeySize is the length in bytes of the unseal key, the root key and every
// keyring term.
const KeySize = 32

// Paths of the barrier's own entries in the backend.
const (
	SealConfigPath = "core/seal-config"
	RootKeyPath    = "core/root-key"
	KeyringPath    = "core/keyring"

	// With an auto seal: the unseal key as the seal wrapped it, and the
	// recovery key's configuration and check value.
	SealedKeyPath      = "core/sealed-key"
	RecoveryConfigPath = "core/recovery-config"
	RecoveryKeyPath    = "core/recovery-key"
)

const (
	sealConfigVersion = 1
	keyCheckSize      = 16
	keyCheckLabel     = "keyward unseal key check v1"
	recoveryLabel     = "keyward recovery key check v1"
)

// AutoSealTypes are the seal types whose unseal key is wrapped by a seal
// (package seal) instead of split among operators.
var AutoSealTypes = []string{"transit", "pkcs11"}

// IsAutoSeal reports whether typ is an auto seal type.
func IsAutoSeal(typ string) bool { return slices.Contains(AutoSealTypes, typ) }

// Errors callers branch on; check them with errors.Is.
var (
	// ErrSealed is returned by data-plane calls and Rotate while sealed.
	ErrSealed = errors.New("barrier is sealed")
	// ErrBadKey means the unseal key does not open this store.
	ErrBadKey = errors.New("unseal key is not valid for this store")
	// ErrCorrupt means the barrier's own entries are missing or damaged.
	ErrCorrupt = errors.New("storage is corrupt")
	// ErrIntegrity means a stored value failed authentication.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrAlreadyInitialized is returned by Initialize over existing data.
	ErrAlreadyInitialized = errors.New("barrier is already initialized")
	// ErrNotInitialized is returned when no seal configuration exists.
	ErrNotInitialized = errors.New("barrier is not initialized")
	// ErrReservedPath is returned for data-plane access to the barrier's own
	// entries.
	ErrReservedPath = errors.New("path is reserved for the barrier")
)

// SealConfig describes how the unseal key is split. It is stored in
// plaintext at SealConfigPath.
type SealConfig struct {
	Type            string `json:"type"`
	SecretShares    int    `json:"secret_shares"`
	SecretThreshold int    `json:"secret_threshold"`
	Version         int    `json:"version"`
}

// Validate checks the configuration against what package shamir supports:
// 2 <= threshold <= shares <= 255, or shares = threshold = 1.
func (c SealConfig) Validate() error {
	var errs []error
	if c.Type != "shamir" && !IsAutoSeal(c.Type) {
		errs = append(errs, fmt.Errorf("seal type %q is not supported (want \"shamir\", \"transit\" or \"pkcs11\")", c.Type))
	}
	if IsAutoSeal(c.Type) && (c.SecretShares != 1 || c.SecretThreshold != 1) {
		errs = append(errs, fmt.Errorf("seal type %q keeps one wrapped key: secret_shares and secret_threshold must be 1", c.Type))
	}
	switch {
	case c.SecretShares < 1 || c.SecretShares > 255:
		errs = append(errs, fmt.Errorf("secret_shares %d is outside 1..255", c.SecretShares))
	case c.SecretThreshold < 1 || c.SecretThreshold > c.SecretShares:
		errs = append(errs, fmt.Errorf("secret_threshold %d is outside 1..secret_shares (%d)", c.SecretThreshold, c.SecretShares))
	case c.SecretThreshold == 1 && c.SecretShares > 1:
		errs = append(errs, errors.New("secret_threshold 1 requires secret_shares 1"))
	}
	if c.Version != sealConfigVersion {
		errs = append(errs, fmt.Errorf("seal config version %d is not supported", c.Version))
	}
	return errors.Join(errs...)
}

// Barrier encrypts values on their way to an untrusted storage.Backend. It
// starts sealed. All methods are safe for concurrent use. Barrier implements
// logical.Storage and logical.BatchStorage.
type Barrier struct {
	backend storage.Backend
	logger  *slog.Logger
	now     func() time.Time // install time of new keyring terms

	// opMu serialises the control plane: Initialize, Unseal, Rotate and
	// RekeyUnsealKey. Seal does not take it, so it never waits on storage.
	opMu sync.Mutex

	mu       sync.RWMutex
	sealed   bool
	rootKey  []byte
	rootAEAD cipher.AEAD
	terms    map[uint32]*term
	active   *term

	encryptions atomic.Uint64
}

var (
	_ logical.Storage      = (*Barrier)(nil)
	_ logical.BatchStorage = (*Barrier)(nil)
)

// New returns a sealed Barrier over backend. A nil logger discards logs.
func New(backend storage.Backend, logger *slog.Logger) *Barrier {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Barrier{
		backend: backend,
		logger:  logger.With("component", "barrier"),
		now:     time.Now,
		sealed:  true,
	}
}

// WithClock makes now the clock that stamps the install time of new keyring
// terms (default time.Now), so the owner of an injected clock sees term ages
// on that clock. Call it before the barrier is used; it returns b.
func (b *Barrier) WithClock(now func() time.Time) *Barrier {
	if now != nil {
		b.now = now
	}
	return b
}

// Initialized reports whether the backend holds a seal configuration. If it
// does not but holds any other key, the store is damaged, and Initialized
// returns an error wrapping ErrCorrupt rather than false: a damaged store
// must never be taken for an empty one.
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	_, err := b.backend.Get(ctx, SealConfigPath)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("read %s: %w", SealConfigPath, err)
	}
	names, err := b.backend.List(ctx, "")
	if err != nil {
		return false, fmt.Errorf("list storage: %w", err)
	}
	if len(names) > 0 {
		return false, fmt.Errorf("%w: storage holds data but no seal configuration; refusing to treat it as uninitialized", ErrCorrupt)
	}
	return false, nil
}

// Initialize creates a new root key, unseal key and keyring (term 1) and
// writes core/root-key, core/keyring and core/seal-config in one atomic
// batch, the seal configuration last. It refuses with ErrAlreadyInitialized
// if the store is initialized or holds any data. The barrier stays sealed.
//
// The returned unseal key is the caller's to split (package shamir) and
// then wipe; the barrier keeps no copy. A Type of "" and Version of 0 in cfg
// default to "shamir" and 1.
func (b *Barrier) Initialize(ctx context.Context, cfg SealConfig) (unsealKey []byte, err error) {
	if cfg.Type == "" {
		cfg.Type = "shamir"
	}
	if IsAutoSeal(cfg.Type) {
		return nil, fmt.Errorf("initialize: seal type %q needs InitializeAuto", cfg.Type)
	}
	return b.initialize(ctx, cfg, nil)
}

// initialize is Initialize with extra entries, made from the new unseal
// key, written in the same batch ahead of the seal configuration.
func (b *Barrier) initialize(ctx context.Context, cfg SealConfig, extra func(unsealKey []byte) ([]storage.Op, error)) (unsealKey []byte, err error) {
	if cfg.Version == 0 {
		cfg.Version = sealConfigVersion
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()

	switch init, err := b.Initialized(ctx); {
	case errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("initialize: %w: %w", ErrAlreadyInitialized, err)
	case err != nil:
		return nil, fmt.Errorf("initialize: %w", err)
	case init:
		return nil, fmt.Errorf("initialize: %w", ErrAlreadyInitialized)
	}

	unsealKey = randomKey()
	rootKey := randomKey()
	defer clear(rootKey)
	termKey := randomKey()
	defer clear(termKey)

	rootEntry, err := sealRootKey(unsealKey, rootKey)
	if err != nil {
		clear(unsealKey)
		return nil, fmt.Errorf("initialize: %w", err)
	}
	rootAEAD, err := newAEAD(rootKey)
	if err != nil {
		clear(unsealKey)
		return nil, fmt.Errorf("initialize: root key: %w", err)
	}
	first := &term{num: 1, key: termKey, installed: b.now().UTC()}
	keyringEntry, err := sealKeyring(rootAEAD, []*term{first})
	if err != nil {
		clear(unsealKey)
		return nil, fmt.Errorf("initialize: %w", err)
	}
	configJSON, err := json.Marshal(cfg)
	if err != nil {
		clear(unsealKey)
		return nil, fmt.Errorf("initialize: encode seal config: %w", err)
	}
	ops := []storage.Op{
		{Key: RootKeyPath, Value: rootEntry},
		{Key: KeyringPath, Value: keyringEntry},
	}
	if extra != nil {
		more, err := extra(unsealKey)
		if err != nil {
			clear(unsealKey)
			return nil, fmt.Errorf("initialize: %w", err)
		}
		ops = append(ops, more...)
	}
	ops = append(ops, storage.Op{Key: SealConfigPath, Value: configJSON})
	if err := b.backend.Batch(ctx, ops); err != nil {
		clear(unsealKey)
		return nil, fmt.Errorf("initialize: write barrier entries: %w", err)
	}
	b.logger.Info("initialized", "type", cfg.Type, "secret_shares", cfg.SecretShares, "secret_threshold", cfg.SecretThreshold)
	return unsealKey, nil
}

// SealConfig returns the stored seal configuration. It works sealed or
// unsealed. Absent: ErrNotInitialized (or ErrCorrupt if other data exists);
// unparsable or invalid: an error wrapping ErrCorrupt.
func (b *Barrier) SealConfig(ctx context.Context) (*SealConfig, error) {
	raw, err := b.backend.Get(ctx, SealConfigPath)
	if errors.Is(err, storage.ErrNotFound) {
		if _, err := b.Initialized(ctx); err != nil {
			return nil, fmt.Errorf("seal config: %w", err)
		}
		return nil, fmt.Errorf("seal config: %w", ErrNotInitialized)
	}
	if err != nil {
		return nil, fmt.Errorf("seal config: read %s: %w", SealConfigPath, err)
	}
	var cfg SealConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("seal config: %w: %s is not valid JSON", ErrCorrupt, SealConfigPath)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("seal config: %w: %s: %w", ErrCorrupt, SealConfigPath, err)
	}
	return &cfg, nil
}

// Unseal decrypts the root key with unsealKey, then the keyring with the root
// key, and opens the data plane. A key of the wrong length or that does not
// open this store yields ErrBadKey; a missing or damaged root-key or keyring
// entry yields ErrCorrupt; no seal configuration yields ErrNotInitialized.
// When already unsealed, Unseal only verifies the key and returns nil if it
// is valid. unsealKey is not retained or modified.
func (b *Barrier) Unseal(ctx context.Context, unsealKey []byte) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()

	if !b.Sealed() {
		if err := b.VerifyUnsealKey(ctx, unsealKey); err != nil {
			return fmt.Errorf("unseal: %w", err)
		}
		return nil
	}
	if err := b.checkInitialized(ctx); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	rootKey, err := b.openRootKey(ctx, unsealKey)
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	rootAEAD, err := newAEAD(rootKey)
	if err != nil {
		clear(rootKey)
		return fmt.Errorf("unseal: root key: %w", err)
	}
	terms, active, err := b.openKeyring(ctx, rootAEAD)
	if err != nil {
		clear(rootKey)
		return fmt.Errorf("unseal: %w", err)
	}

	b.mu.Lock()
	b.rootKey, b.rootAEAD = rootKey, rootAEAD
	b.terms, b.active = terms, active
	b.encryptions.Store(0)
	b.sealed = false
	b.mu.Unlock()
	b.logger.Info("unsealed", "term", active.num, "terms", len(terms))
	return nil
}

// Reload reads the keyring again with the root key it holds, merging in
// terms another node added (a standby of a raft cluster whose active node
// rotated). Terms it already holds are kept, so nothing written under them
// stops decrypting; the newest term becomes the active one. Sealed:
// ErrSealed.
func (b *Barrier) Reload(ctx context.Context) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	b.mu.RLock()
	sealed, rootAEAD := b.sealed, b.rootAEAD
	b.mu.RUnlock()
	if sealed {
		return fmt.Errorf("reload keyring: %w", ErrSealed)
	}
	terms, active, err := b.openKeyring(ctx, rootAEAD)
	if err != nil {
		return fmt.Errorf("reload keyring: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		for _, t := range terms {
			clear(t.key)
		}
		return fmt.Errorf("reload keyring: %w", ErrSealed)
	}
	for num, t := range terms {
		if _, ok := b.terms[num]; ok {
			clear(t.key)
			continue
		}
		b.terms[num] = t
	}
	if active.num > b.active.num {
		b.active = b.terms[active.num]
	}
	return nil
}

// checkInitialized returns ErrNotInitialized, or an ErrCorrupt error, when
// there is no seal configuration.
func (b *Barrier) checkInitialized(ctx context.Context) error {
	init, err := b.Initialized(ctx)
	if err != nil {
		return err
	}
	if !init {
		return ErrNotInitialized
	}
	return nil
}

// VerifyUnsealKey reports whether key opens this store's root key, without
// changing the seal state: nil if it does, else an error wrapping ErrBadKey,
// ErrCorrupt or ErrNotInitialized. It works sealed or unsealed. key is not
// retained or modified.
func (b *Barrier) VerifyUnsealKey(ctx context.Context, key []byte) error {
	if err := b.checkInitialized(ctx); err != nil {
		return fmt.Errorf("verify unseal key: %w", err)
	}
	rootKey, err := b.openRootKey(ctx, key)
	if err != nil {
		return fmt.Errorf("verify unseal key: %w", err)
	}
	clear(rootKey)
	return nil
}

// keyCheck returns the check value stored ahead of the root-key envelope.
func keyCheck(unsealKey []byte) []byte {
	m := hmac.New(sha256.New, unsealKey)
	m.Write([]byte(keyCheckLabel))
	m.Write([]byte{0})
	m.Write([]byte(RootKeyPath))
	return m.Sum(nil)[:keyCheckSize]
}

// sealRootKey returns the core/root-key entry for rootKey under unsealKey.
func sealRootKey(unsealKey, rootKey []byte) ([]byte, error) {
	aead, err := newAEAD(unsealKey)
	if err != nil {
		return nil, fmt.Errorf("unseal key: %w", err)
	}
	env := sealEnvelope(aead, 0, RootKeyPath, rootKey)
	return append(keyCheck(unsealKey), env...), nil
}

// openRootKey reads and decrypts the root key. The caller zeroes the result.
func (b *Barrier) openRootKey(ctx context.Context, unsealKey []byte) ([]byte, error) {
	if len(unsealKey) != KeySize {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrBadKey, len(unsealKey), KeySize)
	}
	entry, err := b.backend.Get(ctx, RootKeyPath)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: seal configuration exists but %s is missing", ErrCorrupt, RootKeyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", RootKeyPath, err)
	}
	if len(entry) < keyCheckSize+minEnvelopeSize {
		return nil, fmt.Errorf("%w: %s is truncated (%d bytes)", ErrCorrupt, RootKeyPath, len(entry))
	}
	if subtle.ConstantTimeCompare(entry[:keyCheckSize], keyCheck(unsealKey)) != 1 {
		return nil, ErrBadKey
	}
	aead, err := newAEAD(unsealKey)
	if err != nil {
		return nil, fmt.Errorf("unseal key: %w", err)
	}
	rootKey, err := openEnvelope(func(t uint32) cipher.AEAD {
		if t == 0 {
			return aead
		}
		return nil
	}, RootKeyPath, entry[keyCheckSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: the unseal key matches but %w", ErrCorrupt, err)
	}
	if len(rootKey) != KeySize {
		clear(rootKey)
		return nil, fmt.Errorf("%w: root key in %s is %d bytes, want %d", ErrCorrupt, RootKeyPath, len(rootKey), KeySize)
	}
	return rootKey, nil
}

// sealKeyring returns the core/keyring entry for terms under the root key.
func sealKeyring(rootAEAD cipher.AEAD, terms []*term) ([]byte, error) {
	plain, err := encodeKeyring(terms)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return sealEnvelope(rootAEAD, 0, KeyringPath, plain), nil
}

// openKeyring reads, decrypts and decodes the keyring.
func (b *Barrier) openKeyring(ctx context.Context, rootAEAD cipher.AEAD) (map[uint32]*term, *term, error) {
	entry, err := b.backend.Get(ctx, KeyringPath)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: seal configuration exists but %s is missing", ErrCorrupt, KeyringPath)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", KeyringPath, err)
	}
	plain, err := openEnvelope(func(t uint32) cipher.AEAD {
		if t == 0 {
			return rootAEAD
		}
		return nil
	}, KeyringPath, entry)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: keyring does not open under the root key: %w", ErrCorrupt, err)
	}
	defer clear(plain)
	terms, active, err := decodeKeyring(plain)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, KeyringPath, err)
	}
	return terms, active, nil
}

// Seal zeroes the root key and every keyring term, drops the cached AEADs
// and closes the data plane. It never blocks on storage and is a no-op when
// already sealed. In-flight calls either finish before it or fail with
// ErrSealed.
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		return
	}
	clear(b.rootKey)
	b.rootKey, b.rootAEAD = nil, nil
	for _, t := range b.terms {
		clear(t.key)
		t.aead = nil
	}
	b.terms, b.active = nil, nil
	b.encryptions.Store(0)
	b.sealed = true
	b.logger.Info("sealed")
}

// Sealed reports whether the data plane is closed.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sealed
}

// Rotate adds a keyring term, persists the keyring, and makes the new term
// the one new writes use; values under older terms still decrypt. It returns
// the new term number, or ErrSealed when sealed.
func (b *Barrier) Rotate(ctx context.Context) (uint32, error) {
	b.opMu.Lock()
	defer b.opMu.Unlock()

	newKey := randomKey()
	// Build the new keyring under the read lock: Seal may not zero the keys
	// while they are being encoded.
	b.mu.RLock()
	if b.sealed {
		b.mu.RUnlock()
		clear(newKey)
		return 0, fmt.Errorf("rotate: %w", ErrSealed)
	}
	if b.active.num == math.MaxUint32 {
		b.mu.RUnlock()
		clear(newKey)
		return 0, errors.New("rotate: keyring term numbers are exhausted")
	}
	next, err := newTerm(b.active.num+1, newKey, b.now().UTC())
	if err != nil {
		b.mu.RUnlock()
		clear(newKey)
		return 0, fmt.Errorf("rotate: %w", err)
	}
	all := append(sortedTerms(b.terms), next)
	entry, err := sealKeyring(b.rootAEAD, all)
	b.mu.RUnlock()
	if err != nil {
		clear(newKey)
		return 0, fmt.Errorf("rotate: %w", err)
	}

	if err := b.backend.Put(ctx, KeyringPath, entry); err != nil {
		clear(newKey)
		return 0, fmt.Errorf("rotate: write %s: %w", KeyringPath, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		// Sealed while writing: the stored keyring has the new term and the
		// next unseal loads it; memory must hold no key.
		clear(newKey)
		return 0, fmt.Errorf("rotate: %w", ErrSealed)
	}
	b.terms[next.num] = next
	b.active = next
	b.encryptions.Store(0)
	b.logger.Info("rotated", "term", next.num)
	return next.num, nil
}

// sortedTerms returns the terms in ascending order.
func sortedTerms(m map[uint32]*term) []*term {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]*term, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// KeyStatus returns the active term, when it was installed, and how many
// values this process has encrypted under it since unseal or rotation (the
// count is not persisted). It returns zero values while sealed.
func (b *Barrier) KeyStatus() (term uint32, installTime time.Time, encryptions uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return 0, time.Time{}, 0
	}
	return b.active.num, b.active.installed, b.encryptions.Load()
}

// RekeyUnsealKey re-encrypts the root key under newUnsealKey and stores cfg
// as the seal configuration, both in one atomic batch, so the old unseal key
// stops working. The barrier must be unsealed. newUnsealKey is not retained
// or modified; the caller splits it and wipes it.
func (b *Barrier) RekeyUnsealKey(ctx context.Context, newUnsealKey []byte, cfg SealConfig) error {
	if len(newUnsealKey) != KeySize {
		return fmt.Errorf("rekey: new unseal key is %d bytes, want %d", len(newUnsealKey), KeySize)
	}
	if cfg.Type == "" {
		cfg.Type = "shamir"
	}
	if cfg.Version == 0 {
		cfg.Version = sealConfigVersion
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	configJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("rekey: encode seal config: %w", err)
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()

	b.mu.RLock()
	if b.sealed {
		b.mu.RUnlock()
		return fmt.Errorf("rekey: %w", ErrSealed)
	}
	entry, err := sealRootKey(newUnsealKey, b.rootKey)
	b.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	ops := []storage.Op{
		{Key: RootKeyPath, Value: entry},
		{Key: SealConfigPath, Value: configJSON},
	}
	if err := b.backend.Batch(ctx, ops); err != nil {
		return fmt.Errorf("rekey: write barrier entries: %w", err)
	}
	b.logger.Info("unseal key rekeyed", "secret_shares", cfg.SecretShares, "secret_threshold", cfg.SecretThreshold)
	return nil
}

// randomKey returns KeySize bytes from crypto/rand.
func randomKey() []byte {
	k := make([]byte, KeySize)
	// crypto/rand.Read never returns an error; it crashes the program if the
	// kernel cannot supply randomness.
	rand.Read(k)
	return k
}
