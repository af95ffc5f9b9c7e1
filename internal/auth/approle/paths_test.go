package approle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/approle"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// The route table serves what the hand-written switch did: the same
// unauthenticated path, create versus update on role/NAME only, one answer
// for an unknown path and one for a wrong operation, and help.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	b, err := approle.New(ctx, &logicaltest.InmemStorage{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	do := func(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
		return b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Data: data})
	}
	if got := b.UnauthenticatedPaths(); !slices.Equal(got, []string{"login"}) {
		t.Errorf("UnauthenticatedPaths = %q", got)
	}
	if _, err := do(logical.UpdateOperation, "role/web", nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path          string
		found, exists bool
	}{{"role/web", true, true}, {"role/WEB", true, true}, {"role/db", true, false}, {"role/web/role-id", false, false}} {
		found, exists, err := b.ExistenceCheck(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: tt.path})
		if err != nil || found != tt.found || exists != tt.exists {
			t.Errorf("ExistenceCheck(%s) = %v %v %v", tt.path, found, exists, err)
		}
	}
	for _, tt := range []struct {
		op   logical.Operation
		path string
		want error
	}{
		{logical.ReadOperation, "login", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "role/web/secret-id/lookup", logical.ErrUnsupportedOperation},
		{logical.DeleteOperation, "role/web/secret-id/lookup", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "role/web/bogus", logical.ErrUnsupportedPath},
	} {
		if _, err := do(tt.op, tt.path, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
	for path, want := range map[string][]string{
		"role/web":                  {"role_name (string)", "bind_secret_id (bool)", "secret_id_ttl (duration (sec))", "token_policies (slice)"},
		"role/web/secret-id":        {"metadata (string)", "num_uses (int)"},
		"login":                     {"role_id (string)", "secret_id (string)"},
		"role/web/custom-secret-id": {"secret_id (string)"},
	} {
		resp, err := b.Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "auth/approle/"})
		if err != nil {
			t.Fatalf("help %q: %v", path, err)
		}
		for _, w := range want {
			if !strings.Contains(string(resp.Raw), w) {
				t.Errorf("help %q lacks %q", path, w)
			}
		}
	}
}
