package core_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// fixedPasswords is a password-policy service that answers one password.
type fixedPasswords struct{}

func (fixedPasswords) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, logical.ErrUnsupportedPath
}
func (fixedPasswords) Close() error { return nil }
func (fixedPasswords) Generate(context.Context, string) (string, error) {
	return "from-policy", nil
}

type passwordGen interface {
	GeneratePasswordFromPolicy(ctx context.Context, policy string) (string, error)
}

// An engine's background work that asks for a policy password while the
// core unseals (engines start before the services) gets it once the
// password service is up, never a refusal. The service's factory waits
// until the engine has asked, so the engine asks before it exists.
func TestPolicyPasswordDuringUnseal(t *testing.T) {
	var armed atomic.Bool
	asking := make(chan struct{})
	got := make(chan string, 1)
	engine := func(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		if armed.Load() {
			go func() {
				close(asking)
				pw, err := conf.System.(passwordGen).GeneratePasswordFromPolicy(context.Background(), "p")
				if err != nil {
					pw = "error: " + err.Error()
				}
				got <- pw
			}()
		}
		return fixedPasswords{}, nil
	}
	c, err := core.New(withKV(core.Config{Storage: inmem.New(),
		Engines: map[string]logical.Factory{"rotator": engine},
		Services: []core.Service{{Name: "password policies", Paths: []string{"policies/password"},
			New: func(context.Context, core.ServiceEnv) (core.ServiceBackend, error) {
				if armed.Load() {
					<-asking
				}
				return fixedPasswords{}, nil
			}}}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	res, err := c.Initialize(t.Context(), core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(t.Context(), res.Shares); err != nil {
		t.Fatal(err)
	}
	mustCall(t, c, res.RootToken.Reveal(), logical.UpdateOperation, "sys/mounts/rot", map[string]any{"type": "rotator"})
	c.Seal()
	armed.Store(true)
	if err := c.Unseal(t.Context(), res.Shares); err != nil {
		t.Fatal(err)
	}
	if pw := <-got; pw != "from-policy" {
		t.Fatalf("password asked for during unseal = %q, want the policy's", pw)
	}
}
