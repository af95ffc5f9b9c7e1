package barrier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/barrier/shamir"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/inmem"
)

var defaultConfig = barrier.SealConfig{SecretShares: 5, SecretThreshold: 3}

// setup returns an initialized, unsealed barrier, its backend and unseal key.
func setup(t testing.TB) (*barrier.Barrier, *inmem.Store, []byte) {
	t.Helper()
	backend := inmem.New()
	b := barrier.New(backend, nil)
	key, err := b.Initialize(t.Context(), defaultConfig)
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	if err := b.Unseal(t.Context(), key); err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	return b, backend, key
}

func mustPut(t testing.TB, s logical.Storage, key string, value []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, value); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t testing.TB, s logical.Storage, key string) []byte {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func rawGet(t testing.TB, backend storage.Backend, key string) []byte {
	t.Helper()
	v, err := backend.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("backend Get(%q): %v", key, err)
	}
	return v
}

func rawPut(t testing.TB, backend storage.Backend, key string, value []byte) {
	t.Helper()
	if err := backend.Put(t.Context(), key, value); err != nil {
		t.Fatalf("backend Put(%q): %v", key, err)
	}
}

// allEntries walks the backend with List and returns every key and value.
func allEntries(t testing.TB, backend storage.Backend) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(prefix string)
	walk = func(prefix string) {
		names, err := backend.List(t.Context(), prefix)
		if err != nil {
			t.Fatalf("backend List(%q): %v", prefix, err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				walk(prefix + n)
				continue
			}
			out[prefix+n] = rawGet(t, backend, prefix+n)
		}
	}
	walk("")
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := t.Context()
	backend := inmem.New()
	b := barrier.New(backend, slog.New(slog.DiscardHandler))

	if init, err := b.Initialized(ctx); err != nil || init {
		t.Fatalf("Initialized on empty store = %v, %v; want false, nil", init, err)
	}
	if _, err := b.SealConfig(ctx); !errors.Is(err, barrier.ErrNotInitialized) {
		t.Errorf("SealConfig before init error = %v, want ErrNotInitialized", err)
	}
	if err := b.Unseal(ctx, make([]byte, 32)); !errors.Is(err, barrier.ErrNotInitialized) {
		t.Errorf("Unseal before init error = %v, want ErrNotInitialized", err)
	}
	key, err := b.Initialize(ctx, defaultConfig)
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	if len(key) != barrier.KeySize {
		t.Fatalf("unseal key is %d bytes, want %d", len(key), barrier.KeySize)
	}
	if !b.Sealed() {
		t.Fatal("barrier unsealed after Initialize, want sealed")
	}
	if init, err := b.Initialized(ctx); err != nil || !init {
		t.Fatalf("Initialized after init = %v, %v; want true, nil", init, err)
	}
	cfg, err := b.SealConfig(ctx)
	if err != nil {
		t.Fatalf("SealConfig: %v", err)
	}
	want := barrier.SealConfig{Type: "shamir", SecretShares: 5, SecretThreshold: 3, Version: 1}
	if *cfg != want {
		t.Errorf("SealConfig = %+v, want %+v", *cfg, want)
	}
	if _, err := b.Initialize(ctx, defaultConfig); !errors.Is(err, barrier.ErrAlreadyInitialized) {
		t.Errorf("second Initialize error = %v, want ErrAlreadyInitialized", err)
	}

	// The caller's path: split, combine a quorum, unseal.
	shares, err := shamir.Split(key, 5, 3)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	combined, err := shamir.Combine([][]byte{shares[4], shares[0], shares[2]})
	if err != nil {
		t.Fatalf("Combine: %v", err)
	}
	if err := b.Unseal(ctx, combined); err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	if b.Sealed() {
		t.Fatal("Sealed() = true after Unseal")
	}
	if err := b.Unseal(ctx, combined); err != nil {
		t.Errorf("second Unseal (idempotent) error = %v", err)
	}
	mustPut(t, b, "secret/a", []byte("hello"))
	b.Seal()
	b.Seal() // no-op

	// A fresh Barrier over the same storage sees the same data.
	b2 := barrier.New(backend, nil)
	if err := b2.Unseal(ctx, key); err != nil {
		t.Fatalf("Unseal of a new barrier: %v", err)
	}
	if got := mustGet(t, b2, "secret/a"); string(got) != "hello" {
		t.Errorf("Get after reopen = %q, want %q", got, "hello")
	}
}

func TestInitializeRejectsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  barrier.SealConfig
	}{
		{"zero shares", barrier.SealConfig{}},
		{"threshold above shares", barrier.SealConfig{SecretShares: 2, SecretThreshold: 3}},
		{"threshold 1 of 5", barrier.SealConfig{SecretShares: 5, SecretThreshold: 1}},
		{"256 shares", barrier.SealConfig{SecretShares: 256, SecretThreshold: 3}},
		{"unknown type", barrier.SealConfig{Type: "pkcs11", SecretShares: 5, SecretThreshold: 3}},
		{"unknown version", barrier.SealConfig{SecretShares: 5, SecretThreshold: 3, Version: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := inmem.New()
			b := barrier.New(backend, nil)
			if _, err := b.Initialize(t.Context(), tt.cfg); err == nil {
				t.Fatalf("Initialize(%+v) succeeded, want error", tt.cfg)
			}
			if len(allEntries(t, backend)) != 0 {
				t.Error("rejected Initialize wrote to storage")
			}
		})
	}
	t.Run("threshold 1 of 1", func(t *testing.T) {
		b := barrier.New(inmem.New(), nil)
		if _, err := b.Initialize(t.Context(), barrier.SealConfig{SecretShares: 1, SecretThreshold: 1}); err != nil {
			t.Errorf("Initialize(1 of 1): %v", err)
		}
	})
}

// TestUnsealKeyAbuse covers the barrier's part of T29.
func TestUnsealKeyAbuse(t *testing.T) {
	b, _, key := setup(t)
	b.Seal()
	_, _, otherKey := setup(t)

	flipped := bytes.Clone(key)
	flipped[7] ^= 0x01
	tests := []struct {
		name string
		key  []byte
		msg  string
	}{
		{"random key", bytes.Repeat([]byte{0x42}, 32), "not valid"},
		{"one bit flipped", flipped, "not valid"},
		{"key of another store", otherKey, "not valid"},
		{"truncated", key[:31], "31 bytes, want 32"},
		{"extended", append(bytes.Clone(key), 0), "33 bytes, want 32"},
		{"empty", nil, "0 bytes, want 32"},
		{"hex encoded", []byte(hex.EncodeToString(key)), "64 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Unseal(t.Context(), tt.key)
			if !errors.Is(err, barrier.ErrBadKey) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Unseal error = %v, want ErrBadKey mentioning %q", err, tt.msg)
			}
			if !b.Sealed() {
				t.Fatal("barrier unsealed with a bad key")
			}
			if err := b.VerifyUnsealKey(t.Context(), tt.key); !errors.Is(err, barrier.ErrBadKey) {
				t.Errorf("VerifyUnsealKey error = %v, want ErrBadKey", err)
			}
			if strings.Contains(err.Error(), hex.EncodeToString(key)) {
				t.Error("error contains the unseal key")
			}
		})
	}
	if err := b.VerifyUnsealKey(t.Context(), key); err != nil {
		t.Errorf("VerifyUnsealKey(right key) sealed = %v", err)
	}
	if err := b.Unseal(t.Context(), key); err != nil {
		t.Fatalf("Unseal(right key): %v", err)
	}
	if err := b.VerifyUnsealKey(t.Context(), key); err != nil {
		t.Errorf("VerifyUnsealKey(right key) unsealed = %v", err)
	}
	if err := b.Unseal(t.Context(), otherKey); !errors.Is(err, barrier.ErrBadKey) {
		t.Errorf("Unseal(wrong key) while unsealed = %v, want ErrBadKey", err)
	}
	if b.Sealed() {
		t.Error("a wrong key sealed an unsealed barrier")
	}
}

func TestDataPlane(t *testing.T) {
	ctx := t.Context()
	b, _, _ := setup(t)

	if v, err := b.Get(ctx, "missing"); v != nil || err != nil {
		t.Errorf("Get(missing) = %q, %v; want nil, nil", v, err)
	}
	mustPut(t, b, "a/b/c", []byte("v1"))
	mustPut(t, b, "a/d", []byte("v2"))
	mustPut(t, b, "empty", nil)
	if got := mustGet(t, b, "a/b/c"); string(got) != "v1" {
		t.Errorf("Get(a/b/c) = %q, want v1", got)
	}
	if got := mustGet(t, b, "empty"); got == nil || len(got) != 0 {
		t.Errorf("Get(empty) = %#v, want non-nil empty slice", got)
	}
	names, err := b.List(ctx, "a/")
	if err != nil || strings.Join(names, ",") != "b/,d" {
		t.Errorf("List(a/) = %q, %v; want [b/ d]", names, err)
	}
	if err := b.Delete(ctx, "a/d"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if v := mustGet(t, b, "a/d"); v != nil {
		t.Errorf("Get after Delete = %q, want nil", v)
	}

	err = b.Batch(ctx, []logical.BatchOp{
		{Key: "x/1", Value: []byte("one")},
		{Key: "x/2", Value: []byte("two")},
		{Key: "a/b/c"}, // delete
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if got := mustGet(t, b, "x/2"); string(got) != "two" {
		t.Errorf("Get(x/2) after Batch = %q, want two", got)
	}
	if v := mustGet(t, b, "a/b/c"); v != nil {
		t.Errorf("Get(a/b/c) after batch delete = %q, want nil", v)
	}
	if err := b.Batch(ctx, nil); err != nil {
		t.Errorf("empty Batch: %v", err)
	}
}

func TestReservedPaths(t *testing.T) {
	ctx := t.Context()
	b, backend, _ := setup(t)
	mustPut(t, b, "core/mounts", []byte("m"))
	for _, p := range []string{barrier.SealConfigPath, barrier.RootKeyPath, barrier.KeyringPath} {
		t.Run(p, func(t *testing.T) {
			before := rawGet(t, backend, p)
			if _, err := b.Get(ctx, p); !errors.Is(err, barrier.ErrReservedPath) {
				t.Errorf("Get(%s) error = %v, want ErrReservedPath", p, err)
			}
			if err := b.Put(ctx, p, []byte("x")); !errors.Is(err, barrier.ErrReservedPath) {
				t.Errorf("Put(%s) error = %v, want ErrReservedPath", p, err)
			}
			if err := b.Delete(ctx, p); !errors.Is(err, barrier.ErrReservedPath) {
				t.Errorf("Delete(%s) error = %v, want ErrReservedPath", p, err)
			}
			err := b.Batch(ctx, []logical.BatchOp{{Key: "ok", Value: []byte("1")}, {Key: p, Value: []byte("x")}})
			if !errors.Is(err, barrier.ErrReservedPath) {
				t.Errorf("Batch(%s) error = %v, want ErrReservedPath", p, err)
			}
			if !bytes.Equal(rawGet(t, backend, p), before) {
				t.Errorf("%s changed through the data plane", p)
			}
		})
	}
	if v := mustGet(t, b, "ok"); v != nil {
		t.Error("a rejected batch was partly applied")
	}
	names, err := b.List(ctx, "core/")
	if err != nil || strings.Join(names, ",") != "mounts" {
		t.Errorf("List(core/) = %q, %v; want [mounts]", names, err)
	}
	if err := b.Put(ctx, "", []byte("x")); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("Put(\"\") error = %v, want ErrInvalidRequest", err)
	}
}

// TestSealedRefusesEverything is T28 at the barrier: after Seal every data
// plane call fails with ErrSealed and the key buffers are zeroed.
func TestSealedRefusesEverything(t *testing.T) {
	ctx := t.Context()
	b, _, _ := setup(t)
	mustPut(t, b, "secret/a", []byte("v"))
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	keys := b.KeyMaterialForTest()
	if len(keys) != 3 {
		t.Fatalf("got %d key buffers, want root key + 2 terms", len(keys))
	}
	for i, k := range keys {
		if len(k) != barrier.KeySize || bytes.Equal(k, make([]byte, barrier.KeySize)) {
			t.Fatalf("key buffer %d is %x before Seal, want 32 non-zero bytes", i, k)
		}
	}
	b.Seal()
	for i, k := range keys {
		if !bytes.Equal(k, make([]byte, barrier.KeySize)) {
			t.Errorf("key buffer %d not zeroed after Seal", i)
		}
	}
	if len(b.KeyMaterialForTest()[0]) != 0 || len(b.KeyMaterialForTest()) != 1 {
		t.Error("sealed barrier still references key material")
	}

	calls := map[string]func() error{
		"Get":         func() error { _, err := b.Get(ctx, "secret/a"); return err },
		"Put":         func() error { return b.Put(ctx, "secret/a", []byte("w")) },
		"Delete":      func() error { return b.Delete(ctx, "secret/a") },
		"List":        func() error { _, err := b.List(ctx, ""); return err },
		"Batch":       func() error { return b.Batch(ctx, []logical.BatchOp{{Key: "k", Value: []byte("v")}}) },
		"Empty Batch": func() error { return b.Batch(ctx, nil) },
		"Rotate":      func() error { _, err := b.Rotate(ctx); return err },
		"Rekey":       func() error { return b.RekeyUnsealKey(ctx, make([]byte, 32), defaultConfig) },
		"View Get": func() error {
			_, err := barrier.NewView(b, "logical/x/").Get(ctx, "k")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, barrier.ErrSealed) {
				t.Errorf("%s while sealed error = %v, want ErrSealed", name, err)
			}
		})
	}
	if term, at, n := b.KeyStatus(); term != 0 || !at.IsZero() || n != 0 {
		t.Errorf("KeyStatus while sealed = %d, %v, %d; want zero values", term, at, n)
	}
}

// TestTamper is T31: every kind of damage to a stored value yields
// ErrIntegrity naming the path, and never data.
func TestTamper(t *testing.T) {
	ctx := t.Context()
	b, backend, _ := setup(t)
	const path = "core/mounts"
	mustPut(t, b, path, []byte("mount table plaintext"))
	mustPut(t, b, "other", []byte("other plaintext"))
	orig := rawGet(t, backend, path)
	other := rawGet(t, backend, "other")

	withTerm := func(term uint32) []byte {
		v := bytes.Clone(orig)
		binary.BigEndian.PutUint32(v[1:5], term)
		return v
	}
	tests := map[string][]byte{
		"empty":              {},
		"version only":       orig[:1],
		"header only":        orig[:17],
		"truncated by one":   orig[:len(orig)-1],
		"truncated to tag":   orig[:33],
		"extended by one":    append(bytes.Clone(orig), 0),
		"wrong version":      append([]byte{2}, orig[1:]...),
		"version zero":       append([]byte{0}, orig[1:]...),
		"unknown term":       withTerm(99),
		"term zero":          withTerm(0),
		"value of other key": other,
	}
	// One flipped bit at every byte position, bit chosen by position.
	for i := range orig {
		v := bytes.Clone(orig)
		v[i] ^= 1 << (i % 8)
		tests[fmt.Sprintf("bit flip at byte %d", i)] = v
	}
	for name, stored := range tests {
		t.Run(name, func(t *testing.T) {
			rawPut(t, backend, path, stored)
			got, err := b.Get(ctx, path)
			if !errors.Is(err, barrier.ErrIntegrity) {
				t.Fatalf("Get after tamper = %q, %v; want ErrIntegrity", got, err)
			}
			if got != nil {
				t.Errorf("Get after tamper returned data %q", got)
			}
			if !strings.HasPrefix(err.Error(), "decrypt "+path+": ") {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
	t.Run("message", func(t *testing.T) {
		v := bytes.Clone(orig)
		v[len(v)-1] ^= 0x80
		rawPut(t, backend, path, v)
		_, err := b.Get(ctx, path)
		if err == nil || err.Error() != "decrypt core/mounts: message authentication failed" {
			t.Errorf("error = %v, want %q", err, "decrypt core/mounts: message authentication failed")
		}
	})
	t.Run("swap two keys", func(t *testing.T) {
		rawPut(t, backend, path, other)
		rawPut(t, backend, "other", orig)
		for _, k := range []string{path, "other"} {
			if got, err := b.Get(ctx, k); !errors.Is(err, barrier.ErrIntegrity) || got != nil {
				t.Errorf("Get(%s) after swap = %q, %v; want ErrIntegrity", k, got, err)
			}
		}
	})
	t.Run("untouched still opens", func(t *testing.T) {
		rawPut(t, backend, path, orig)
		if got := mustGet(t, b, path); string(got) != "mount table plaintext" {
			t.Errorf("Get = %q", got)
		}
	})
}

// TestCorruptStore is T34 at the barrier: damage to the barrier's own entries
// is reported as corruption, never as "not initialized" or a wrong key.
func TestCorruptStore(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name   string
		damage func(t *testing.T, backend *inmem.Store)
	}{
		{"keyring deleted", func(t *testing.T, s *inmem.Store) { s.Delete(ctx, barrier.KeyringPath) }},
		{"root key deleted", func(t *testing.T, s *inmem.Store) { s.Delete(ctx, barrier.RootKeyPath) }},
		{"keyring bit flipped", func(t *testing.T, s *inmem.Store) {
			v := rawGet(t, s, barrier.KeyringPath)
			v[40] ^= 4
			rawPut(t, s, barrier.KeyringPath, v)
		}},
		{"keyring truncated", func(t *testing.T, s *inmem.Store) {
			rawPut(t, s, barrier.KeyringPath, rawGet(t, s, barrier.KeyringPath)[:20])
		}},
		{"root key envelope bit flipped", func(t *testing.T, s *inmem.Store) {
			v := rawGet(t, s, barrier.RootKeyPath)
			v[len(v)-3] ^= 1
			rawPut(t, s, barrier.RootKeyPath, v)
		}},
		{"root key truncated", func(t *testing.T, s *inmem.Store) {
			rawPut(t, s, barrier.RootKeyPath, rawGet(t, s, barrier.RootKeyPath)[:30])
		}},
		{"keyring replaced by another store's", func(t *testing.T, s *inmem.Store) {
			_, other, _ := setup(t)
			rawPut(t, s, barrier.KeyringPath, rawGet(t, other, barrier.KeyringPath))
		}},
		{"keyring replaced by a data value", func(t *testing.T, s *inmem.Store) {
			rawPut(t, s, barrier.KeyringPath, rawGet(t, s, "secret/a"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, backend, key := setup(t)
			mustPut(t, b, "secret/a", []byte("v"))
			b.Seal()
			tt.damage(t, backend)
			err := barrier.New(backend, nil).Unseal(ctx, key)
			if !errors.Is(err, barrier.ErrCorrupt) || errors.Is(err, barrier.ErrBadKey) {
				t.Errorf("Unseal after damage error = %v, want ErrCorrupt only", err)
			}
			if init, err := b.Initialized(ctx); !init || err != nil {
				t.Errorf("Initialized = %v, %v; want true", init, err)
			}
		})
	}

	t.Run("seal config deleted with data present", func(t *testing.T) {
		b, backend, key := setup(t)
		mustPut(t, b, "secret/a", []byte("v"))
		b.Seal()
		if err := backend.Delete(ctx, barrier.SealConfigPath); err != nil {
			t.Fatal(err)
		}
		init, err := b.Initialized(ctx)
		if !errors.Is(err, barrier.ErrCorrupt) || init {
			t.Errorf("Initialized = %v, %v; want false, ErrCorrupt", init, err)
		}
		if err == nil || !strings.Contains(err.Error(), "refusing to treat it as uninitialized") {
			t.Errorf("error %q lacks the explanation", err)
		}
		if _, err := b.Initialize(ctx, defaultConfig); !errors.Is(err, barrier.ErrAlreadyInitialized) {
			t.Errorf("Initialize over data error = %v, want ErrAlreadyInitialized", err)
		}
		if err := b.Unseal(ctx, key); !errors.Is(err, barrier.ErrCorrupt) {
			t.Errorf("Unseal error = %v, want ErrCorrupt", err)
		}
		if _, err := b.SealConfig(ctx); !errors.Is(err, barrier.ErrCorrupt) {
			t.Errorf("SealConfig error = %v, want ErrCorrupt", err)
		}
	})
	t.Run("seal config garbled", func(t *testing.T) {
		b, backend, _ := setup(t)
		rawPut(t, backend, barrier.SealConfigPath, []byte("{not json"))
		if _, err := b.SealConfig(ctx); !errors.Is(err, barrier.ErrCorrupt) {
			t.Errorf("SealConfig error = %v, want ErrCorrupt", err)
		}
	})
	t.Run("initialize over foreign data", func(t *testing.T) {
		backend := inmem.New()
		rawPut(t, backend, "some/key", []byte("x"))
		b := barrier.New(backend, nil)
		if _, err := b.Initialize(ctx, defaultConfig); !errors.Is(err, barrier.ErrAlreadyInitialized) {
			t.Errorf("Initialize error = %v, want ErrAlreadyInitialized", err)
		}
		if got := len(allEntries(t, backend)); got != 1 {
			t.Errorf("backend holds %d entries after refused Initialize, want 1", got)
		}
	})
}

// TestCanary plants random values and checks no plaintext, unseal key, root
// key or keyring term ever appears in the bytes the backend holds, raw or
// hex-encoded.
func TestCanary(t *testing.T) {
	b, backend, unsealKey := setup(t)
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	var canaries [][]byte
	for i := range 20 {
		v := make([]byte, 24)
		rand.Read(v)
		canaries = append(canaries, v)
		mustPut(t, b, fmt.Sprintf("secret/%d", i), v)
	}
	for _, k := range b.KeyMaterialForTest() {
		canaries = append(canaries, bytes.Clone(k))
	}
	canaries = append(canaries, unsealKey)

	for key, value := range allEntries(t, backend) {
		for i, c := range canaries {
			for _, form := range [][]byte{c, []byte(hex.EncodeToString(c))} {
				if bytes.Contains(value, form) {
					t.Errorf("canary %d found in stored value %s", i, key)
				}
			}
			if strings.Contains(key, string(c)) {
				t.Errorf("canary %d found in key %s", i, key)
			}
		}
	}
}

func TestRotate(t *testing.T) {
	ctx := t.Context()
	b, backend, key := setup(t)
	termOf := func(path string) uint32 {
		return binary.BigEndian.Uint32(rawGet(t, backend, path)[1:5])
	}
	term, installed, _ := b.KeyStatus()
	if term != 1 || installed.IsZero() {
		t.Fatalf("KeyStatus after init = %d, %v; want term 1", term, installed)
	}
	mustPut(t, b, "old", []byte("under term 1"))
	if _, _, n := b.KeyStatus(); n != 1 {
		t.Errorf("encryptions = %d, want 1", n)
	}
	newTerm, err := b.Rotate(ctx)
	if err != nil || newTerm != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", newTerm, err)
	}
	if term, _, n := b.KeyStatus(); term != 2 || n != 0 {
		t.Errorf("KeyStatus after rotate = term %d, %d encryptions; want 2, 0", term, n)
	}
	mustPut(t, b, "new", []byte("under term 2"))
	if got, want := termOf("old"), uint32(1); got != want {
		t.Errorf("term of old = %d, want %d", got, want)
	}
	if got, want := termOf("new"), uint32(2); got != want {
		t.Errorf("term of new = %d, want %d", got, want)
	}
	if got := mustGet(t, b, "old"); string(got) != "under term 1" {
		t.Errorf("Get(old) = %q", got)
	}

	// The rotated keyring was persisted: a fresh barrier reads both.
	b.Seal()
	b2 := barrier.New(backend, nil)
	if err := b2.Unseal(ctx, key); err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	if term, _, _ := b2.KeyStatus(); term != 2 {
		t.Errorf("term after reopen = %d, want 2", term)
	}
	for k, want := range map[string]string{"old": "under term 1", "new": "under term 2"} {
		if got := mustGet(t, b2, k); string(got) != want {
			t.Errorf("Get(%s) after reopen = %q, want %q", k, got, want)
		}
	}
	if term, err := b2.Rotate(ctx); err != nil || term != 3 {
		t.Errorf("Rotate after reopen = %d, %v; want 3", term, err)
	}
}

func TestRekeyUnsealKey(t *testing.T) {
	ctx := t.Context()
	b, backend, oldKey := setup(t)
	mustPut(t, b, "k", []byte("v"))
	newKey := make([]byte, 32)
	rand.Read(newKey)
	if err := b.RekeyUnsealKey(ctx, newKey[:5], defaultConfig); err == nil {
		t.Error("RekeyUnsealKey with a short key succeeded")
	}
	if err := b.RekeyUnsealKey(ctx, newKey, barrier.SealConfig{SecretShares: 3, SecretThreshold: 2}); err != nil {
		t.Fatalf("RekeyUnsealKey: %v", err)
	}
	cfg, err := b.SealConfig(ctx)
	if err != nil || cfg.SecretShares != 3 || cfg.SecretThreshold != 2 {
		t.Errorf("SealConfig after rekey = %+v, %v", cfg, err)
	}
	b.Seal()
	b2 := barrier.New(backend, nil)
	if err := b2.Unseal(ctx, oldKey); !errors.Is(err, barrier.ErrBadKey) {
		t.Errorf("Unseal(old key) error = %v, want ErrBadKey", err)
	}
	if err := b2.Unseal(ctx, newKey); err != nil {
		t.Fatalf("Unseal(new key): %v", err)
	}
	if got := mustGet(t, b2, "k"); string(got) != "v" {
		t.Errorf("Get after rekey = %q", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := t.Context()
	b, _, key := setup(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("w%d/%d", w, i)
				want := []byte(k)
				if err := b.Put(ctx, k, want); err != nil {
					if errors.Is(err, barrier.ErrSealed) {
						continue
					}
					t.Errorf("Put(%s): %v", k, err)
					return
				}
				got, err := b.Get(ctx, k)
				if err != nil && !errors.Is(err, barrier.ErrSealed) {
					t.Errorf("Get(%s): %v", k, err)
					return
				}
				if err == nil && !bytes.Equal(got, want) {
					t.Errorf("Get(%s) = %q, want %q", k, got, want)
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := b.Rotate(ctx); err != nil && !errors.Is(err, barrier.ErrSealed) {
				t.Errorf("Rotate: %v", err)
			}
		}
	})
	wg.Go(func() {
		for range 5 {
			b.Seal()
			if err := b.Unseal(ctx, key); err != nil {
				t.Errorf("Unseal: %v", err)
			}
		}
	})
	wg.Wait()
	if b.Sealed() {
		t.Fatal("barrier sealed at the end")
	}
	// Everything acknowledged is readable with the persisted keyring.
	for w := range 8 {
		for i := range 50 {
			k := fmt.Sprintf("w%d/%d", w, i)
			if got, err := b.Get(ctx, k); err != nil || (got != nil && string(got) != k) {
				t.Errorf("final Get(%s) = %q, %v", k, got, err)
			}
		}
	}
}

// FuzzOpen feeds arbitrary bytes to the envelope decoder through Get: it
// never panics, and decrypts only the untouched envelope.
func FuzzOpen(f *testing.F) {
	b, backend, _ := setup(f)
	ctx := context.Background()
	const path = "fuzz/target"
	plaintext := []byte("fuzz plaintext")
	if err := b.Put(ctx, path, plaintext); err != nil {
		f.Fatal(err)
	}
	orig, err := backend.Get(ctx, path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(orig[:len(orig)-1])
	f.Add(append(bytes.Clone(orig), 1))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Add(make([]byte, 33))
	flipped := bytes.Clone(orig)
	flipped[20] ^= 0x10
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := backend.Put(ctx, path, data); err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(ctx, path)
		if bytes.Equal(data, orig) {
			if err != nil || !bytes.Equal(got, plaintext) {
				t.Fatalf("untouched envelope: Get = %q, %v", got, err)
			}
			return
		}
		if err == nil || got != nil {
			t.Fatalf("modified envelope %x opened: %q, %v", data, got, err)
		}
		if !errors.Is(err, barrier.ErrIntegrity) {
			t.Fatalf("error %v does not wrap ErrIntegrity", err)
		}
	})
}

func BenchmarkGet(b *testing.B) {
	for _, size := range []int{100, 1024, 64 * 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			bar, _, _ := setup(b)
			value := make([]byte, size)
			rand.Read(value)
			mustPut(b, bar, "bench/key", value)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := bar.Get(b.Context(), "bench/key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPut(b *testing.B) {
	bar, _, _ := setup(b)
	value := make([]byte, 1024)
	b.SetBytes(1024)
	for b.Loop() {
		if err := bar.Put(b.Context(), "bench/key", value); err != nil {
			b.Fatal(err)
		}
	}
}

// Two barriers over one store stand for two nodes of a cluster: after the
// first rotates, the second cannot open the new term's values until it
// reloads the keyring, and then opens old and new alike.
func TestReloadPicksUpAnotherNodesRotation(t *testing.T) {
	ctx := t.Context()
	backend := inmem.New()
	a := barrier.New(backend, nil)
	key, err := a.Initialize(ctx, barrier.SealConfig{Type: "shamir", SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	b := barrier.New(backend, nil)
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "old", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "new", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "new"); err == nil {
		t.Fatal("a value under a term the node has not loaded opened")
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatalf("Reload = %v", err)
	}
	for k, want := range map[string]string{"old": "1", "new": "2"} {
		if v, err := b.Get(ctx, k); err != nil || string(v) != want {
			t.Fatalf("Get(%s) after Reload = %q, %v", k, v, err)
		}
	}
	// Its writes now use the newest term, which the other node can open.
	if err := b.Put(ctx, "from-b", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Get(ctx, "from-b"); err != nil || string(v) != "3" {
		t.Fatalf("a value written after Reload = %q, %v on the other node", v, err)
	}
	b.Seal()
	if err := b.Reload(ctx); !errors.Is(err, barrier.ErrSealed) {
		t.Fatalf("Reload while sealed = %v", err)
	}
}
