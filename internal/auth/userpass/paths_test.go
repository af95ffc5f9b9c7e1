package userpass_test

import (
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// The route table serves what the hand-written switch did: the same
// unauthenticated paths, create versus update on users/NAME only, one
// answer for an unknown path and one for a wrong operation, and help for
// every route.
func TestRoutes(t *testing.T) {
	f := newFixture(t)
	routetest.Unauthenticated(t, f.b, "login", "login/*")
	f.must(t, logical.UpdateOperation, "users/alice", map[string]any{"password": "pw-1"})
	routetest.ExistenceChecks(t, f.b, nil, routetest.Existence{
		Exists:  []string{"users/alice", "users/ALICE"},
		Absent:  []string{"users/bob"},
		NoCheck: []string{"users/alice/password", "config"},
	})
	routetest.Refusals(t, f.b, nil, routetest.Refusal{
		WrongOperation: []string{"read users/alice/password", "read login", "list config"},
		UnknownPath:    []string{"update users/alice/bogus", "read nothing"},
	})
	routetest.Help(t, f.b, "auth/userpass/", map[string][]string{
		"users/alice":                   {"username (string)", "mfa_required (bool)", "token_policies (slice)", "token_ttl (duration (sec))"},
		"login/alice":                   {"password (string)", "totp (string)"},
		"config":                        {"mfa_policies (slice)", "lockout_threshold (int)"},
		"users/alice/mfa/totp/generate": {"Enroll a new TOTP key"},
		"":                              {"users/{username}/password", "Argon2id"},
	})
}
