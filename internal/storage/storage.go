// Package storage defines the Backend every physical store implements. A
// backend is untrusted: it only ever holds ciphertext produced by the barrier,
// so implementations never log or inspect values.
package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("storage: key not found")

// MaxKeyLength is the longest key, in bytes, that every backend accepts.
// It is the same on every backend so that data moves between them: 8 KiB,
// a quarter of bbolt's limit, which leaves room for the prefixes the
// barrier and mount views add to the paths clients send.
const MaxKeyLength = 8 << 10

// ErrKeyTooLong is wrapped by every operation given a key, or a List
// prefix, longer than MaxKeyLength; nothing is read or written. It is the
// client's error (the HTTP layer answers 400), and the error names the key
// only in the shortened form of LogKey.
var ErrKeyTooLong = fmt.Errorf("storage: key longer than %d bytes", MaxKeyLength)

// CheckKey returns an error wrapping ErrKeyTooLong when key is longer than
// MaxKeyLength. Every backend calls it before touching its store.
func CheckKey(key string) error {
	if len(key) > MaxKeyLength {
		return fmt.Errorf("key %q: %w", LogKey(key), ErrKeyTooLong)
	}
	return nil
}

// ErrEmptyKey is wrapped by every write of the empty key: it names nothing,
// and no backend stores it.
var ErrEmptyKey = errors.New("storage: empty key")

// ErrValueTooLarge is wrapped by a write bigger than the backend takes in
// one entry (raft's max_entry_size): the client's error, HTTP 413.
var ErrValueTooLarge = errors.New("storage: value too large for the storage backend")

// ErrNotActive is wrapped by an operation refused or cut short because
// this node stopped being the one that may write (a raft node that lost
// leadership): HTTP 503, and the client may retry on the active node.
var ErrNotActive = errors.New("storage: this node is not the active node")

// CheckWriteKey returns an error wrapping ErrEmptyKey for the empty key,
// or CheckKey's. Every backend calls it before writing key.
func CheckWriteKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	return CheckKey(key)
}

// CheckOps checks the key of every op of a batch with CheckWriteKey, so a
// batch with one bad op fails whole before anything is written; the error
// names the op by its position.
func CheckOps(ops []Op) error {
	for i, op := range ops {
		if err := CheckWriteKey(op.Key); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

// logKeyMax is the longest key LogKey returns unchanged.
const logKeyMax = 128

// LogKey returns key as errors and logs may show it: unchanged up to 128
// bytes, otherwise its first 64 bytes followed by its length and a short
// hash (enough to tell two long keys apart), so that a multi-KB path never
// fills a log line.
func LogKey(key string) string {
	if len(key) <= logKeyMax {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	head := strings.ToValidUTF8(key[:64], "") // drops a character cut in two
	return fmt.Sprintf("%s…[%d bytes, sha256 %x]", head, len(key), sum[:6])
}

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
// atomically or none. A key (or List prefix) longer than MaxKeyLength fails
// every method with an error wrapping ErrKeyTooLong, a batch whole. An ended
// context fails every method, and nothing is written. Implementations are
// safe for concurrent use.
type Backend interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
	Batch(ctx context.Context, ops []Op) error
}
