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

// BenchmarkHandleReadIdentity is BenchmarkHandleRead for a login token
// whose read grant comes from a group two levels up: the identity
// policies are resolved at every request (from the per-entity cache).
func BenchmarkHandleReadIdentity(b *testing.B) {
	t := &testing.T{}
	c, root := newCore(t, map[string]logical.Factory{"claims": func(context.Context, *logical.BackendConfig) (logical.Backend, error) { return claimsAuth{}, nil }})
	ctx := context.Background()
	do := func(tok string, op logical.Operation, path string, data map[string]any) *logical.Response {
		resp, err := c.HandleRequest(ctx, &logical.Request{ID: "x", Operation: op, Path: path, ClientToken: sensitive.NewString(tok), Data: data})
		if err != nil {
			b.Fatalf("%s %s: %v", op, path, err)
		}
		return resp
	}
	do(root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	do(root, logical.UpdateOperation, "sys/policies/acl/r", map[string]any{"policy": `path "secret/data/app/*" { capabilities = ["read"] }`})
	do(root, logical.UpdateOperation, "sys/policies/acl/per-repo", map[string]any{"policy": `path "secret/data/none" { capabilities = ["read"] }`})
	do(root, logical.UpdateOperation, "secret/data/app/db", map[string]any{"data": map[string]any{"password": "0123456789abcdef", "user": "svc"}})
	login := do("", logical.UpdateOperation, "auth/ci/login", map[string]any{"alias": "job", "repository": "octo/app"})
	tok := login.Auth.ClientToken.Reveal()
	team := do(root, logical.UpdateOperation, "identity/group", map[string]any{"name": "team", "member_entity_ids": login.Auth.EntityID}).Data["id"].(string)
	do(root, logical.UpdateOperation, "identity/group", map[string]any{"name": "org", "policies": "r", "member_group_ids": team})
	conn := &logical.Connection{RemoteAddr: "127.0.0.1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.HandleRequest(ctx, &logical.Request{ID: "x", Operation: logical.ReadOperation, Path: "secret/data/app/db", ClientToken: sensitive.NewString(tok), Connection: conn}); err != nil {
			b.Fatal(err)
		}
	}
}
