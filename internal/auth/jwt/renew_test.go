package jwt_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// RenewAuth lets a token renew while its role exists and, when the role
// now binds token_bound_cidrs, only from inside them.
func TestRenewAuth(t *testing.T) {
	f := newFixture(t, 0)
	f.roles()
	a, err := f.login("gh-prod", f.sign(ghMain(f.is.URL)))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	renew := func(meta map[string]string, conn *logical.Connection) error {
		return f.b.RenewAuth(context.Background(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "renew-self", Storage: f.s, Connection: conn,
		}, meta)
	}
	from := func(ip string) *logical.Connection { return &logical.Connection{RemoteAddr: ip} }

	if err := renew(a.Metadata, from("203.0.113.9")); err != nil {
		t.Fatalf("renew with the role unchanged: %v", err)
	}
	f.mustWrite("role/gh-prod", map[string]any{"token_bound_cidrs": []any{"10.0.0.0/8", "192.0.2.7"}})
	tests := []struct {
		name    string
		meta    map[string]string
		conn    *logical.Connection
		wantErr bool
	}{
		{"inside the new cidrs", a.Metadata, from("10.1.2.3"), false},
		{"bare address in the new cidrs", a.Metadata, from("192.0.2.7"), false},
		{"ipv4-mapped ipv6 inside", a.Metadata, from("::ffff:10.1.2.3"), false},
		{"outside the new cidrs", a.Metadata, from("203.0.113.9"), true},
		{"no connection", a.Metadata, nil, true},
		{"unparsable address", a.Metadata, from("not-an-ip"), true},
		{"no role in metadata", map[string]string{}, from("10.1.2.3"), true},
		{"invalid role name", map[string]string{"role": "../gh-prod"}, from("10.1.2.3"), true},
		{"unknown role", map[string]string{"role": "gone"}, from("10.1.2.3"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := renew(tc.meta, tc.conn)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("renew: %v", err)
				}
				return
			}
			if code, _, _ := logical.StatusOf(err); err == nil || code != http.StatusForbidden {
				t.Fatalf("renew: err = %v, want a 403", err)
			}
		})
	}

	if _, err := f.do(logical.DeleteOperation, "role/gh-prod", nil); err != nil {
		t.Fatal(err)
	}
	err = renew(a.Metadata, from("10.1.2.3"))
	if code, msg, _ := logical.StatusOf(err); err == nil || code != http.StatusForbidden || msg == "" {
		t.Fatalf("renew after the role was deleted: err = %v, want a 403", err)
	}
}
