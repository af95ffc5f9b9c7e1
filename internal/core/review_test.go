package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

func claimsFactory(context.Context, *logical.BackendConfig) (logical.Backend, error) {
	return claimsAuth{}, nil
}

// tokenWith creates a token holding one policy with the given rules.
func tokenWith(t *testing.T, c *core.Core, root, name, rules string) string {
	t.Helper()
	mustCall(t, c, root, logical.UpdateOperation, "sys/policies/acl/"+name, map[string]any{"policy": rules})
	resp := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{name}})
	return resp.Auth.ClientToken.Reveal()
}

// sys/mounts never removes an auth method, and enabling an auth method
// needs sudo.
func TestMountTablesStaySeparate(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"claims": claimsFactory})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	tok := tokenWith(t, c, root, "mounts-admin", `
path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/auth/*" { capabilities = ["create", "read", "update", "delete"] }`)
	_, _ = call(t, c, tok, logical.DeleteOperation, "sys/mounts/auth/ci", nil)
	auths := mustCall(t, c, root, logical.ReadOperation, "sys/auth", nil)
	if _, ok := auths.Data["ci/"]; !ok {
		t.Fatal("DELETE sys/mounts/auth/ci removed the auth method")
	}
	if _, err := call(t, c, tok, logical.UpdateOperation, "sys/auth/ci2", map[string]any{"type": "claims"}); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("enabling an auth method without sudo: %v, want permission denied", err)
	}
	if _, err := call(t, c, tok, logical.DeleteOperation, "sys/auth/ci", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("disabling an auth method without sudo: %v, want permission denied", err)
	}
}

// An auth mount's tuned TTLs bound the tokens it issues.
func TestAuthMountTTLsBoundLogins(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"claims": claimsFactory})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci/tune", map[string]any{"default_lease_ttl": "60s", "max_lease_ttl": "120s"})
	resp := mustCall(t, c, "", logical.UpdateOperation, "auth/ci/login", map[string]any{"alias": "job", "repository": "octo/app"})
	if ttl := resp.Auth.TTL.Seconds(); ttl <= 0 || ttl > 60 {
		t.Fatalf("login token TTL = %vs, want the mount default of 60s", ttl)
	}
	tok := resp.Auth.ClientToken.Reveal()
	renewed := mustCall(t, c, tok, logical.UpdateOperation, "auth/token/renew-self", map[string]any{"increment": "1h"})
	if ttl := renewed.Auth.TTL.Seconds(); ttl > 120 {
		t.Fatalf("renewed TTL = %vs, want at most the mount max of 120s", ttl)
	}
}

// Without a grant that reaches the path, a missing mount looks like an
// existing one: 403, not 404.
func TestMissingMountIsNotRevealed(t *testing.T) {
	c, root := newCore(t, nil)
	tok := tokenWith(t, c, root, "narrow", `path "secret/data/app/*" { capabilities = ["read"] }`)
	for _, p := range []string{"nosuchmount/x", "secret/data/other"} {
		if _, err := call(t, c, tok, logical.ReadOperation, p, nil); !errors.Is(err, logical.ErrPermissionDenied) {
			t.Errorf("read %s: %v, want permission denied", p, err)
		}
	}
	// Root learns the truth.
	if _, err := call(t, c, root, logical.ReadOperation, "nosuchmount/x", nil); err == nil || errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("root read of a missing mount: %v, want no handler", err)
	}
}

// sys/internal/ui/mounts authenticates like any request and shows only
// reachable mounts.
func TestUIMountsFiltersAndBinds(t *testing.T) {
	c, root := newCore(t, nil)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/team", map[string]any{"type": "kv"})
	tok := tokenWith(t, c, root, "app", `path "secret/data/app/*" { capabilities = ["read"] }`)
	resp := mustCall(t, c, tok, logical.ReadOperation, "sys/internal/ui/mounts", nil)
	secret := resp.Data["secret"].(map[string]any)
	if _, ok := secret["secret/"]; !ok {
		t.Error("reachable mount secret/ not listed")
	}
	if _, ok := secret["team/"]; ok {
		t.Error("unreachable mount team/ listed")
	}
	if _, err := call(t, c, tok, logical.ReadOperation, "sys/internal/ui/mounts/team/x", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("probe of an unreachable mount: %v, want permission denied", err)
	}
	bound := mustCall(t, c, root, logical.UpdateOperation, "auth/token/roles/far", map[string]any{"allowed_policies": []any{"app"}, "token_bound_cidrs": []any{"10.0.0.0/8"}})
	_ = bound
	ft := mustCall(t, c, root, logical.UpdateOperation, "auth/token/create/far", map[string]any{"policies": []any{"app"}}).Auth.ClientToken.Reveal()
	if _, err := call(t, c, ft, logical.ReadOperation, "sys/internal/ui/mounts", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("CIDR-bound token from another address: %v, want permission denied", err)
	}
}

// A mount whose engine fails to start stays in the table, answers 503, and
// works again once its engine is back.
func TestBrokenMountIsKept(t *testing.T) {
	store := inmem.New()
	ctx := context.Background()
	start := func(methods map[string]logical.Factory) *core.Core {
		c, err := core.New(withKV(core.Config{Storage: store, AuthMethods: methods}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start(map[string]logical.Factory{"claims": claimsFactory})
	res, err := c.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	root := res.RootToken
	mustCall(t, c, root.Reveal(), logical.UpdateOperation, "sys/auth/important", map[string]any{"type": "claims"})
	c.Close()

	c = start(nil) // the claims method is missing in this build
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, c, "", logical.UpdateOperation, "auth/important/login", map[string]any{"alias": "x"}); err == nil {
		t.Fatal("login through a broken mount succeeded")
	}
	// Any change rewrites the auth table; the broken entry must survive it.
	mustCall(t, c, root.Reveal(), logical.UpdateOperation, "sys/auth/important/tune", map[string]any{"description": "still here"})
	c.Close()

	c = start(map[string]logical.Factory{"claims": claimsFactory})
	defer c.Close()
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, c, "", logical.UpdateOperation, "auth/important/login", map[string]any{"alias": "x"}); err != nil {
		t.Fatalf("mount did not come back with its engine: %v", err)
	}
}

// Concurrent enables never create nested mounts.
func TestConcurrentEnablesDoNotNest(t *testing.T) {
	c, root := newCore(t, nil)
	for i := 0; i < 50; i++ {
		var ok atomic.Int32
		var wg sync.WaitGroup
		for _, p := range []string{fmt.Sprintf("a%d", i), fmt.Sprintf("a%d/b", i)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := call(t, c, root, logical.UpdateOperation, "sys/mounts/"+p, map[string]any{"type": "kv"}); err == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("round %d: %d of two nested enables succeeded, want 1", i, ok.Load())
		}
	}
}

// Health reads the cluster id while seal and unseal change it.
func TestHealthDuringSealUnseal(t *testing.T) {
	c, err := core.New(withKV(core.Config{Storage: inmem.New()}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	res, err := c.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			call(t, c, "", logical.ReadOperation, "sys/health", nil)
			call(t, c, "", logical.ReadOperation, "sys/seal-status", nil)
		}
	}()
	for i := 0; i < 20; i++ {
		if err := c.Unseal(ctx, res.Shares); err != nil {
			t.Fatal(err)
		}
		c.Seal()
	}
	<-done
}

// The token store's TTLs can be tuned, and the tuning survives a restart.
func TestTuneTokenMount(t *testing.T) {
	store := inmem.New()
	ctx := context.Background()
	c, err := core.New(withKV(core.Config{Storage: store}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	root := res.RootToken
	mustCall(t, c, root.Reveal(), logical.UpdateOperation, "sys/auth/token/tune", map[string]any{"default_lease_ttl": "1h", "max_lease_ttl": "2h"})
	if _, err := call(t, c, root.Reveal(), logical.UpdateOperation, "sys/auth/token/tune", map[string]any{"options": map[string]any{"x": "y"}}); err == nil {
		t.Error("options on the token mount accepted")
	}
	if _, err := call(t, c, root.Reveal(), logical.UpdateOperation, "sys/mounts/sys/tune", map[string]any{"max_lease_ttl": "1h"}); err == nil {
		t.Error("tuning sys/ accepted")
	}
	c.Close()
	c, err = core.New(withKV(core.Config{Storage: store}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	tc := mustCall(t, c, root.Reveal(), logical.ReadOperation, "sys/auth/token/tune", nil)
	if tc.Data["default_lease_ttl"] != int64(3600) || tc.Data["max_lease_ttl"] != int64(7200) {
		t.Fatalf("token mount tune after restart = %v", tc.Data)
	}
	tok := mustCall(t, c, root.Reveal(), logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"default"}, "ttl": "10h"})
	if tok.Auth.TTL.Hours() > 2 {
		t.Fatalf("token TTL %v exceeds the tuned max of 2h", tok.Auth.TTL)
	}
}

// halfFailedAuth returns an Auth together with an error, as a buggy method
// might.
type halfFailedAuth struct{}

func (halfFailedAuth) UnauthenticatedPaths() []string { return []string{"login"} }
func (halfFailedAuth) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return &logical.Response{Auth: &logical.Auth{Policies: []string{"default"}}}, errors.New("backend failed half way")
}

// T18: an auth method that fails after producing an Auth creates no token.
func TestHalfFailedLoginCreatesNoToken(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"half": func(context.Context, *logical.BackendConfig) (logical.Backend, error) { return halfFailedAuth{}, nil }})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/half", map[string]any{"type": "half"})
	count := func() int {
		resp := mustCall(t, c, root, logical.ListOperation, "auth/token/accessors/", nil)
		keys, _ := resp.Data["keys"].([]string)
		if keys == nil {
			if anyKeys, ok := resp.Data["keys"].([]any); ok {
				return len(anyKeys)
			}
		}
		return len(keys)
	}
	before := count()
	resp, err := call(t, c, "", logical.UpdateOperation, "auth/half/login", nil)
	if err == nil {
		t.Fatal("half-failed login succeeded")
	}
	if resp != nil && resp.Auth != nil && !resp.Auth.ClientToken.Empty() {
		t.Fatal("half-failed login returned a token")
	}
	if after := count(); after != before {
		t.Fatalf("token count %d -> %d after a failed login", before, after)
	}
}

// Look-alike mount names are refused: each segment follows the policy-name
// rule (issue 10 item 22). Regression: before the fix all of these mounted.
func TestLookAlikeMountNames(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"claims": claimsFactory})
	for _, p := range []string{"Secret", "SECRET2", "secret ", " secret", "secret.", "kv./x", "ѕecret", "ｓecret", "se cret",
		"team/Prod", "team/prod.", "_kv", "-kv", ".kv", "kv\u200b", "kv%2e"} {
		for _, table := range []string{"sys/mounts/", "sys/auth/"} {
			typ := "kv"
			if table == "sys/auth/" {
				typ = "claims"
			}
			_, err := call(t, c, root, logical.UpdateOperation, table+p, map[string]any{"type": typ})
			if status, _, _ := logical.StatusOf(err); status != 400 {
				t.Errorf("mount %s%q: %v, want 400", table, p, err)
			}
		}
	}
	for _, p := range []string{"kv-2", "team/prod", "a.b_c-d", "9lives"} {
		mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/"+p, map[string]any{"type": "kv"})
		mustCall(t, c, root, logical.UpdateOperation, "sys/auth/"+p, map[string]any{"type": "claims"})
	}
}

// A key longer than the store allows is the client's error: 400 with a
// short message, the same on every backend (issue 10 item 14).
func TestKeyTooLongIs400(t *testing.T) {
	c, root := newCore(t, nil)
	long := strings.Repeat("k", 9000)
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.ReadOperation, logical.DeleteOperation} {
		_, err := call(t, c, root, op, "secret/data/"+long, map[string]any{"data": map[string]any{"a": "b"}})
		status, msg, _ := logical.StatusOf(err)
		if status != 400 || strings.Contains(msg, long[:200]) {
			t.Errorf("%s of a 9000-byte key = %d %q, want a short 400", op, status, msg)
		}
	}
}
