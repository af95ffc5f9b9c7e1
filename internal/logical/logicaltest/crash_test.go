package logicaltest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// A crashing storage lets exactly its budget of writes through (a batch
// counts once), keeps them, and fails every later write while reads go on.
func TestCrashingSpendsItsBudget(t *testing.T) {
	ctx := context.Background()
	inner := &logicaltest.InmemStorage{}
	c := logicaltest.NewCrashing(inner, 2)
	if err := c.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	b := c.Batching()
	if err := b.Batch(ctx, []logical.BatchOp{{Key: "b", Value: []byte("2")}, {Key: "c", Value: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "d", []byte("4")); !errors.Is(err, logicaltest.ErrCrash) {
		t.Fatalf("Put past the budget = %v", err)
	}
	if err := c.Delete(ctx, "a"); !errors.Is(err, logicaltest.ErrCrash) {
		t.Fatalf("Delete past the budget = %v", err)
	}
	if err := b.Batch(ctx, []logical.BatchOp{{Key: "e", Value: []byte("5")}}); !errors.Is(err, logicaltest.ErrCrash) {
		t.Fatalf("Batch past the budget = %v", err)
	}
	keys, err := c.List(ctx, "")
	if err != nil || len(keys) != 3 {
		t.Fatalf("List = %q, %v; want the three written keys", keys, err)
	}
	if v, err := c.Get(ctx, "a"); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	c.SetBudget(-1)
	for i := range 5 {
		if err := c.Put(ctx, "f", []byte{byte(i)}); err != nil {
			t.Fatalf("unlimited Put %d = %v", i, err)
		}
	}
}
