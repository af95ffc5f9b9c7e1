package token_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

type tree struct {
	parent string
	all    []string // every token of the tree, parent first
}

// buildTree makes parent (a child of root) with levels of width children each.
func buildTree(t testing.TB, s *token.Store, rootAccessor string, levels, width int) tree {
	t.Helper()
	ctx := context.Background()
	create := func(parentAcc string) (string, string) {
		e := &token.Entry{Policies: []string{"a"}, ParentAccessor: parentAcc}
		tok, err := s.Create(ctx, e)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return tok, e.Accessor
	}
	p, pacc := create(rootAccessor)
	tr := tree{parent: p, all: []string{p}}
	frontier := []string{pacc}
	for range levels {
		var next []string
		for _, acc := range frontier {
			for range width {
				tok, a := create(acc)
				tr.all = append(tr.all, tok)
				next = append(next, a)
			}
		}
		frontier = next
	}
	return tr
}

func assertAllInvalid(t testing.TB, s *token.Store, toks []string) {
	t.Helper()
	valid := 0
	for _, tok := range toks {
		if _, err := s.Use(context.Background(), tok, ""); err == nil {
			valid++
		}
		if _, err := s.Lookup(context.Background(), tok); err == nil {
			valid++
		}
	}
	if valid > 0 {
		t.Errorf("%d lookups of revoked tokens succeeded", valid)
	}
}

// assertOnlyRoot checks that storage holds the keys and the root token only.
func assertOnlyRoot(t testing.TB, st logical.Storage) {
	t.Helper()
	var keys []string
	for k := range dump(t, st) {
		if k != "salt" && k != "batch-keys" && !strings.HasPrefix(k, "roles/") {
			keys = append(keys, k)
		}
	}
	if len(keys) != 2 || countPrefix(t, st, "parent/") != 0 {
		t.Errorf("storage holds %d token keys (%v), want root's id and accessor only", len(keys), keys)
	}
}

// T16: a tree is revoked completely.
func TestRevokeTree(t *testing.T) {
	var revoked atomic.Int32
	f := newFixture(t, token.Options{OnRevoke: func(context.Context, *token.Entry) error {
		revoked.Add(1)
		return nil
	}})
	tr := buildTree(t, f.store, f.rootE.Accessor, 3, 10)
	for _, tok := range tr.all {
		if _, err := f.store.Use(context.Background(), tok, ""); err != nil {
			t.Fatalf("Use before revoke: %v", err) // also warms the cache
		}
	}
	if err := f.store.Revoke(context.Background(), tr.parent); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	assertAllInvalid(t, f.store, tr.all)
	if got := int(revoked.Load()); got != len(tr.all) {
		t.Errorf("OnRevoke called %d times, want %d", got, len(tr.all))
	}
	assertOnlyRoot(t, f.st)
	if err := f.store.Revoke(context.Background(), tr.parent); err != nil {
		t.Errorf("second Revoke = %v, want nil", err)
	}
}

// T16: OnRevoke fails part-way (a crash of the hook); every token is
// unusable at once and Sweep finishes the job.
func TestRevokeTreeInterruptedByHook(t *testing.T) {
	var calls atomic.Int32
	var broken atomic.Bool
	broken.Store(true)
	f := newFixture(t, token.Options{OnRevoke: func(context.Context, *token.Entry) error {
		if calls.Add(1) > 37 && broken.Load() {
			return logicaltest.ErrCrash
		}
		return nil
	}})
	tr := buildTree(t, f.store, f.rootE.Accessor, 3, 6)
	err := f.store.Revoke(context.Background(), tr.parent)
	if !errors.Is(err, logicaltest.ErrCrash) {
		t.Fatalf("Revoke = %v, want the hook's error", err)
	}
	assertAllInvalid(t, f.store, tr.all)
	if _, err := f.store.Sweep(context.Background()); !errors.Is(err, logicaltest.ErrCrash) {
		t.Errorf("Sweep with a broken hook = %v, want its error", err)
	}
	broken.Store(false)
	if _, err := f.store.Sweep(context.Background()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	assertAllInvalid(t, f.store, tr.all)
	assertOnlyRoot(t, f.st)
}

// T16: storage fails at every point of a revocation; a new store (restart)
// over the same data and a Sweep leave no token of the tree valid and
// nothing orphaned.
func TestRevokeTreeCrashAnywhere(t *testing.T) {
	for _, budget := range []int{0, 1, 5, 20, 30, 60, 100} {
		t.Run("", func(t *testing.T) {
			clk := newClock()
			inner := &logicaltest.InmemStorage{}
			fs := logicaltest.NewCrashing(inner, -1)
			s, err := token.New(context.Background(), fs, token.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			root := &token.Entry{Policies: []string{"root"}}
			if _, err := s.Create(context.Background(), root); err != nil {
				t.Fatal(err)
			}
			tr := buildTree(t, s, root.Accessor, 2, 5)
			fs.SetBudget(budget)
			if err := s.Revoke(context.Background(), tr.parent); !errors.Is(err, logicaltest.ErrCrash) {
				t.Fatalf("Revoke with budget %d = %v, want a crash", budget, err)
			}
			fs.SetBudget(-1)
			s2, err := token.New(context.Background(), fs, token.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Sweep(context.Background()); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if budget > 0 {
				// The first write marks the parent; only a crash
				// before it leaves the tree alive.
				assertAllInvalid(t, s2, tr.all)
				assertOnlyRoot(t, inner)
			}
		})
	}
}

func TestRevokeOrphan(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	p := &token.Entry{Policies: []string{"a"}}
	ptok := f.create(t, f.rootE.Accessor, p)
	c := &token.Entry{Policies: []string{"a"}}
	ctok := f.create(t, p.Accessor, c)
	g := &token.Entry{Policies: []string{"a"}}
	gtok := f.create(t, c.Accessor, g)
	if err := f.store.RevokeOrphan(ctx, ptok); err != nil {
		t.Fatalf("RevokeOrphan: %v", err)
	}
	assertAllInvalid(t, f.store, []string{ptok})
	got, err := f.store.Lookup(ctx, ctok)
	if err != nil {
		t.Fatalf("child revoked with its parent: %v", err)
	}
	if !got.Orphan || got.ParentAccessor != "" {
		t.Errorf("child not an orphan: %+v", got.Orphan)
	}
	if _, err := f.store.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Lookup(ctx, gtok); err != nil {
		t.Fatalf("grandchild lost: %v", err)
	}
	if err := f.store.RevokeAccessor(ctx, c.Accessor); err != nil {
		t.Fatalf("RevokeAccessor: %v", err)
	}
	assertAllInvalid(t, f.store, []string{ctok, gtok})
	assertOnlyRoot(t, f.st)
	if err := f.store.RevokeAccessor(ctx, c.Accessor); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("RevokeAccessor(gone) = %v", err)
	}
}

// A child whose parent entry vanished (crash leftovers) is revoked by Sweep.
func TestSweepRevokesChildrenOfMissingParent(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	p := &token.Entry{Policies: []string{"a"}}
	f.create(t, f.rootE.Accessor, p)
	ctok := f.create(t, p.Accessor, &token.Entry{Policies: []string{"a"}})
	for k, v := range dump(t, f.st) {
		if strings.HasPrefix(k, "id/") && strings.Contains(v, p.Accessor) && !strings.Contains(v, `"parent_accessor":"`+p.Accessor) {
			f.st.Delete(ctx, k)
		}
	}
	if _, err := f.store.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	assertAllInvalid(t, f.store, []string{ctok})
	assertOnlyRoot(t, f.st)
}

// Children created while their parent is being revoked never survive it.
func TestCreateRacesRevoke(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	p := &token.Entry{Policies: []string{"a"}}
	ptok := f.create(t, f.rootE.Accessor, p)
	var mu sync.Mutex
	var made []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				tok, err := f.store.Create(ctx, &token.Entry{Policies: []string{"a"}, ParentAccessor: p.Accessor})
				if err == nil {
					mu.Lock()
					made = append(made, tok)
					mu.Unlock()
				}
			}
		})
	}
	if err := f.store.Revoke(ctx, ptok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wg.Wait()
	assertAllInvalid(t, f.store, made)
	assertOnlyRoot(t, f.st)
}
