package storagetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/storage"
)

// testBatch: ops apply in order, so a later op on a key wins; a delete of
// an absent key succeeds, an empty value is stored as empty; an empty
// batch succeeds.
func testBatch(t *testing.T, s Store, b batcher, _ Options) {
	mustPut(t, s, "old", []byte("old"))
	mustPut(t, s, "keep", []byte("keep"))
	ops := []storage.Op{
		{Key: "new/1", Value: []byte("one")},
		{Key: "old", Delete: true},
		{Key: "dup", Value: []byte("first")},
		{Key: "dup", Value: []byte("second")},
		{Key: "gone", Value: []byte("x")},
		{Key: "gone", Delete: true},
		{Key: "absent", Delete: true},
		{Key: "empty", Value: []byte{}},
	}
	if err := b.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	wantValue(t, s, "new/1", []byte("one"))
	wantMissing(t, s, "old")
	wantValue(t, s, "dup", []byte("second"))
	wantMissing(t, s, "gone")
	wantMissing(t, s, "absent")
	wantValue(t, s, "empty", []byte{})
	wantValue(t, s, "keep", []byte("keep"))
	wantList(t, s, "", []string{"dup", "empty", "keep", "new/"})
	if err := b.Batch(t.Context(), nil); err != nil {
		t.Fatalf("Batch(nil) = %v, want nil", err)
	}
}

func testBatchValuesAreCopied(t *testing.T, s Store, b batcher, _ Options) {
	ops := []storage.Op{{Key: "b", Value: []byte("batched")}}
	if err := b.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	copy(ops[0].Value, "MUTATED")
	wantValue(t, s, "b", []byte("batched"))
}

// testBatchInvalidIsAtomic: one invalid op, a put or a delete of an empty
// or too long key, fails the batch and none of its other ops lands.
func testBatchInvalidIsAtomic(t *testing.T, s Store, b batcher, o Options) {
	mustPut(t, s, "k", []byte("before"))
	mustPut(t, s, "del", []byte("stays"))
	tests := []struct {
		name   string
		bad    string
		target error // nil: any error
	}{
		{"an empty key", "", o.EmptyKeyErr},
		{"a too long key", "dir/" + strings.Repeat("k", storage.MaxKeyLength), storage.ErrKeyTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, badOp := range []storage.Op{{Key: tc.bad, Value: []byte("v")}, {Key: tc.bad, Delete: true}} {
				err := b.Batch(t.Context(), []storage.Op{
					{Key: "k", Value: []byte("after")},
					{Key: "other", Value: []byte("x")},
					{Key: "del", Delete: true},
					badOp,
				})
				wantErr(t, fmt.Sprintf("Batch with %s (delete %v)", tc.name, badOp.Delete), err, tc.target)
				wantValue(t, s, "k", []byte("before"))
				wantValue(t, s, "del", []byte("stays"))
				wantMissing(t, s, "other")
			}
		})
	}
}

// testBatchAtomicForReaders flips between {x/a} and {x/b} with batches that
// delete one key and put the other; a List must never see both or neither.
func testBatchAtomicForReaders(t *testing.T, s Store, b batcher, _ Options) {
	ctx := t.Context()
	mustPut(t, s, "x/a", []byte("a"))
	const flips = 100
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	wg.Go(func() {
		defer close(done)
		for i := range flips {
			on, off := "x/b", "x/a"
			if i%2 == 1 {
				on, off = off, on
			}
			if err := b.Batch(ctx, []storage.Op{{Key: off, Delete: true}, {Key: on, Value: []byte("v")}}); err != nil {
				report(fmt.Errorf("batch flip %d: %w", i, err))
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				names, err := s.List(ctx, "x/")
				if err != nil {
					report(fmt.Errorf("List(x/) = %w", err))
					return
				}
				if len(names) != 1 {
					report(fmt.Errorf("List(x/) = %q mid-batch, want exactly one name", names))
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	wantList(t, s, "x/", []string{"a"})
}
