package approle_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/auth/approle"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
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
	routetest.Unauthenticated(t, b, "login")
	if _, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "role/web"}); err != nil {
		t.Fatal(err)
	}
	routetest.ExistenceChecks(t, b, nil, routetest.Existence{
		Exists:  []string{"role/web", "role/WEB"},
		Absent:  []string{"role/db"},
		NoCheck: []string{"role/web/role-id"},
	})
	routetest.Refusals(t, b, nil, routetest.Refusal{
		WrongOperation: []string{"read login", "read role/web/secret-id/lookup", "delete role/web/secret-id/lookup"},
		UnknownPath:    []string{"read role/web/bogus"},
	})
	routetest.Help(t, b, "auth/approle/", map[string][]string{
		"role/web":                  {"role_name (string)", "bind_secret_id (bool)", "secret_id_ttl (duration (sec))", "token_policies (slice)"},
		"role/web/secret-id":        {"metadata (string)", "num_uses (int)"},
		"login":                     {"role_id (string)", "secret_id (string)"},
		"role/web/custom-secret-id": {"secret_id (string)"},
	})
}
