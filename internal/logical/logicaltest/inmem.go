// Package logicaltest supports tests of code that sits on a logical.Storage:
// InmemStorage, an in-memory logical.Storage over the storage/inmem backend,
// and RunStorage, the conformance suite every logical.Storage passes (the
// in-memory one and the barrier's views). It never prints stored values,
// only keys and lengths.
package logicaltest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// InmemStorage is a logical.Storage and logical.BatchStorage held in memory,
// for tests. Its zero value is empty and ready to use. It keeps its values
// in the storage/inmem backend, so it follows the rules of the real stack
// without a barrier: it is safe for concurrent use, copies values in and
// out, lists as storage.Backend.List does, rejects an empty key with
// logical.ErrInvalidRequest and a key or List prefix longer than
// storage.MaxKeyLength with storage.ErrKeyTooLong, fails on an ended
// context, and applies a batch whole or not at all.
type InmemStorage struct {
	once sync.Once
	st   *inmem.Store
}

var (
	_ logical.Storage      = (*InmemStorage)(nil)
	_ logical.BatchStorage = (*InmemStorage)(nil)
)

// store returns the backend, creating it on first use.
func (s *InmemStorage) store() *inmem.Store {
	s.once.Do(func() { s.st = inmem.New() })
	return s.st
}

// checkKey rejects the empty key as a view of the real stack does; the
// backend checks the length.
func checkKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("%s: empty key: %w", op, logical.ErrInvalidRequest)
	}
	return nil
}

// Get returns a copy of the value at key, or (nil, nil) if key is absent.
// An empty value reads back as a non-nil empty slice.
func (s *InmemStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("get", key); err != nil {
		return nil, err
	}
	v, err := s.store().Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Put stores a copy of value at key; a nil value is stored as empty.
func (s *InmemStorage) Put(ctx context.Context, key string, value []byte) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	return s.store().Put(ctx, key, value)
}

// Delete removes key. Deleting an absent key is not an error.
func (s *InmemStorage) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	return s.store().Delete(ctx, key)
}

// Batch applies ops in order, atomically for readers too: a nil Value
// deletes its key, any other value is copied in. An invalid op fails the
// whole batch before anything is applied; an empty batch does nothing and
// succeeds.
func (s *InmemStorage) Batch(ctx context.Context, ops []logical.BatchOp) error {
	if len(ops) == 0 {
		return nil
	}
	out := make([]storage.Op, len(ops))
	for i, op := range ops {
		if err := checkKey(fmt.Sprintf("batch op %d", i), op.Key); err != nil {
			return err
		}
		out[i] = storage.Op{Key: op.Key, Value: op.Value, Delete: op.Value == nil}
	}
	return s.store().Batch(ctx, out)
}

// List returns the sorted names directly under prefix, with a trailing "/"
// on names that have keys beneath them. A key equal to prefix is not
// listed.
func (s *InmemStorage) List(ctx context.Context, prefix string) ([]string, error) {
	return s.store().List(ctx, prefix)
}
