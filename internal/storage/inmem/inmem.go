// Package inmem is an in-memory storage.Backend for dev mode and tests. Like
// every backend it is untrusted: it holds only ciphertext, and it never logs
// or inspects values. Nothing survives the process.
package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/keyward/keyward/internal/storage"
)

var _ storage.Backend = (*Store)(nil)

// Store is a map guarded by a read-write mutex. It is safe for concurrent
// use; values are copied on the way in and out.
type Store struct {
	mu sync.RWMutex
	m  map[string][]byte
	// dirs indexes the keys for List: for each prefix ending in "/" (and
	// ""), the names directly under it (ListEntry's) and how many keys
	// each stands for, so a List costs what it returns, not the whole
	// store (PKI lists its issuers on every issue beside thousands of
	// certificates).
	dirs map[string]map[string]int
}

// New returns an empty Store.
func New() *Store {
	return &Store{m: make(map[string][]byte), dirs: make(map[string]map[string]int)}
}

// index adds (delta 1) or removes (-1) key's names along its path.
func (s *Store) index(key string, delta int) {
	dir := ""
	for {
		i := strings.IndexByte(key[len(dir):], '/')
		name := key[len(dir):]
		if i >= 0 {
			name = name[:i+1]
		}
		names := s.dirs[dir]
		if names == nil {
			names = make(map[string]int)
			s.dirs[dir] = names
		}
		if names[name] += delta; names[name] <= 0 {
			delete(names, name)
			if len(names) == 0 {
				delete(s.dirs, dir)
			}
		}
		if i < 0 {
			return
		}
		dir += name
	}
}

// Get returns a copy of the value at key, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %q: %w", storage.LogKey(key), err)
	}
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

// Put stores a copy of value at key.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	return s.Batch(ctx, []storage.Op{{Key: key, Value: value}})
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.Batch(ctx, []storage.Op{{Key: key, Delete: true}})
}

// Batch applies ops in order under one lock, so readers see all or none of
// them. An op with an empty or too long key fails the whole batch before
// anything is applied.
func (s *Store) Batch(ctx context.Context, ops []storage.Op) error {
	if err := storage.CheckOps(ops); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		_, had := s.m[op.Key]
		if op.Delete {
			if had {
				delete(s.m, op.Key)
				s.index(op.Key, -1)
			}
		} else {
			s.m[op.Key] = clone(op.Value)
			if !had {
				s.index(op.Key, 1)
			}
		}
	}
	return nil
}

// List returns the sorted names directly under prefix; names with keys
// beneath them end in "/".
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := storage.CheckKey(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), err)
	}
	// The names under prefix are those of its directory (up to its last
	// "/") that start with the rest of it, without that rest.
	dir := prefix[:strings.LastIndexByte(prefix, '/')+1]
	partial := prefix[len(dir):]
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.dirs[dir]))
	for name := range s.dirs[dir] {
		if rest, ok := strings.CutPrefix(name, partial); ok && rest != "" {
			names = append(names, rest)
		}
	}
	slices.Sort(names)
	return names, nil
}

// clone returns a non-nil copy of b, so an empty value stays distinct from
// an absent key.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
