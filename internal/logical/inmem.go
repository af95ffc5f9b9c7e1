package logical

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// InmemStorage is a Storage held in memory, for tests and dev mode. It is
// safe for concurrent use and copies values in and out.
type InmemStorage struct {
	mu sync.RWMutex
	m  map[string][]byte
}

var (
	_ Storage      = (*InmemStorage)(nil)
	_ BatchStorage = (*InmemStorage)(nil)
)

// Get returns the value at key, or nil if absent.
func (s *InmemStorage) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

// Put stores a copy of value at key.
func (s *InmemStorage) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = append([]byte{}, value...)
	return nil
}

// Delete removes key.
func (s *InmemStorage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Batch applies ops atomically.
func (s *InmemStorage) Batch(_ context.Context, ops []BatchOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	for _, op := range ops {
		if op.Value == nil {
			delete(s.m, op.Key)
		} else {
			s.m[op.Key] = append([]byte{}, op.Value...)
		}
	}
	return nil
}

// List returns the names directly under prefix, directories with a trailing "/".
func (s *InmemStorage) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	for k := range s.m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
