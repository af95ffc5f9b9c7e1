package cert_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/auth/cert"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// The route table keeps the unauthenticated path, answers an unknown path
// and a wrong operation one way each, and documents its fields.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	b, err := cert.New(ctx, &logicaltest.InmemStorage{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	routetest.Unauthenticated(t, b, "login")
	routetest.Refusals(t, b, nil, routetest.Refusal{
		WrongOperation: []string{"read login", "read certs", "list certs/x"},
		UnknownPath:    []string{"read certs/x/y"},
	})
	routetest.Help(t, b, "auth/cert/", map[string][]string{
		"certs/ci": {"certificate (string)", "allowed_common_names (slice)", "token_ttl (duration (sec))"},
	})
}
