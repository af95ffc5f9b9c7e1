// Package faulty wraps a storage.Backend and injects write failures (ENOSPC,
// EIO, ...) for tests of full or failing disks. A failed write never reaches
// the wrapped backend, so nothing is partially applied, and reads always pass
// through. Like every backend it never logs or inspects values.
package faulty

import (
	"context"
	"fmt"
	"sync"

	"github.com/keyward/keyward/internal/storage"
)

var _ storage.Backend = (*Backend)(nil)

// Backend forwards to an inner backend until a fault is configured. It is
// safe for concurrent use, including changing faults while writes run.
type Backend struct {
	inner storage.Backend

	mu     sync.Mutex
	err    error // fault returned by failing writes; nil means healthy
	budget int64 // bytes still allowed before err applies; <0 means fail now
}

// New wraps inner with no fault configured.
func New(inner storage.Backend) *Backend {
	return &Backend{inner: inner}
}

// FailWrites makes every Put, Delete and Batch fail with err (wrapped, so
// errors.Is(err, syscall.ENOSPC) holds) until Recover is called.
func (b *Backend) FailWrites(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.budget = err, -1
}

// FailAfter lets writes through until they would take the bytes written from
// now on past n, then fails them with err until Recover is called. Every op
// counts len(Key)+len(Value), deletes included; a batch that does not fit
// fails whole.
func (b *Backend) FailAfter(n int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.budget = err, n
}

// Recover clears any fault: later writes reach the inner backend again.
func (b *Backend) Recover() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.budget = nil, 0
}

// admit reserves the bytes of ops, or returns the injected fault.
func (b *Backend) admit(ops []storage.Op) error {
	var n int64
	for _, op := range ops {
		n += int64(len(op.Key) + len(op.Value))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		return nil
	}
	if b.budget < 0 || n > b.budget {
		b.budget = -1 // stay failed, like a full disk, until Recover
		return fmt.Errorf("injected write fault: %w", b.err)
	}
	b.budget -= n
	return nil
}

// Get reads from the inner backend.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	return b.inner.Get(ctx, key)
}

// List reads from the inner backend.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	return b.inner.List(ctx, prefix)
}

// Put forwards to the inner backend unless a fault applies.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	if err := b.admit([]storage.Op{{Key: key, Value: value}}); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return b.inner.Put(ctx, key, value)
}

// Delete forwards to the inner backend unless a fault applies.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := b.admit([]storage.Op{{Key: key, Delete: true}}); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return b.inner.Delete(ctx, key)
}

// Batch forwards to the inner backend unless a fault applies to any byte of
// it, in which case none of it is applied.
func (b *Backend) Batch(ctx context.Context, ops []storage.Op) error {
	if err := b.admit(ops); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	return b.inner.Batch(ctx, ops)
}
