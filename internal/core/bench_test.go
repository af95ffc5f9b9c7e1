package core_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// BenchmarkHandleRead is the core's share of a KV v2 read by a non-root
// token: token check, ACL, routing, KV engine and barrier (in-memory store).
func BenchmarkHandleRead(b *testing.B) {
	t := &testing.T{}
	c, root := newCore(t, nil)
	ctx := context.Background()
	_, err := c.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "sys/policies/acl/r", ClientToken: sensitive.NewString(root),
		Data: map[string]any{"policy": `path "secret/data/app/*" { capabilities = ["read"] }`}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "secret/data/app/db", ClientToken: sensitive.NewString(root),
		Data: map[string]any{"data": map[string]any{"password": "0123456789abcdef", "user": "svc"}}}); err != nil {
		b.Fatal(err)
	}
	resp, err := c.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "auth/token/create", ClientToken: sensitive.NewString(root),
		Data: map[string]any{"policies": []any{"r"}}})
	if err != nil {
		b.Fatal(err)
	}
	tok := resp.Auth.ClientToken.Reveal()
	conn := &logical.Connection{RemoteAddr: "127.0.0.1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.HandleRequest(ctx, &logical.Request{ID: "x", Operation: logical.ReadOperation, Path: "secret/data/app/db", ClientToken: sensitive.NewString(tok), Connection: conn}); err != nil {
			b.Fatal(err)
		}
	}
}
