package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// An auth mount's tuned token_type decides the type of its logins' tokens
// (the claims test method asks for none); it is refused where Vault
// refuses it and shown where Vault shows it.
func TestMountTokenType(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"claims": claimsFactory})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	login := func() *logical.Auth {
		t.Helper()
		return mustCall(t, c, "", logical.UpdateOperation, "auth/ci/login", map[string]any{"alias": "job", "repository": "octo/app"}).Auth
	}
	tuned := func() string {
		t.Helper()
		return mustCall(t, c, root, logical.ReadOperation, "sys/auth/ci/tune", nil).Data["token_type"].(string)
	}
	if a, got := login(), tuned(); a.TokenType != "service" || !strings.HasPrefix(a.ClientToken.Reveal(), "kws_") || got != "default-service" {
		t.Fatalf("untuned mount: login type %q, tune reads %q; want service, default-service", a.TokenType, got)
	}
	for _, tt := range []struct{ set, want string }{
		{"batch", "batch"}, {"default-batch", "batch"}, {"service", "service"}, {"default-service", "service"}, {"", "service"},
	} {
		mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci/tune", map[string]any{"token_type": tt.set})
		a := login()
		if a.TokenType != tt.want || (tt.want == "batch") != strings.HasPrefix(a.ClientToken.Reveal(), "kwb_") {
			t.Errorf("token_type %q: login issued %q", tt.set, a.TokenType)
		}
		if tt.want == "batch" && (a.Accessor != "" || a.Renewable) {
			t.Errorf("token_type %q: batch login has accessor %q, renewable %v", tt.set, a.Accessor, a.Renewable)
		}
		// The token works.
		mustCall(t, c, a.ClientToken.Reveal(), logical.ReadOperation, "auth/token/lookup-self", nil)
	}
	if got := tuned(); got != "default-service" {
		t.Errorf("after tuning default-service and then \"\": tune reads %q, want default-service", got)
	}

	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/cb", map[string]any{"type": "claims", "config": map[string]any{"token_type": "batch"}})
	if a := mustCall(t, c, "", logical.UpdateOperation, "auth/cb/login", map[string]any{"alias": "job"}).Auth; a.TokenType != "batch" {
		t.Errorf("mount enabled with token_type batch issued %q", a.TokenType)
	}
	auths := mustCall(t, c, root, logical.ReadOperation, "sys/auth", nil)
	if got := auths.Data["cb/"].(map[string]any)["config"].(map[string]any)["token_type"]; got != "batch" {
		t.Errorf("sys/auth lists cb/ with token_type %v, want batch", got)
	}
	if _, ok := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/secret/tune", nil).Data["token_type"]; ok {
		t.Error("a secrets mount's tune shows a token_type")
	}

	for _, bad := range []struct{ path, value string }{
		{"sys/auth/ci/tune", "Batch"},
		{"sys/auth/ci/tune", "hybrid"},
		{"sys/mounts/secret/tune", "batch"},
		{"sys/auth/token/tune", "batch"},
	} {
		if _, err := call(t, c, root, logical.UpdateOperation, bad.path, map[string]any{"token_type": bad.value}); statusOf(err) != 400 {
			t.Errorf("%s token_type=%q: %v, want 400", bad.path, bad.value, err)
		}
	}
	if _, err := call(t, c, root, logical.UpdateOperation, "sys/mounts/kv2", map[string]any{"type": "kv", "config": map[string]any{"token_type": "batch"}}); statusOf(err) != 400 {
		t.Errorf("secrets mount enabled with a token_type: %v, want 400", err)
	}
}

// batchLeaser is a secrets engine whose every read is a revocable lease.
type batchLeaser struct {
	mu      sync.Mutex
	revoked int
}

func (l *batchLeaser) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return &logical.Response{Data: map[string]any{"user": "u"}, Secret: &logical.Secret{TTL: time.Hour, Renewable: true}}, nil
}

func (l *batchLeaser) Revoke(context.Context, *logical.Request, *logical.Secret) error {
	l.mu.Lock()
	l.revoked++
	l.mu.Unlock()
	return nil
}

func (l *batchLeaser) revocations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revoked
}

// A lease taken with a batch token ends by the token's expiry at the
// latest, since no revocation of the token ends it; it belongs to the batch
// token, which may revoke it, and outlives a revoked parent only until then.
func TestBatchTokenLeases(t *testing.T) {
	eng := &batchLeaser{}
	c, root := newCoreWith(t, core.Config{
		Storage:  inmem.New(),
		Engines:  map[string]logical.Factory{"batchleaser": func(context.Context, *logical.BackendConfig) (logical.Backend, error) { return eng, nil }},
		Services: []core.Service{leaseService()},
	})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/lz", map[string]any{"type": "batchleaser"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/policies/acl/lz", map[string]any{"policy": `
path "lz/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "auth/token/create" { capabilities = ["update"] }`})
	parent := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": "lz", "ttl": "1h"}).Auth
	child := mustCall(t, c, parent.ClientToken.Reveal(), logical.UpdateOperation, "auth/token/create", map[string]any{"type": "batch", "ttl": "5m"}).Auth
	orphan := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"type": "batch", "policies": "lz", "ttl": "2m"}).Auth

	leases := map[string]string{}
	for _, tt := range []struct {
		name string
		tok  string
		max  time.Duration
	}{{"child", child.ClientToken.Reveal(), 5 * time.Minute}, {"orphan", orphan.ClientToken.Reveal(), 2 * time.Minute}} {
		s := mustCall(t, c, tt.tok, logical.ReadOperation, "lz/cred", nil).Secret
		if s == nil || s.LeaseID == "" || s.TTL <= 0 || s.TTL > tt.max || s.MaxTTL > tt.max {
			t.Fatalf("%s batch token's lease = %+v, want ttl and max ttl at most %s", tt.name, s, tt.max)
		}
		leases[tt.name] = s.LeaseID
	}
	svc := mustCall(t, c, parent.ClientToken.Reveal(), logical.ReadOperation, "lz/cred", nil).Secret
	if svc.TTL != time.Hour {
		t.Errorf("a service token's lease TTL = %s, want the engine's 1h", svc.TTL)
	}
	waitRevocations := func(n int) {
		t.Helper()
		clocktest.Eventually(t, fmt.Sprintf("%d lease revocations", n), func() bool { return eng.revocations() >= n })
	}

	// The batch token revokes its own lease, as keyward run does at the
	// end of a job; another token may not.
	if _, err := call(t, c, orphan.ClientToken.Reveal(), logical.UpdateOperation, "sys/leases/revoke", map[string]any{"lease_id": leases["child"]}); statusOf(err) != 403 {
		t.Errorf("a batch token revoking another's lease: %v, want 403", err)
	}
	mustCall(t, c, orphan.ClientToken.Reveal(), logical.UpdateOperation, "sys/leases/revoke", map[string]any{"lease_id": leases["orphan"]})
	waitRevocations(1)

	// Revoking the parent ends the batch child and the parent's own lease;
	// the child's lease runs to its capped end.
	mustCall(t, c, root, logical.UpdateOperation, "auth/token/revoke-accessor", map[string]any{"accessor": parent.Accessor})
	waitRevocations(2)
	if _, err := call(t, c, child.ClientToken.Reveal(), logical.ReadOperation, "lz/cred", nil); statusOf(err) != 403 {
		t.Errorf("batch token of a revoked parent: %v, want 403", err)
	}
	look := mustCall(t, c, root, logical.UpdateOperation, "sys/leases/lookup", map[string]any{"lease_id": leases["child"]})
	if look.Data["id"] != leases["child"] {
		t.Errorf("lookup of the child's lease = %v", look.Data)
	}
	mustCall(t, c, orphan.ClientToken.Reveal(), logical.ReadOperation, "lz/cred", nil)
}
