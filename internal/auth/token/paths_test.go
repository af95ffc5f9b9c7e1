package token_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

// Every token store path documents its fields, from the same lists the
// handlers check.
func TestRoutesHelp(t *testing.T) {
	f := newFixture(t, token.Options{})
	h := f.store.Backend().(logical.Helper)
	for path, want := range map[string][]string{
		"create":           {"policies (slice)", "num_uses (int)", "explicit_max_ttl (duration (sec))"},
		"create/ci":        {"role_name (string)", "policies (slice)"},
		"roles/ci":         {"allowed_policies (slice)", "token_num_uses (int)", "Not supported by Keyward"},
		"renew-accessor":   {"accessor (string)", "increment (duration (sec))"},
		"batch-key/rotate": {"revoke_existing (bool)"},
	} {
		resp, err := h.Help(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "auth/token/"})
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
