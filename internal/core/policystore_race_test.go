package core

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/policy"
)

// A policy write that lands while a request compiles its ACL from the old
// text must not leave that stale ACL in the cache: the next request sees
// the new policy (a revoked grant stays revoked).
func TestPolicyWriteDuringCompileIsNotCachedStale(t *testing.T) {
	ctx := context.Background()
	ps, err := newPolicyStore(ctx, &logicaltest.InmemStorage{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.put(ctx, "app", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	raced := false
	ps.afterCompile = func() {
		if raced {
			return
		}
		raced = true
		// The revocation lands between the compile and the cache insert.
		if err := ps.put(ctx, "app", `path "other/*" { capabilities = ["read"] }`); err != nil {
			t.Error(err)
		}
	}
	if _, err := ps.acl([]string{"app"}, nil); err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the hook did not run")
	}
	acl, err := ps.acl([]string{"app"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acl.Check("secret/x", policy.OpRead, nil).Allowed {
		t.Fatal("the ACL compiled from the old policy text was cached past the write that revoked it")
	}
	if !acl.Check("other/x", policy.OpRead, nil).Allowed {
		t.Fatal("the new policy text does not apply")
	}
}
