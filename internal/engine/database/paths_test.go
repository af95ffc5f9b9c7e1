package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/engine/database"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// The route table answers an unknown path and a wrong operation one way
// each, and documents every path's fields.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	b, err := database.Factory(ctx, &logical.BackendConfig{MountPoint: "database/", Storage: &logicaltest.InmemStorage{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.(logical.Cleaner).Cleanup(ctx)
	for _, tt := range []struct {
		op   logical.Operation
		path string
		want error
	}{
		{logical.UpdateOperation, "creds/ro", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "rotate-root/pg", logical.ErrUnsupportedOperation},
		{logical.DeleteOperation, "roles", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "creds", logical.ErrUnsupportedPath},
		{logical.ReadOperation, "elsewhere/x", logical.ErrUnsupportedPath},
	} {
		if _, err := b.HandleRequest(ctx, &logical.Request{Operation: tt.op, Path: tt.path}); !errors.Is(err, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
	for path, want := range map[string][]string{
		"config/pg":        {"connection_url (string)", "allowed_roles (slice)", "max_open_connections (int)"},
		"roles/ro":         {"creation_statements (slice)", "default_ttl (duration (sec))"},
		"static-roles/app": {"rotation_schedule (string)", "alternate_username (string)"},
		"creds/ro":         {"name (string)"},
	} {
		resp, err := b.(logical.Helper).Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "database/"})
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
