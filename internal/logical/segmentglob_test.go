package logical_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// A SegmentGlob route is listed with "+" for its captures, so it can be
// unauthenticated beside an authenticated route under the same prefix,
// and MatchPath holds "+" to exactly one segment.
func TestSegmentGlob(t *testing.T) {
	h := func(context.Context, *logical.Request, logical.Params) (*logical.Response, error) { return nil, nil }
	ops := map[logical.Operation]logical.Handler{logical.UpdateOperation: h}
	r := logical.NewRouter("",
		logical.Route{Pattern: "roles/{name}/acme/new-order", Ops: ops, Unauthenticated: true, SegmentGlob: true},
		logical.Route{Pattern: "roles/{name}/acme/order/{id}/finalize", Ops: ops, Unauthenticated: true, SegmentGlob: true},
		logical.Route{Pattern: "roles/{name}", Ops: ops},
	)
	got := r.UnauthenticatedPaths()
	if want := []string{"roles/+/acme/new-order", "roles/+/acme/order/+/finalize"}; !slices.Equal(got, want) {
		t.Fatalf("UnauthenticatedPaths = %q, want %q", got, want)
	}
	for path, want := range map[string]bool{
		"roles/web/acme/new-order": true, "roles/web/acme/new-order/": true, "roles/web/acme/order/x/finalize": true,
		"roles/web": false, "roles/web/": false, "roles//acme/new-order": false, "roles/a/b/acme/new-order": false,
		"roles/web/acme/new-order/x": false, "roles/web/acme/order/x": false, "roles/web/acme/order/x/y/finalize": false,
	} {
		if MatchPath := logical.MatchPath(got, path); MatchPath != want {
			t.Errorf("MatchPath(%q) = %v, want %v", path, MatchPath, want)
		}
	}
	for _, bad := range [][]logical.Route{
		// Without SegmentGlob the prefix glob roles/* would cover roles/{name}.
		{{Pattern: "roles/{name}/acme/x", Ops: ops, Unauthenticated: true}, {Pattern: "roles/{name}", Ops: ops}},
		// A segment glob still may not cover an unflagged route.
		{{Pattern: "roles/{name}/acme", Ops: ops, Unauthenticated: true, SegmentGlob: true}, {Pattern: "roles/web/acme", Ops: ops}},
		{{Pattern: "a/{p*}/b", Ops: ops, Unauthenticated: true, SegmentGlob: true}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRouter accepted %q beside %v", bad[0].Pattern, bad[1:])
				}
			}()
			logical.NewRouter("", bad...)
		}()
	}
}
