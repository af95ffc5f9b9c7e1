package faulty_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

func TestConformanceWithoutFault(t *testing.T) {
	storagetest.Run(t, func(testing.TB) storage.Backend { return faulty.New(inmem.New()) })
}

func TestFailWritesAndRecover(t *testing.T) {
	ctx := t.Context()
	b := faulty.New(inmem.New())
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("healthy Put = %v", err)
	}
	b.FailWrites(syscall.EIO)
	writes := []struct {
		name string
		do   func() error
	}{
		{"put", func() error { return b.Put(ctx, "k2", []byte("v2")) }},
		{"delete", func() error { return b.Delete(ctx, "k") }},
		{"batch", func() error { return b.Batch(ctx, []storage.Op{{Key: "k3", Value: []byte("v3")}}) }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.do(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("%s under fault = %v, want EIO", w.name, err)
			}
		})
	}
	got, err := b.Get(ctx, "k")
	if err != nil || string(got) != "v" {
		t.Fatalf("Get(k) under write fault = (%q, %v), want (v, nil)", got, err)
	}
	if _, err := b.Get(ctx, "k2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(k2) = %v, want ErrNotFound: a failed put must not land", err)
	}
	b.Recover()
	if err := b.Put(ctx, "k2", []byte("v2")); err != nil {
		t.Fatalf("Put after Recover = %v", err)
	}
}

func TestFailAfterBytes(t *testing.T) {
	ctx := t.Context()
	b := faulty.New(inmem.New())
	b.FailAfter(10, syscall.ENOSPC)
	if err := b.Put(ctx, "k1", []byte("1234")); err != nil { // 6 bytes
		t.Fatalf("Put within budget = %v", err)
	}
	// 3 + 3 bytes would exceed the 4 left: the whole batch fails.
	err := b.Batch(ctx, []storage.Op{{Key: "k2", Value: []byte("a")}, {Key: "k3", Value: []byte("b")}})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Batch past budget = %v, want ENOSPC", err)
	}
	if _, err := b.Get(ctx, "k2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(k2) = %v, want ErrNotFound: the failed batch must not land", err)
	}
	// Once full, even a write that would fit stays refused until Recover.
	if err := b.Put(ctx, "k", nil); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put after the disk filled = %v, want ENOSPC", err)
	}
	b.Recover()
	if err := b.Batch(ctx, []storage.Op{{Key: "k2", Value: []byte("a")}, {Key: "k3", Value: []byte("b")}}); err != nil {
		t.Fatalf("Batch after Recover = %v", err)
	}
}
