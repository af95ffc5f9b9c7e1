package barrier_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// The barrier's side of an auto seal is a callback: these tests "wrap" by
// copying, which is enough to check what is stored and when.
func keepCopy(dst *[]byte) func([]byte) ([]byte, error) {
	return func(k []byte) ([]byte, error) {
		*dst = bytes.Clone(k)
		return []byte(`{"wrapped":true}`), nil
	}
}

func TestInitializeAuto(t *testing.T) {
	backend := inmem.New()
	b := barrier.New(backend, nil)
	var wrapped []byte
	key, rec, err := b.InitializeAuto(t.Context(), "transit", barrier.SealConfig{SecretShares: 3, SecretThreshold: 2}, keepCopy(&wrapped))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, wrapped) || bytes.Equal(key, rec) || len(rec) != barrier.KeySize {
		t.Fatal("the wrapped key is not the unseal key, or the recovery key is")
	}
	cfg, err := b.SealConfig(t.Context())
	if err != nil || cfg.Type != "transit" || cfg.SecretShares != 1 {
		t.Fatalf("SealConfig = %+v, %v", cfg, err)
	}
	rc, err := b.RecoveryConfig(t.Context())
	if err != nil || rc.SecretShares != 3 || rc.SecretThreshold != 2 || rc.Type != "shamir" {
		t.Fatalf("RecoveryConfig = %+v, %v", rc, err)
	}
	if got, err := b.SealedKey(t.Context()); err != nil || string(got) != `{"wrapped":true}` {
		t.Fatalf("SealedKey = %q, %v", got, err)
	}
	if err := b.VerifyRecoveryKey(t.Context(), rec); err != nil {
		t.Fatalf("VerifyRecoveryKey(recovery key) = %v", err)
	}
	if err := b.VerifyRecoveryKey(t.Context(), key); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("VerifyRecoveryKey(unseal key) = %v, want ErrBadKey", err)
	}
	// The recovery key decrypts nothing.
	if err := b.Unseal(t.Context(), rec); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("Unseal(recovery key) = %v, want ErrBadKey", err)
	}
	if err := b.Unseal(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{barrier.SealedKeyPath, barrier.RecoveryConfigPath, barrier.RecoveryKeyPath} {
		if _, err := b.Get(t.Context(), p); !errors.Is(err, barrier.ErrReservedPath) {
			t.Errorf("data-plane Get(%s) = %v, want ErrReservedPath", p, err)
		}
		if err := b.Put(t.Context(), p, []byte("x")); !errors.Is(err, barrier.ErrReservedPath) {
			t.Errorf("data-plane Put(%s) = %v, want ErrReservedPath", p, err)
		}
	}
	names, err := b.List(t.Context(), "core/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if slices.Contains([]string{"sealed-key", "recovery-config", "recovery-key"}, n) {
			t.Errorf("List(core/) shows %s", n)
		}
	}
}

func TestInitializeAutoWritesNothingWhenWrapFails(t *testing.T) {
	backend := inmem.New()
	b := barrier.New(backend, nil)
	_, _, err := b.InitializeAuto(t.Context(), "pkcs11", barrier.SealConfig{SecretShares: 1, SecretThreshold: 1},
		func([]byte) ([]byte, error) { return nil, errors.New("hsm unreachable") })
	if err == nil {
		t.Fatal("InitializeAuto succeeded without its seal")
	}
	if names, _ := backend.List(t.Context(), ""); len(names) != 0 {
		t.Fatalf("a failed init left %v", names)
	}
}

func TestMigrateShamirToAutoAndBack(t *testing.T) {
	b, backend, oldKey := setup(t)
	mustPut(t, b, "app/secret", []byte("survives"))

	newKey := bytes.Repeat([]byte{7}, barrier.KeySize)
	if err := b.MigrateToAuto(t.Context(), "transit", newKey, []byte(`{"w":1}`), oldKey, barrier.SealConfig{SecretShares: 5, SecretThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if err := b.Unseal(t.Context(), oldKey); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("the old Shamir key still unseals after migration: %v", err)
	}
	if err := b.VerifyRecoveryKey(t.Context(), oldKey); err != nil {
		t.Fatalf("the old key is not the recovery key: %v", err)
	}
	if err := b.Unseal(t.Context(), newKey); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, "app/secret"); string(got) != "survives" {
		t.Fatalf("after migration to transit: %q", got)
	}

	if err := b.MigrateToShamir(t.Context(), oldKey, barrier.SealConfig{SecretShares: 5, SecretThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	for _, p := range []string{barrier.SealedKeyPath, barrier.RecoveryConfigPath, barrier.RecoveryKeyPath} {
		if _, err := backend.Get(t.Context(), p); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s left after migrating to shamir: %v", p, err)
		}
	}
	if cfg, err := b.SealConfig(t.Context()); err != nil || cfg.Type != "shamir" || cfg.SecretShares != 5 {
		t.Fatalf("SealConfig = %+v, %v", cfg, err)
	}
	if err := b.Unseal(t.Context(), newKey); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("the auto seal's key still unseals: %v", err)
	}
	if err := b.Unseal(t.Context(), oldKey); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, "app/secret"); string(got) != "survives" {
		t.Fatalf("after migration back to shamir: %q", got)
	}
}

func TestAutoSealEntriesNeedUnsealedBarrier(t *testing.T) {
	b, _, key := setup(t)
	b.Seal()
	if err := b.MigrateToAuto(t.Context(), "transit", key, []byte("x"), key, barrier.SealConfig{SecretShares: 1, SecretThreshold: 1}); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("MigrateToAuto while sealed = %v", err)
	}
	if err := b.RekeyRecoveryKey(t.Context(), key, barrier.SealConfig{SecretShares: 1, SecretThreshold: 1}); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("RekeyRecoveryKey while sealed = %v", err)
	}
	if err := b.Rewrap(t.Context(), "pkcs11", []byte("x")); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Rewrap while sealed = %v", err)
	}
	if _, err := b.Initialize(t.Context(), barrier.SealConfig{Type: "transit", SecretShares: 1, SecretThreshold: 1}); err == nil {
		t.Error("Initialize accepted an auto seal type")
	}
}
