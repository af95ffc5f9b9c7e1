// Package migrate copies a store from one storage.Backend to another, key by
// key, for `keyward operator migrate`. It works below the barrier: values are
// opaque ciphertext that it moves unchanged and never logs, prints or puts
// in an error. Errors and the resume point name keys only.
//
// Keys are copied in ascending byte order (a depth-first walk of List, whose
// names are sorted, visits keys in that order), in batches applied with the
// destination's Batch, so each batch lands whole or not at all. A copy that
// stops part way returns an *InterruptedError naming the first key not known
// to be copied; running Copy again with Options.Start set to it finishes the
// job, rewriting at most one batch.
//
// Copy is meant to run offline: the source must not change while it runs,
// since nothing here can see a write made behind the walk.
package migrate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/keyward/keyward/internal/storage"
)

const (
	// DefaultMaxBatchBytes is the batch size when Options.MaxBatchBytes is
	// zero: 1 MiB, raft's default entry limit.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultMaxBatchOps is the number of keys in a batch when
	// Options.MaxBatchOps is zero.
	DefaultMaxBatchOps = 512

	// BatchOverhead and OpOverhead are what a batch and each op in it count
	// beyond the key and value bytes: a version byte and length fields. They
	// are at least what raft's log entry encoding spends, so a batch that
	// fits MaxBatchBytes fits a raft entry of that size.
	BatchOverhead = 1 + binary.MaxVarintLen64
	OpOverhead    = 1 + 2*binary.MaxVarintLen64
)

var (
	// ErrDestinationNotEmpty is returned when the destination holds a key
	// and Options.Start is empty: a fresh copy goes only to an empty store,
	// so it can never mix two stores' data.
	ErrDestinationNotEmpty = errors.New("destination storage is not empty")
	// ErrSameBackend is returned when the source and destination are the
	// same backend.
	ErrSameBackend = errors.New("source and destination are the same storage")
)

// Options tunes Copy. The zero value copies everything in default batches.
type Options struct {
	// Start, when set, copies only keys at or after it in byte order and
	// allows a non-empty destination: it resumes an interrupted copy (pass
	// InterruptedError.Resume) or, as Vault's -start does, copies from an
	// arbitrary point.
	Start string
	// MaxBatchBytes caps a batch's size counted as the sum of key and value
	// lengths plus BatchOverhead and OpOverhead per key; zero means
	// DefaultMaxBatchBytes. A key whose value alone is larger goes in a
	// batch of its own, which a destination with a size limit refuses.
	MaxBatchBytes int
	// MaxBatchOps caps the keys in a batch; zero means DefaultMaxBatchOps.
	MaxBatchOps int
	// Progress, when set, is called after each batch lands with the number
	// of keys copied so far and the last key of the batch.
	Progress func(copied int, last string)
}

// InterruptedError is returned when a copy stops part way: Copied keys
// landed, and every key before Resume is in the destination. Run Copy again
// with Options.Start = Resume to finish.
type InterruptedError struct {
	Copied int
	Resume string
	Err    error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("copy interrupted after %d keys, at key %q: %v", e.Copied, storage.LogKey(e.Resume), e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// Copy copies every key of src (from opts.Start on, when set) into dst and
// returns how many it copied. It refuses dst == src and, without
// opts.Start, a dst holding any key. Values are copied unchanged and never
// inspected. A failure after the walk began returns an *InterruptedError.
func Copy(ctx context.Context, dst, src storage.Backend, opts Options) (int, error) {
	if same(dst, src) {
		return 0, ErrSameBackend
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.MaxBatchOps <= 0 {
		opts.MaxBatchOps = DefaultMaxBatchOps
	}
	if opts.Start == "" {
		names, err := dst.List(ctx, "")
		if err != nil {
			return 0, fmt.Errorf("check destination is empty: %w", err)
		}
		if len(names) > 0 {
			return 0, ErrDestinationNotEmpty
		}
	}
	c := &copier{ctx: ctx, dst: dst, src: src, opts: opts}
	if err := c.walk(""); err != nil {
		return c.copied, c.interrupted(err)
	}
	if err := c.flush(); err != nil {
		return c.copied, c.interrupted(err)
	}
	return c.copied, nil
}

// same reports whether a and b are the same backend value.
func same(a, b storage.Backend) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && any(a) == any(b)
}

type copier struct {
	ctx      context.Context
	dst, src storage.Backend
	opts     Options

	batch  []storage.Op
	bytes  int
	copied int
	// next is the first key not yet in the destination: the first key of
	// the pending batch, or the key being read when a read failed.
	next string
}

func (c *copier) interrupted(err error) error {
	return &InterruptedError{Copied: c.copied, Resume: c.next, Err: err}
}

// walk visits the keys under prefix in byte order.
func (c *copier) walk(prefix string) error {
	names, err := c.src.List(c.ctx, prefix)
	if err != nil {
		if len(c.batch) == 0 {
			c.next = prefix
		}
		return fmt.Errorf("list source %q: %w", storage.LogKey(prefix), err)
	}
	for _, name := range names {
		key := prefix + name
		if strings.HasSuffix(name, "/") {
			// Every key under key starts with it: when key sorts before
			// Start and is not a prefix of it, the whole subtree does.
			if key < c.opts.Start && !strings.HasPrefix(c.opts.Start, key) {
				continue
			}
			if err := c.walk(key); err != nil {
				return err
			}
			continue
		}
		if key < c.opts.Start {
			continue
		}
		if err := c.add(key); err != nil {
			return err
		}
	}
	return nil
}

// add reads key from the source and queues it, flushing first when the
// batch would outgrow its limits.
func (c *copier) add(key string) error {
	if len(c.batch) == 0 {
		c.next = key
	}
	value, err := c.src.Get(c.ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil // deleted since the listing; nothing to copy
	case err != nil:
		return fmt.Errorf("read source %q: %w", storage.LogKey(key), err)
	}
	size := OpOverhead + len(key) + len(value)
	if len(c.batch) > 0 && (len(c.batch) >= c.opts.MaxBatchOps || BatchOverhead+c.bytes+size > c.opts.MaxBatchBytes) {
		if err := c.flush(); err != nil {
			return err
		}
		c.next = key
	}
	c.batch = append(c.batch, storage.Op{Key: key, Value: value})
	c.bytes += size
	return nil
}

// flush writes the pending batch to the destination.
func (c *copier) flush() error {
	if len(c.batch) == 0 {
		return nil
	}
	first, last := c.batch[0].Key, c.batch[len(c.batch)-1].Key
	if err := c.dst.Batch(c.ctx, c.batch); err != nil {
		return fmt.Errorf("write %d keys from %q to destination: %w", len(c.batch), storage.LogKey(first), err)
	}
	c.copied += len(c.batch)
	clear(c.batch) // drop the values
	c.batch, c.bytes = c.batch[:0], 0
	if c.opts.Progress != nil {
		c.opts.Progress(c.copied, last)
	}
	return nil
}
