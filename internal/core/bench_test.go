package core_test

import (
	"context"
	"io"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/inmem"
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

// BenchmarkHandleReadMetered is BenchmarkHandleRead's KV v2 read from 8
// parallel callers with a node's registry (request metrics, Go and process
// collectors) and, in the scraped case, a scraper gathering the registry
// between reads the whole time, as Prometheus would every few seconds, only
// much more often. It checks that every read was counted under secret/.
func BenchmarkHandleReadMetered(b *testing.B) {
	for _, scraped := range []bool{false, true} {
		name := "parallel"
		if scraped {
			name = "parallel+scrape"
		}
		b.Run(name, func(b *testing.B) {
			t := &testing.T{}
			reg := monitor.NewRegistry()
			reg.AddRuntimeCollectors()
			c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Metrics: reg})
			ctx := context.Background()
			mustCall(t, c, root, logical.UpdateOperation, "secret/data/app/db",
				map[string]any{"data": map[string]any{"password": "0123456789abcdef", "user": "svc"}})
			done := make(chan struct{})
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				for scraped {
					select {
					case <-done:
						return
					default:
					}
					if err := reg.WritePrometheus(io.Discard); err != nil {
						panic(err)
					}
				}
			}()
			before := readCount(b, reg)
			b.ReportAllocs()
			b.SetParallelism(4) // 8 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conn := &logical.Connection{RemoteAddr: "127.0.0.1"}
				for pb.Next() {
					if _, err := c.HandleRequest(ctx, &logical.Request{ID: "x", Operation: logical.ReadOperation, Path: "secret/data/app/db",
						ClientToken: sensitive.NewString(root), Connection: conn}); err != nil {
						panic(err)
					}
				}
			})
			b.StopTimer()
			close(done)
			<-stopped
			if got := readCount(b, reg) - before; got != float64(b.N) {
				b.Fatalf("secret/ read 2xx counted %v times, want %d", got, b.N)
			}
		})
	}
}

// readCount is keyward_mount_requests_total{mount="secret/",operation="read",status="2xx"}.
func readCount(b *testing.B, reg *monitor.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != monitor.MountRequestsTotal {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["mount"] == "secret/" && l["operation"] == "read" && l["status"] == "2xx" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
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
