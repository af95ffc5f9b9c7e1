package barrier_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// plainStorage hides the Batch method of the storage it wraps.
type plainStorage struct{ logical.Storage }

// TestStorageConformance runs the logical.Storage suite on the views of the
// barrier: the batch view (the parent has Batch), the plain view (it does
// not), a view nested in a view, and a view over the in-memory test
// storage. The barrier itself runs the suite through them; it is never
// empty (it lists its own "core/" entries), so it cannot run it alone.
func TestStorageConformance(t *testing.T) {
	tests := []struct {
		name string
		new  func(t testing.TB) logical.Storage
	}{
		{"BatchView", func(t testing.TB) logical.Storage {
			b, _, _ := setup(t)
			return barrier.NewView(b, "logical/1234/")
		}},
		{"PlainView", func(t testing.TB) logical.Storage {
			b, _, _ := setup(t)
			return barrier.NewView(plainStorage{b}, "logical/1234/")
		}},
		{"NestedView", func(t testing.TB) logical.Storage {
			b, _, _ := setup(t)
			return barrier.NewView(barrier.NewView(b, "auth/5678/"), "sub/")
		}},
		{"ViewOverInmem", func(testing.TB) logical.Storage {
			return barrier.NewView(&logicaltest.InmemStorage{}, "logical/1234/")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logicaltest.RunStorage(t, tc.new)
		})
	}
}

func TestViewPrefixes(t *testing.T) {
	ctx := t.Context()
	b, backend, _ := setup(t)
	v := barrier.NewView(b, "logical/1234/")
	mustPut(t, v, "config", []byte("c"))
	mustPut(t, v, "roles/ci", []byte("r"))

	if got := mustGet(t, b, "logical/1234/config"); string(got) != "c" {
		t.Errorf("parent Get = %q, want c", got)
	}
	// The value is bound to the full path, not the view-relative one.
	raw := rawGet(t, backend, "logical/1234/config")
	rawPut(t, backend, "config", raw)
	if _, err := b.Get(ctx, "config"); !errors.Is(err, barrier.ErrIntegrity) {
		t.Errorf("Get of envelope moved out of the view = %v, want ErrIntegrity", err)
	}

	names, err := v.List(ctx, "")
	if err != nil || strings.Join(names, ",") != "config,roles/" {
		t.Errorf("List(\"\") = %q, %v; want [config roles/]", names, err)
	}
	names, err = v.List(ctx, "roles/")
	if err != nil || strings.Join(names, ",") != "ci" {
		t.Errorf("List(roles/) = %q, %v; want [ci]", names, err)
	}
	if err := v.Delete(ctx, "config"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := mustGet(t, v, "config"); got != nil {
		t.Errorf("Get after Delete = %q", got)
	}

	nested := barrier.NewView(v, "sub/")
	mustPut(t, nested, "k", []byte("n"))
	if got := mustGet(t, b, "logical/1234/sub/k"); string(got) != "n" {
		t.Errorf("nested view wrote elsewhere: %q", got)
	}
}

func TestViewRejectsEscapes(t *testing.T) {
	ctx := t.Context()
	parent := &logicaltest.InmemStorage{}
	v := barrier.NewView(parent, "logical/a/")
	for _, key := range []string{"", "/etc", "..", "../b/x", "x/../../b", "x/..", "a/../b"} {
		t.Run(key, func(t *testing.T) {
			checks := map[string]error{
				"Put":    v.Put(ctx, key, []byte("x")),
				"Delete": v.Delete(ctx, key),
				"Batch":  v.(logical.BatchStorage).Batch(ctx, []logical.BatchOp{{Key: key, Value: []byte("x")}}),
			}
			_, checks["Get"] = v.Get(ctx, key)
			if key != "" {
				_, checks["List"] = v.List(ctx, key+"/")
			}
			for op, err := range checks {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Errorf("%s(%q) error = %v, want ErrInvalidRequest", op, key, err)
				}
			}
		})
	}
	if names, _ := parent.List(ctx, ""); len(names) != 0 {
		t.Errorf("rejected keys reached the parent: %q", names)
	}
	// Dots inside a segment are fine.
	mustPut(t, v, "a..b/.hidden", []byte("ok"))
	if got := mustGet(t, parent, "logical/a/a..b/.hidden"); string(got) != "ok" {
		t.Errorf("Get = %q", got)
	}
}

func TestViewBatch(t *testing.T) {
	ctx := t.Context()
	b, _, _ := setup(t)
	v := barrier.NewView(b, "logical/x/")
	bs, ok := v.(logical.BatchStorage)
	if !ok {
		t.Fatal("view over a batch-capable parent does not implement BatchStorage")
	}
	mustPut(t, v, "gone", []byte("1"))
	if err := bs.Batch(ctx, []logical.BatchOp{{Key: "a", Value: []byte("A")}, {Key: "gone"}}); err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if got := mustGet(t, b, "logical/x/a"); string(got) != "A" {
		t.Errorf("Get(a) = %q", got)
	}
	if got := mustGet(t, b, "logical/x/gone"); got != nil {
		t.Errorf("batch delete left %q", got)
	}

	if _, ok := barrier.NewView(plainStorage{b}, "p/").(logical.BatchStorage); ok {
		t.Error("view over a storage without Batch claims BatchStorage")
	}
}

func TestViewInvalidPrefixPanics(t *testing.T) {
	for _, prefix := range []string{"no-slash", "/abs/", "a/../", "../"} {
		t.Run(prefix, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewView(%q) did not panic", prefix)
				}
			}()
			barrier.NewView(&logicaltest.InmemStorage{}, prefix)
		})
	}
}
