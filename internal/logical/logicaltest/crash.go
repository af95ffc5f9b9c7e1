package logicaltest

import (
	"context"
	"errors"
	"sync"

	"github.com/keyward/keyward/internal/logical"
)

// ErrCrash is what a Crashing storage returns once its write budget is
// spent.
var ErrCrash = errors.New("logicaltest: injected crash")

// Crashing wraps a storage and lets a budget of writes (puts and deletes)
// through, then fails every later one with ErrCrash, like a process that
// dies: what was written stays, nothing after it happens. Reads always
// pass. It has no Batch method, so code that batches when it can takes its
// one-write-at-a-time path; Batching adds one. It is safe for concurrent
// use.
type Crashing struct {
	inner logical.Storage
	mu    sync.Mutex
	left  int // writes left; negative means unlimited
}

var _ logical.Storage = (*Crashing)(nil)

// NewCrashing wraps inner with budget writes left (negative: unlimited).
func NewCrashing(inner logical.Storage, budget int) *Crashing {
	return &Crashing{inner: inner, left: budget}
}

// SetBudget sets the writes left (negative: unlimited).
func (c *Crashing) SetBudget(n int) {
	c.mu.Lock()
	c.left = n
	c.mu.Unlock()
}

func (c *Crashing) spend() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == 0 {
		return ErrCrash
	}
	if c.left > 0 {
		c.left--
	}
	return nil
}

func (c *Crashing) Get(ctx context.Context, key string) ([]byte, error) {
	return c.inner.Get(ctx, key)
}

func (c *Crashing) List(ctx context.Context, prefix string) ([]string, error) {
	return c.inner.List(ctx, prefix)
}

func (c *Crashing) Put(ctx context.Context, key string, value []byte) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.inner.Put(ctx, key, value)
}

func (c *Crashing) Delete(ctx context.Context, key string) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.inner.Delete(ctx, key)
}

// Batching returns c with a Batch method over the wrapped storage's own
// atomic batch, in which a whole batch is one write. The wrapped storage
// must be a logical.BatchStorage.
func (c *Crashing) Batching() *CrashingBatch { return &CrashingBatch{c} }

// CrashingBatch is a Crashing storage with a Batch method (Batching).
type CrashingBatch struct{ *Crashing }

var _ logical.BatchStorage = (*CrashingBatch)(nil)

// Batch applies ops atomically through the wrapped storage, spending one
// write, or fails with ErrCrash once the budget is spent.
func (b *CrashingBatch) Batch(ctx context.Context, ops []logical.BatchOp) error {
	if err := b.spend(); err != nil {
		return err
	}
	return b.inner.(logical.BatchStorage).Batch(ctx, ops)
}
