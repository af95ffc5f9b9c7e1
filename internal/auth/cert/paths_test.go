package cert_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/cert"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// The route table keeps the unauthenticated path, answers an unknown path
// and a wrong operation one way each, and documents its fields.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	b, err := cert.New(ctx, &logicaltest.InmemStorage{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.UnauthenticatedPaths(); !slices.Equal(got, []string{"login"}) {
		t.Errorf("UnauthenticatedPaths = %q", got)
	}
	for _, tt := range []struct {
		op   logical.Operation
		path string
		want error
	}{
		{logical.ReadOperation, "login", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "certs", logical.ErrUnsupportedOperation},
		{logical.ListOperation, "certs/x", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "certs/x/y", logical.ErrUnsupportedPath},
	} {
		if _, err := b.HandleRequest(ctx, &logical.Request{Operation: tt.op, Path: tt.path}); !errors.Is(err, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
	resp, err := b.Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: "certs/ci", MountPoint: "auth/cert/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"certificate (string)", "allowed_common_names (slice)", "token_ttl (duration (sec))"} {
		if !strings.Contains(string(resp.Raw), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}
