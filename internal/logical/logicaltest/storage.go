package logicaltest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

// RunStorage runs the logical.Storage conformance suite: the semantics a
// backend sees through its mount's view of the real stack (barrier over a
// storage.Backend). Get returns (nil, nil) for an absent key and a non-nil
// slice, empty or not, for a present one; values are copied in and out;
// Delete of an absent key succeeds; List has storage.Backend.List semantics
// for a prefix that is "" or ends in "/"; an empty key fails with
// logical.ErrInvalidRequest and a key longer than storage.MaxKeyLength
// with storage.ErrKeyTooLong, writing nothing; an ended context fails
// every operation. When the storage implements logical.BatchStorage its
// batches apply in order, atomically, also for concurrent readers; the
// batch subtests are skipped for one that does not.
//
// The cases are storagetest's, run on the storage through an adapter that
// maps (nil, nil) from Get to storage.ErrNotFound (and refuses an
// ErrNotFound the storage returns itself) and storage.Op to
// logical.BatchOp, with the options a view needs: ErrInvalidRequest for
// the empty key, the length limit checked from above (a view adds its
// prefix), and no key that starts with "/" or has a ".." segment.
//
// newStorage returns a fresh, empty storage for each subtest and registers
// its own cleanup on t. The suite uses no key under "core/", which the
// barrier reserves.
func RunStorage(t *testing.T, newStorage func(t testing.TB) logical.Storage) {
	t.Helper()
	opts := storagetest.Options{
		EmptyKeyErr:    logical.ErrInvalidRequest,
		PrefixedKeys:   true,
		NoEscapingKeys: true,
	}
	storagetest.RunStore(t, opts, func(t testing.TB) storagetest.Store {
		s := newStorage(t)
		if bs, ok := s.(logical.BatchStorage); ok {
			return withBatch{asStore{s}, bs}
		}
		return asStore{s}
	})
}

// asStore presents a logical.Storage as a storagetest.Store.
type asStore struct{ s logical.Storage }

// Get reports (nil, nil) as storage.ErrNotFound. An error wrapping
// storage.ErrNotFound is the storage's mistake, so it comes back as an
// error that does not wrap it and fails the case.
func (a asStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := a.s.Get(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("get %q: %v: a logical.Storage reports an absent key as (nil, nil)", storage.LogKey(key), err)
	case err != nil:
		return nil, err
	case v == nil:
		return nil, storage.ErrNotFound
	}
	return v, nil
}

func (a asStore) Put(ctx context.Context, key string, value []byte) error {
	return a.s.Put(ctx, key, value)
}

func (a asStore) Delete(ctx context.Context, key string) error {
	return a.s.Delete(ctx, key)
}

func (a asStore) List(ctx context.Context, prefix string) ([]string, error) {
	return a.s.List(ctx, prefix)
}

// withBatch is an asStore whose storage is a logical.BatchStorage.
type withBatch struct {
	asStore
	b logical.BatchStorage
}

// Batch turns a delete into a nil Value and a put of nil into a put of an
// empty value, so each op means what it does to a storage.Backend. Values
// are passed on, not copied, so the suite sees whether the storage copies.
func (w withBatch) Batch(ctx context.Context, ops []storage.Op) error {
	out := make([]logical.BatchOp, len(ops))
	for i, op := range ops {
		v := op.Value
		switch {
		case op.Delete:
			v = nil
		case v == nil:
			v = []byte{}
		}
		out[i] = logical.BatchOp{Key: op.Key, Value: v}
	}
	return w.b.Batch(ctx, out)
}
