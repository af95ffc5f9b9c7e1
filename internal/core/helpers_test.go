package core_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/inmem"
)

func newCore(t *testing.T, methods map[string]logical.Factory) (*core.Core, string) {
	t.Helper()
	return newCoreWith(t, core.Config{Storage: inmem.New(), AuthMethods: methods})
}

// newCoreWith starts a core from cfg: initialized with one share, unsealed,
// KV version 2 at secret/. It returns the core and its root token.
func newCoreWith(t *testing.T, cfg core.Config) (*core.Core, string) {
	t.Helper()
	c, err := core.New(cfg)
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
	if err := c.MountDefaultKV(ctx); err != nil {
		t.Fatal(err)
	}
	return c, res.RootToken.Reveal()
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
