package barrier

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// NewView returns the part of parent under prefix as its own
// logical.Storage: keys are relative to prefix and List strips it. The view
// also implements logical.BatchStorage when parent does. Keys that are empty,
// start with "/" or have a ".." segment are rejected with an error wrapping
// logical.ErrInvalidRequest, so a view cannot reach outside its prefix.
//
// prefix must be empty or end in "/", and must itself be a clean path; an
// invalid prefix is a programming error and panics.
func NewView(parent logical.Storage, prefix string) logical.Storage {
	if prefix != "" && (!strings.HasSuffix(prefix, "/") || validKey(strings.TrimSuffix(prefix, "/")) != nil) {
		panic(fmt.Sprintf("barrier.NewView: invalid prefix %q", prefix))
	}
	v := &view{parent: parent, prefix: prefix}
	if bs, ok := parent.(logical.BatchStorage); ok {
		return &batchView{view: v, batch: bs}
	}
	return v
}

// validKey rejects keys that could escape a prefix.
func validKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", logical.ErrInvalidRequest)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("key %q starts with \"/\": %w", key, logical.ErrInvalidRequest)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." {
			return fmt.Errorf("key %q has a \"..\" segment: %w", key, logical.ErrInvalidRequest)
		}
	}
	return nil
}

type view struct {
	parent logical.Storage
	prefix string
}

func (v *view) Get(ctx context.Context, key string) ([]byte, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	return v.parent.Get(ctx, v.prefix+key)
}

func (v *view) Put(ctx context.Context, key string, value []byte) error {
	if err := validKey(key); err != nil {
		return err
	}
	return v.parent.Put(ctx, v.prefix+key, value)
}

func (v *view) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	return v.parent.Delete(ctx, v.prefix+key)
}

func (v *view) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" {
		if err := validKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return nil, err
		}
	}
	return v.parent.List(ctx, v.prefix+prefix)
}

type batchView struct {
	*view
	batch logical.BatchStorage
}

var (
	_ logical.Storage      = (*view)(nil)
	_ logical.BatchStorage = (*batchView)(nil)
)

func (v *batchView) Batch(ctx context.Context, ops []logical.BatchOp) error {
	prefixed := make([]logical.BatchOp, len(ops))
	for i, op := range ops {
		if err := validKey(op.Key); err != nil {
			return err
		}
		prefixed[i] = logical.BatchOp{Key: v.prefix + op.Key, Value: op.Value}
	}
	return v.batch.Batch(ctx, prefixed)
}
