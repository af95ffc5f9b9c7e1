package identity_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// Writes refuse cycles, but a store that holds one (written by an older
// version, or by hand) still resolves: each group is visited once.
func TestResolveSurvivesAStoredCycle(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	put := func(key string, v any) {
		if err := logical.PutJSON(ctx, s, key, v); err != nil {
			t.Fatal(err)
		}
	}
	put("entity/e1", identity.Entity{ID: "e1", Name: "alice", Policies: []string{"own"}})
	put("group/a", identity.Group{ID: "a", Name: "a", Type: identity.TypeInternal, Policies: []string{"pa"}, MemberEntityIDs: []string{"e1"}, MemberGroupIDs: []string{"b"}})
	put("group/b", identity.Group{ID: "b", Name: "b", Type: identity.TypeInternal, Policies: []string{"pb"}, MemberGroupIDs: []string{"a"}})
	st, err := identity.New(ctx, s, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := st.Resolve("e1")
	if !ok || !slices.Equal(r.Policies, []string{"own", "pa", "pb"}) {
		t.Fatalf("Resolve = %+v, %v", r, ok)
	}
	if r.Identity.Groups["a"] != "a" || r.Identity.Groups["b"] != "b" {
		t.Fatalf("template groups = %v", r.Identity.Groups)
	}
	if _, ok := st.Resolve("nobody"); ok {
		t.Fatal("Resolve of an unknown entity succeeded")
	}
}

// A write drops the cached answer: the next Resolve sees it.
func TestResolveSeesWrites(t *testing.T) {
	ctx := context.Background()
	st, err := identity.New(ctx, &logicaltest.InmemStorage{}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.Backend()
	do := func(path string, data map[string]any) *logical.Response {
		t.Helper()
		resp, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp
	}
	id := do("entity", map[string]any{"name": "e", "policies": "p1"}).Data["id"].(string)
	if r, _ := st.Resolve(id); !slices.Equal(r.Policies, []string{"p1"}) {
		t.Fatalf("policies = %v", r.Policies)
	}
	do("entity/id/"+id, map[string]any{"policies": "p2", "disabled": true})
	if r, _ := st.Resolve(id); !slices.Equal(r.Policies, []string{"p2"}) || !r.Disabled {
		t.Fatalf("after the write: %+v", r)
	}
	do("group", map[string]any{"name": "g", "policies": "p3", "member_entity_ids": id})
	if r, _ := st.Resolve(id); !slices.Equal(r.Policies, []string{"p2", "p3"}) {
		t.Fatalf("after the group: %v", r.Policies)
	}
}
