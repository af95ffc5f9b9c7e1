package barrier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/storage"
)

// Auto seals. The unseal key is not split: a seal (package seal) wraps it
// and the wrapped form is stored at SealedKeyPath. Operators hold shares of
// a separate recovery key instead; the barrier stores only its
// configuration (RecoveryConfigPath, a SealConfig of type "shamir") and a
// 32-byte check value, HMAC-SHA256(recovery key, "keyward recovery key check
// v1" || 0x00 || RecoveryKeyPath), at RecoveryKeyPath. The recovery key
// decrypts nothing.

// InitializeAuto is Initialize for an auto seal of sealType: wrap receives
// the new unseal key and returns the entry to store at SealedKeyPath. It
// returns the unseal key (to unseal with, then wipe) and the recovery key
// (to split into recovery.SecretShares shares, then wipe). All entries are
// written in one atomic batch, the seal configuration last.
func (b *Barrier) InitializeAuto(ctx context.Context, sealType string, recovery SealConfig, wrap func(unsealKey []byte) ([]byte, error)) (unsealKey, recoveryKey []byte, err error) {
	if !IsAutoSeal(sealType) {
		return nil, nil, fmt.Errorf("initialize: %q is not an auto seal type", sealType)
	}
	recovery, recJSON, err := recoveryConfigJSON(recovery)
	if err != nil {
		return nil, nil, fmt.Errorf("initialize: %w", err)
	}
	recoveryKey = randomKey()
	unsealKey, err = b.initialize(ctx, SealConfig{Type: sealType, SecretShares: 1, SecretThreshold: 1}, func(k []byte) ([]storage.Op, error) {
		wrapped, err := wrap(k)
		if err != nil {
			return nil, fmt.Errorf("wrap the unseal key: %w", err)
		}
		return []storage.Op{
			{Key: SealedKeyPath, Value: wrapped},
			{Key: RecoveryConfigPath, Value: recJSON},
			{Key: RecoveryKeyPath, Value: recoveryCheck(recoveryKey)},
		}, nil
	})
	if err != nil {
		clear(recoveryKey)
		return nil, nil, err
	}
	b.logger.Info("recovery key created", "recovery_shares", recovery.SecretShares, "recovery_threshold", recovery.SecretThreshold)
	return unsealKey, recoveryKey, nil
}

func recoveryConfigJSON(cfg SealConfig) (SealConfig, []byte, error) {
	cfg.Type = "shamir"
	if cfg.Version == 0 {
		cfg.Version = sealConfigVersion
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("recovery config: %w", err)
	}
	raw, err := json.Marshal(cfg)
	return cfg, raw, err
}

// recoveryCheck returns the value stored at RecoveryKeyPath for key.
func recoveryCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(recoveryLabel))
	m.Write([]byte{0})
	m.Write([]byte(RecoveryKeyPath))
	return m.Sum(nil)
}

// SealedKey returns the stored, seal-wrapped unseal key. Absent under an
// auto seal configuration: an error wrapping ErrCorrupt.
func (b *Barrier) SealedKey(ctx context.Context) ([]byte, error) {
	raw, err := b.backend.Get(ctx, SealedKeyPath)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is missing", ErrCorrupt, SealedKeyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SealedKeyPath, err)
	}
	return raw, nil
}

// RecoveryConfig returns the recovery key's configuration (auto seals
// only). Absent: an error wrapping ErrCorrupt.
func (b *Barrier) RecoveryConfig(ctx context.Context) (*SealConfig, error) {
	raw, err := b.backend.Get(ctx, RecoveryConfigPath)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("recovery config: %w: %s is missing", ErrCorrupt, RecoveryConfigPath)
	}
	if err != nil {
		return nil, fmt.Errorf("recovery config: read %s: %w", RecoveryConfigPath, err)
	}
	var cfg SealConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("recovery config: %w: %s is not valid JSON", ErrCorrupt, RecoveryConfigPath)
	}
	if err := cfg.Validate(); err != nil || cfg.Type != "shamir" {
		return nil, fmt.Errorf("recovery config: %w: %s is not a valid configuration", ErrCorrupt, RecoveryConfigPath)
	}
	return &cfg, nil
}

// VerifyRecoveryKey reports whether key is this store's recovery key: nil
// if it is, else an error wrapping ErrBadKey or ErrCorrupt. key is not
// retained or modified.
func (b *Barrier) VerifyRecoveryKey(ctx context.Context, key []byte) error {
	want, err := b.backend.Get(ctx, RecoveryKeyPath)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("verify recovery key: %w: %s is missing", ErrCorrupt, RecoveryKeyPath)
	}
	if err != nil {
		return fmt.Errorf("verify recovery key: read %s: %w", RecoveryKeyPath, err)
	}
	if len(want) != sha256.Size {
		return fmt.Errorf("verify recovery key: %w: %s is %d bytes", ErrCorrupt, RecoveryKeyPath, len(want))
	}
	if len(key) != KeySize || !hmac.Equal(recoveryCheck(key), want) {
		return fmt.Errorf("verify recovery key: %w", ErrBadKey)
	}
	return nil
}

// RekeyRecoveryKey replaces the recovery key and its configuration in one
// atomic batch. The barrier must be unsealed. key is not retained.
func (b *Barrier) RekeyRecoveryKey(ctx context.Context, key []byte, cfg SealConfig) error {
	if len(key) != KeySize {
		return fmt.Errorf("rekey recovery key: key is %d bytes, want %d", len(key), KeySize)
	}
	cfg, raw, err := recoveryConfigJSON(cfg)
	if err != nil {
		return fmt.Errorf("rekey recovery key: %w", err)
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()
	if b.Sealed() {
		return fmt.Errorf("rekey recovery key: %w", ErrSealed)
	}
	if err := b.backend.Batch(ctx, []storage.Op{
		{Key: RecoveryKeyPath, Value: recoveryCheck(key)},
		{Key: RecoveryConfigPath, Value: raw},
	}); err != nil {
		return fmt.Errorf("rekey recovery key: write barrier entries: %w", err)
	}
	b.logger.Info("recovery key rekeyed", "recovery_shares", cfg.SecretShares, "recovery_threshold", cfg.SecretThreshold)
	return nil
}

// MigrateToAuto moves an unsealed Shamir store to the auto seal sealType:
// the root key is encrypted under newUnsealKey, whose seal-wrapped form is
// sealedKey, and recoveryKey (the operators' former unseal key) becomes the
// recovery key with configuration recovery. One atomic batch; after it the
// old shares no longer decrypt the root key. No argument is retained.
func (b *Barrier) MigrateToAuto(ctx context.Context, sealType string, newUnsealKey, sealedKey, recoveryKey []byte, recovery SealConfig) error {
	if !IsAutoSeal(sealType) {
		return fmt.Errorf("migrate: %q is not an auto seal type", sealType)
	}
	if len(recoveryKey) != KeySize {
		return fmt.Errorf("migrate: recovery key is %d bytes, want %d", len(recoveryKey), KeySize)
	}
	_, recJSON, err := recoveryConfigJSON(recovery)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return b.replaceRootKey(ctx, "migrate to "+sealType, newUnsealKey, SealConfig{Type: sealType, SecretShares: 1, SecretThreshold: 1}, []storage.Op{
		{Key: SealedKeyPath, Value: sealedKey},
		{Key: RecoveryConfigPath, Value: recJSON},
		{Key: RecoveryKeyPath, Value: recoveryCheck(recoveryKey)},
	})
}

// MigrateToShamir moves an unsealed auto-sealed store back to Shamir: the
// root key is encrypted under newUnsealKey (the former recovery key, whose
// shares the operators hold), cfg becomes the seal configuration, and the
// sealed key and recovery entries are deleted, in one atomic batch.
func (b *Barrier) MigrateToShamir(ctx context.Context, newUnsealKey []byte, cfg SealConfig) error {
	cfg.Type = "shamir"
	return b.replaceRootKey(ctx, "migrate to shamir", newUnsealKey, cfg, []storage.Op{
		{Key: SealedKeyPath, Delete: true},
		{Key: RecoveryConfigPath, Delete: true},
		{Key: RecoveryKeyPath, Delete: true},
	})
}

// Rewrap stores a new wrapped form of the unseal key made by another auto
// seal (auto to auto migration); the root key entry is unchanged.
func (b *Barrier) Rewrap(ctx context.Context, sealType string, sealedKey []byte) error {
	if !IsAutoSeal(sealType) {
		return fmt.Errorf("rewrap: %q is not an auto seal type", sealType)
	}
	cfgJSON, err := json.Marshal(SealConfig{Type: sealType, SecretShares: 1, SecretThreshold: 1, Version: sealConfigVersion})
	if err != nil {
		return err
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()
	if b.Sealed() {
		return fmt.Errorf("rewrap: %w", ErrSealed)
	}
	if err := b.backend.Batch(ctx, []storage.Op{{Key: SealedKeyPath, Value: sealedKey}, {Key: SealConfigPath, Value: cfgJSON}}); err != nil {
		return fmt.Errorf("rewrap: write barrier entries: %w", err)
	}
	b.logger.Info("unseal key rewrapped", "type", sealType)
	return nil
}

// replaceRootKey re-encrypts the held root key under newUnsealKey and
// writes it with cfg and extra in one batch. The barrier must be unsealed.
func (b *Barrier) replaceRootKey(ctx context.Context, op string, newUnsealKey []byte, cfg SealConfig, extra []storage.Op) error {
	if len(newUnsealKey) != KeySize {
		return fmt.Errorf("%s: new unseal key is %d bytes, want %d", op, len(newUnsealKey), KeySize)
	}
	if cfg.Version == 0 {
		cfg.Version = sealConfigVersion
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("%s: encode seal config: %w", op, err)
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()
	b.mu.RLock()
	if b.sealed {
		b.mu.RUnlock()
		return fmt.Errorf("%s: %w", op, ErrSealed)
	}
	entry, err := sealRootKey(newUnsealKey, b.rootKey)
	b.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ops := append([]storage.Op{{Key: RootKeyPath, Value: entry}}, extra...)
	ops = append(ops, storage.Op{Key: SealConfigPath, Value: cfgJSON})
	if err := b.backend.Batch(ctx, ops); err != nil {
		return fmt.Errorf("%s: write barrier entries: %w", op, err)
	}
	b.logger.Info("seal migrated", "type", cfg.Type)
	return nil
}
