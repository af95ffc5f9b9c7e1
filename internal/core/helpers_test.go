package core_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/wrapping"
)

// withKV adds the KV engine and its in-place upgrade to cfg, as node does.
func withKV(cfg core.Config) core.Config {
	engines := map[string]logical.Factory{"kv": kv.Factory}
	for k, f := range cfg.Engines {
		engines[k] = f
	}
	cfg.Engines = engines
	cfg.KVUpgrade = &core.KVUpgrade{Prepare: kv.PrepareUpgrade, Abort: kv.AbortUpgrade}
	return cfg
}

// leaseService is the lease manager as a sys/ service, as node builds it.
func leaseService() core.Service {
	return core.Service{Name: "leases", Paths: []string{"leases", "renew", "revoke", "revoke-prefix", "revoke-force"}, Storage: "sys/expire/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			return lease.New(ctx, env.Storage, env.Engines, env.Logger, lease.Options{})
		}}
}

// wrappingService is response wrapping as a sys/ service, as node builds it.
func wrappingService() core.Service {
	return core.Service{Name: "response wrapping", Paths: []string{"wrapping"}, Storage: "sys/wrapping/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			return wrapping.New(ctx, env.Storage, env.Logger, wrapping.Options{})
		}}
}

func newCore(t *testing.T, methods map[string]logical.Factory) (*core.Core, string) {
	t.Helper()
	return newCoreWith(t, core.Config{Storage: inmem.New(), AuthMethods: methods})
}

// newCoreWith starts a core from cfg as startCore does, with KV version 2
// at secret/. It returns the core and its root token.
func newCoreWith(t *testing.T, cfg core.Config) (*core.Core, string) {
	t.Helper()
	c, root, _ := startCore(t, cfg)
	if err := c.MountDefaultKV(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, root
}

// startCore starts a core from cfg with the kv engine added (withKV),
// initialized with one share and unsealed, closed at cleanup. It returns the core, its root token and its
// unseal shares.
func startCore(t *testing.T, cfg core.Config) (*core.Core, string, []sensitive.Bytes) {
	t.Helper()
	c, err := core.New(withKV(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	res, err := c.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	return c, res.RootToken.Reveal(), res.Shares
}

func call(t *testing.T, c *core.Core, tok string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: op, Path: path, Data: data, ClientToken: sensitive.NewString(tok),
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"}})
}

func mustCall(t *testing.T, c *core.Core, tok string, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	resp, err := call(t, c, tok, op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}
