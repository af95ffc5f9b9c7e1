package core_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// TokenKnown answers for valid tokens only, and asking takes no use of a
// use-limited token (the HTTP layer asks before reading a large body).
func TestTokenKnown(t *testing.T) {
	c, root := newCore(t, nil)
	ctx := context.Background()
	create := func(data map[string]any) string {
		t.Helper()
		resp, err := c.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "auth/token/create", ClientToken: sensitive.NewString(root), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Auth.ClientToken.Reveal()
	}
	once := create(map[string]any{"num_uses": 1})
	revoked := create(nil)
	if _, err := c.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "auth/token/revoke", ClientToken: sensitive.NewString(root), Data: map[string]any{"token": revoked}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token string
		want        bool
	}{
		{"root", root, true},
		{"use-limited", once, true},
		{"use-limited, asked again", once, true},
		{"revoked", revoked, false},
		{"made up", "kw.s.made-up", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := c.TokenKnown(ctx, tt.token); got != tt.want {
			t.Errorf("TokenKnown(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	// The single use is still there (a request context that ends, as an
	// HTTP request's does, lets the last use be served in full).
	rctx, cancel := context.WithCancel(ctx)
	_, err := c.HandleRequest(rctx, &logical.Request{Operation: logical.ReadOperation, Path: "auth/token/lookup-self", ClientToken: sensitive.NewString(once)})
	cancel()
	if err != nil {
		t.Errorf("lookup-self with the use-limited token after TokenKnown: %v", err)
	}
	if c.TokenKnown(ctx, once) {
		t.Error("TokenKnown is true for a use-limited token whose only use was taken")
	}
	c.Seal()
	if c.TokenKnown(ctx, root) {
		t.Error("a sealed core knows the root token")
	}
}

// BenchmarkTokenKnown is what the HTTP layer pays, only for a body larger
// than the unauthenticated limit, to learn whether its token is valid.
func BenchmarkTokenKnown(b *testing.B) {
	c, root := newCore(&testing.T{}, nil)
	ctx := context.Background()
	for _, tok := range []struct{ name, token string }{{"valid", root}, {"made-up", "kw.s.made-up"}} {
		b.Run(tok.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.TokenKnown(ctx, tok.token)
			}
		})
	}
}
