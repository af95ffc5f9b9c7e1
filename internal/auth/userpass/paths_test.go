package userpass_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// The route table serves what the hand-written switch did: the same
// unauthenticated paths, create versus update on users/NAME only, one
// answer for an unknown path and one for a wrong operation, and help for
// every route.
func TestRoutes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got := f.b.UnauthenticatedPaths(); !slices.Equal(got, []string{"login", "login/*"}) {
		t.Errorf("UnauthenticatedPaths = %q", got)
	}
	f.must(t, logical.UpdateOperation, "users/alice", map[string]any{"password": "pw-1"})
	for _, tt := range []struct {
		path          string
		found, exists bool
	}{
		{"users/alice", true, true}, {"users/ALICE", true, true}, {"users/bob", true, false},
		{"users/alice/password", false, false}, {"config", false, false},
	} {
		found, exists, err := f.b.ExistenceCheck(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: tt.path})
		if err != nil || found != tt.found || exists != tt.exists {
			t.Errorf("ExistenceCheck(%s) = %v %v %v", tt.path, found, exists, err)
		}
	}
	for _, tt := range []struct {
		op   logical.Operation
		path string
		want error
	}{
		{logical.ReadOperation, "users/alice/password", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "login", logical.ErrUnsupportedOperation},
		{logical.ListOperation, "config", logical.ErrUnsupportedOperation},
		{logical.UpdateOperation, "users/alice/bogus", logical.ErrUnsupportedPath},
		{logical.ReadOperation, "nothing", logical.ErrUnsupportedPath},
	} {
		if _, err := f.do(tt.op, tt.path, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
	for path, want := range map[string][]string{
		"users/alice":                   {"username (string)", "mfa_required (bool)", "token_policies (slice)", "token_ttl (duration (sec))"},
		"login/alice":                   {"password (string)", "totp (string)"},
		"config":                        {"mfa_policies (slice)", "lockout_threshold (int)"},
		"users/alice/mfa/totp/generate": {"Enroll a new TOTP key"},
		"":                              {"users/{username}/password", "Argon2id"},
	} {
		resp, err := f.b.Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "auth/userpass/"})
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
