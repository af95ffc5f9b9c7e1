package database_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/engine/database"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
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
	routetest.Refusals(t, b, nil, routetest.Refusal{
		WrongOperation: []string{"update creds/ro", "read rotate-root/pg", "delete roles"},
		UnknownPath:    []string{"read creds", "read elsewhere/x"},
	})
	routetest.Help(t, b, "database/", map[string][]string{
		"config/pg":        {"connection_url (string)", "allowed_roles (slice)", "max_open_connections (int)"},
		"roles/ro":         {"creation_statements (slice)", "default_ttl (duration (sec))"},
		"static-roles/app": {"rotation_schedule (string)", "alternate_username (string)"},
		"creds/ro":         {"name (string)"},
	})
}
