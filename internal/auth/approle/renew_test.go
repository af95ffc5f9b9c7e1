package approle_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// RenewAuth lets a token renew while its role exists; secret_id metadata
// cannot name another role.
func TestRenewAuth(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/ci", map[string]any{"token_policies": "deploy"})
	f.must(t, logical.UpdateOperation, "role/other", map[string]any{"token_policies": "other"})
	sid, _ := f.secretID(t, "ci", map[string]any{"metadata": `{"role_name":"other"}`})
	resp, err := f.login(f.roleID(t, "ci"), sid, "127.0.0.1")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	meta := resp.Auth.Metadata
	if meta["role_name"] != "ci" {
		t.Fatalf("metadata role_name = %q, want ci", meta["role_name"])
	}
	renew := func(meta map[string]string) error {
		return f.b.RenewAuth(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "renew-self", Storage: f.s}, meta)
	}
	if err := renew(meta); err != nil {
		t.Fatalf("renew while the role exists: %v", err)
	}
	f.must(t, logical.DeleteOperation, "role/ci", nil)
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"deleted role", meta},
		{"no role_name", map[string]string{}},
		{"invalid role_name", map[string]string{"role_name": "../other"}},
		{"unknown role", map[string]string{"role_name": "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := renew(tc.meta)
			if code, _, _ := logical.StatusOf(err); err == nil || code != http.StatusForbidden {
				t.Fatalf("renew: err = %v, want a 403", err)
			}
		})
	}
	if err := renew(map[string]string{"role_name": "Other"}); err != nil {
		t.Fatalf("renew for a role that still exists: %v", err)
	}
}
