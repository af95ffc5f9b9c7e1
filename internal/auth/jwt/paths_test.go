package jwt_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// The route table keeps the unauthenticated path and the create/update
// checks on config and role/NAME, answers an unknown path and a wrong
// operation one way each, and documents its fields.
func TestRoutes(t *testing.T) {
	b := jwt.New(jwt.Options{})
	s := &logicaltest.InmemStorage{}
	if err := s.Put(context.Background(), "role/ci", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	routetest.Unauthenticated(t, b, "login")
	routetest.ExistenceChecks(t, b, s, routetest.Existence{
		Exists:  []string{"role/ci"},
		Absent:  []string{"config", "role/cd"},
		NoCheck: []string{"role/ci/lint", "login"},
	})
	routetest.Refusals(t, b, s, routetest.Refusal{
		WrongOperation: []string{"read login", "update role/ci/lint"},
		UnknownPath:    []string{"read role/ci/other", "read elsewhere"},
	})
	routetest.Help(t, b, "auth/jwt/", map[string][]string{
		"role/ci": {"bound_audiences (slice)", "bound_claims (map)", "token_ttl (duration (sec))"},
		"config":  {"oidc_discovery_url (string)", "jwks_cache_ttl (duration (sec))"},
		"login":   {"jwt (string)", "role (string)"},
	})
}
