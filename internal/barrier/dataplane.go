package barrier

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// reserved reports whether key is one of the barrier's own entries.
func reserved(key string) bool {
	switch key {
	case SealConfigPath, RootKeyPath, KeyringPath, SealedKeyPath, RecoveryConfigPath, RecoveryKeyPath:
		return true
	}
	return false
}

func checkKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("%s: empty key: %w", op, logical.ErrInvalidRequest)
	}
	if reserved(key) {
		return fmt.Errorf("%s %s: %w", op, storage.LogKey(key), ErrReservedPath)
	}
	if err := storage.CheckKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (b *Barrier) checkUnsealed(op string) error {
	if b.Sealed() {
		return fmt.Errorf("%s: %w", op, ErrSealed)
	}
	return nil
}

// Get returns the decrypted value at key, or (nil, nil) when it is absent.
// A value that fails authentication yields an error wrapping ErrIntegrity
// that names the path, and no data. Sealed: ErrSealed. The result belongs to
// the caller.
func (b *Barrier) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("get", key); err != nil {
		return nil, err
	}
	if err := b.checkUnsealed("get"); err != nil {
		return nil, err
	}
	env, err := b.backend.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", storage.LogKey(key), err)
	}
	return b.open(key, env)
}

// open decrypts env read from key under the keyring.
func (b *Barrier) open(key string, env []byte) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return nil, fmt.Errorf("get: %w", ErrSealed)
	}
	pt, err := openEnvelope(b.aeadFor, key, env)
	if err != nil {
		var ie *integrityError
		if errors.As(err, &ie) {
			b.logger.Warn("integrity check failed", "path", key, "reason", ie.reason)
		}
		return nil, err
	}
	return pt, nil
}

// aeadFor returns the AEAD of term, or nil. Callers hold b.mu.
func (b *Barrier) aeadFor(term uint32) cipher.AEAD {
	if t, ok := b.terms[term]; ok {
		return t.aead
	}
	return nil
}

// seal encrypts value for key under the active term.
func (b *Barrier) seal(op, key string, value []byte) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return nil, fmt.Errorf("%s: %w", op, ErrSealed)
	}
	b.encryptions.Add(1)
	return sealEnvelope(b.active.aead, b.active.num, key, value), nil
}

// Put encrypts value under the newest term, bound to key, and stores it. A
// nil value is stored as empty. value is not retained. Sealed: ErrSealed.
func (b *Barrier) Put(ctx context.Context, key string, value []byte) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	env, err := b.seal("put", key, value)
	if err != nil {
		return err
	}
	if err := b.backend.Put(ctx, key, env); err != nil {
		return fmt.Errorf("put %s: %w", storage.LogKey(key), err)
	}
	return nil
}

// Delete removes key. Sealed: ErrSealed.
func (b *Barrier) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	if err := b.checkUnsealed("delete"); err != nil {
		return err
	}
	if err := b.backend.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", storage.LogKey(key), err)
	}
	return nil
}

// List returns the names under prefix with storage.Backend.List semantics,
// leaving out the barrier's own entries. Key names are not encrypted.
// Sealed: ErrSealed.
func (b *Barrier) List(ctx context.Context, prefix string) ([]string, error) {
	if err := b.checkUnsealed("list"); err != nil {
		return nil, err
	}
	names, err := b.backend.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", storage.LogKey(prefix), err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return reserved(prefix + n) }), nil
}

// Batch encrypts and applies ops atomically: a nil Value deletes its key.
// Sealed: ErrSealed; any reserved or empty key rejects the whole batch.
func (b *Barrier) Batch(ctx context.Context, ops []logical.BatchOp) error {
	if err := b.checkUnsealed("batch"); err != nil {
		return err
	}
	for _, op := range ops {
		if err := checkKey("batch", op.Key); err != nil {
			return err
		}
	}
	out := make([]storage.Op, len(ops))
	for i, op := range ops {
		out[i].Key = op.Key
		if op.Value == nil {
			out[i].Delete = true
			continue
		}
		env, err := b.seal("batch", op.Key, op.Value)
		if err != nil {
			return err
		}
		out[i].Value = env
	}
	if len(out) == 0 {
		return nil
	}
	if err := b.backend.Batch(ctx, out); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}

// Encrypt seals value as Put would store it at key, without storing it: a
// value handed to another node (a cluster join challenge) that only a
// holder of this keyring can open with Decrypt at the same key.
func (b *Barrier) Encrypt(key string, value []byte) ([]byte, error) {
	if err := checkKey("encrypt", key); err != nil {
		return nil, err
	}
	return b.seal("encrypt", key, value)
}

// Decrypt opens an envelope made by Encrypt (or stored by Put) at key.
func (b *Barrier) Decrypt(key string, env []byte) ([]byte, error) {
	if err := checkKey("decrypt", key); err != nil {
		return nil, err
	}
	return b.open(key, env)
}
