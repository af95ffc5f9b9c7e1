package jwt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// The route table keeps the unauthenticated path and the create/update
// checks on config and role/NAME, answers an unknown path and a wrong
// operation one way each, and documents its fields.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	b := jwt.New(jwt.Options{})
	s := &logicaltest.InmemStorage{}
	if err := s.Put(ctx, "role/ci", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := b.UnauthenticatedPaths(); !slices.Equal(got, []string{"login"}) {
		t.Errorf("UnauthenticatedPaths = %q", got)
	}
	for _, tt := range []struct {
		path          string
		found, exists bool
	}{{"config", true, false}, {"role/ci", true, true}, {"role/cd", true, false}, {"role/ci/lint", false, false}, {"login", false, false}} {
		found, exists, err := b.ExistenceCheck(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: tt.path, Storage: s})
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
		{logical.UpdateOperation, "role/ci/lint", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "role/ci/other", logical.ErrUnsupportedPath},
		{logical.ReadOperation, "elsewhere", logical.ErrUnsupportedPath},
	} {
		if _, err := b.HandleRequest(ctx, &logical.Request{Operation: tt.op, Path: tt.path, Storage: s}); !errors.Is(err, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
	for path, want := range map[string][]string{
		"role/ci": {"bound_audiences (slice)", "bound_claims (map)", "token_ttl (duration (sec))"},
		"config":  {"oidc_discovery_url (string)", "jwks_cache_ttl (duration (sec))"},
		"login":   {"jwt (string)", "role (string)"},
	} {
		resp, err := b.Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "auth/jwt/"})
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
