// Package logicaltest supports tests of code that sits on a logical.Storage:
// InmemStorage, an in-memory storage that behaves as a mount's view of the
// real stack does, and RunStorage, the conformance suite every
// logical.Storage passes (the in-memory one, the barrier and its views). It
// never prints stored values, only keys and lengths.
package logicaltest

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// InmemStorage is a logical.Storage and logical.BatchStorage held in memory,
// for tests. Its zero value is empty and ready to use. It is safe for
// concurrent use and copies values in and out. It keeps the rules of the
// real stack: an empty key fails with logical.ErrInvalidRequest, a key or
// List prefix longer than storage.MaxKeyLength with storage.ErrKeyTooLong,
// an ended context with its error, and a batch with any invalid key
// applies none of its ops.
type InmemStorage struct {
	mu sync.RWMutex
	m  map[string][]byte
}

var (
	_ logical.Storage      = (*InmemStorage)(nil)
	_ logical.BatchStorage = (*InmemStorage)(nil)
)

// checkKey rejects the keys the real stack rejects.
func checkKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("%s: empty key: %w", op, logical.ErrInvalidRequest)
	}
	if err := storage.CheckKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// check validates key for op and reports an ended ctx.
func check(ctx context.Context, op, key string) error {
	if err := checkKey(op, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, storage.LogKey(key), err)
	}
	return nil
}

// Get returns a copy of the value at key, or (nil, nil) if key is absent.
// An empty value reads back as a non-nil empty slice.
func (s *InmemStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return clone(v), nil
}

// Put stores a copy of value at key; a nil value is stored as empty.
func (s *InmemStorage) Put(ctx context.Context, key string, value []byte) error {
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[key] = clone(value)
	return nil
}

// Delete removes key. Deleting an absent key is not an error.
func (s *InmemStorage) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Batch applies ops in order under one lock, so readers see all of them or
// none: a nil Value deletes its key, any other value is copied in. An
// invalid op fails the whole batch before anything is applied; an empty
// batch does nothing and succeeds.
func (s *InmemStorage) Batch(ctx context.Context, ops []logical.BatchOp) error {
	for i, op := range ops {
		if err := checkKey(fmt.Sprintf("batch op %d", i), op.Key); err != nil {
			return err
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	for _, op := range ops {
		if op.Value == nil {
			delete(s.m, op.Key)
		} else {
			s.m[op.Key] = clone(op.Value)
		}
	}
	return nil
}

// List returns the sorted names directly under prefix, with a trailing "/"
// on names that have keys beneath them (storage.ListNames). A key equal to
// prefix is not listed.
func (s *InmemStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := storage.CheckKey(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return storage.ListNames(prefix, maps.Keys(s.m)), nil
}

// clone returns a non-nil copy of b, so an empty value stays distinct from
// an absent key.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
