// Package storage defines the Backend every physical store implements. A
// backend is untrusted: it only ever holds ciphertext produced by the barrier,
// so implementations never log or inspect values.
package storage

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("storage: key not found")

// Op is one write inside an atomic Batch: a put of Value at Key, or, when
// Delete is true, a delete of Key.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Backend stores opaque values by key. Keys are slash-separated paths.
//
// Get returns ErrNotFound if key is absent. The returned slice belongs to the
// caller. Put and Batch are durable when they return nil (the embedded store
// fsyncs before acknowledging). List returns the names directly under prefix
// (prefix is "" or ends in "/"), sorted, with a trailing "/" on names that
// have keys beneath them, like a directory listing. Batch applies all ops
// atomically or none. Implementations are safe for concurrent use.
type Backend interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
	Batch(ctx context.Context, ops []Op) error
}
