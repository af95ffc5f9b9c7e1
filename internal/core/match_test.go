package core

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/passpol"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/wrapping"
)

func TestMatchPath(t *testing.T) {
	patterns := []string{"leases", "audit/*", "accessors/", "seal"}
	tests := []struct {
		rel  string
		want bool
	}{
		{"leases", true}, {"leases/", true}, {"audit", false}, {"audit/", true}, {"audit/file", true},
		{"accessors", true}, {"accessors/", true}, {"seal", true}, {"seal/", true}, {"sealx", false}, {"lease", false},
	}
	for _, tt := range tests {
		if got := logical.MatchPath(patterns, tt.rel); got != tt.want {
			t.Errorf("MatchPath(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}

type passwordPolicies struct{ *passpol.Store }

func (passwordPolicies) Close() error { return nil }

// unsealedSys returns the sys/ mount of a core unsealed with the services
// node configures, in node's order.
func unsealedSys(t *testing.T) *mount {
	t.Helper()
	reg := monitor.NewRegistry()
	c, err := New(Config{Storage: inmem.New(), Metrics: reg, Services: []Service{
		{Name: "audit", Paths: []string{"audit", "audit-hash"}, Storage: "sys/audit/",
			New: func(ctx context.Context, env ServiceEnv) (ServiceBackend, error) {
				return audit.New(ctx, env.Storage, env.Logger, audit.Options{})
			}},
		{Name: "password policies", Paths: []string{"policies/password"}, Storage: passpol.StoragePrefix,
			New: func(_ context.Context, env ServiceEnv) (ServiceBackend, error) {
				return passwordPolicies{passpol.NewStore(env.Storage)}, nil
			}},
		{Name: "response wrapping", Paths: []string{"wrapping"}, Storage: "sys/wrapping/",
			New: func(ctx context.Context, env ServiceEnv) (ServiceBackend, error) {
				return wrapping.New(ctx, env.Storage, env.Logger, wrapping.Options{})
			}},
		{Name: "leases", Paths: []string{"leases", "renew", "revoke", "revoke-prefix", "revoke-force"}, Storage: "sys/expire/",
			New: func(ctx context.Context, env ServiceEnv) (ServiceBackend, error) {
				return lease.New(ctx, env.Storage, env.Engines, env.Logger, lease.Options{Metrics: reg})
			}},
		{Name: "metrics", Paths: []string{"metrics"},
			New: func(context.Context, ServiceEnv) (ServiceBackend, error) { return monitor.NewBackend(reg), nil }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	res, err := c.Initialize(t.Context(), InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(t.Context(), res.Shares); err != nil {
		t.Fatal(err)
	}
	return c.active.mounts.get("sys/")
}

// Every sudo and unauthenticated path of sys/ is derived from a declared
// route, of sys/ itself or of a service: the lists name no path nothing
// serves (the hand-written list once named sys/raw and PUT sys/rotate/root).
func TestSysPathListsNameRoutes(t *testing.T) {
	m := unsealedSys(t)
	if len(m.sudo) == 0 || len(m.unauth) == 0 {
		t.Fatalf("sys/ sudo = %q, unauthenticated = %q: both should be derived from the routes", m.sudo, m.unauth)
	}
	sys := m.backend.(*sysBackend)
	for _, list := range [][]string{m.sudo, m.unauth} {
		for _, g := range list {
			p := g
			if prefix, ok := strings.CutSuffix(g, "*"); ok {
				p = prefix + "x"
			}
			_, err := sys.Help(t.Context(), &logical.Request{Operation: logical.HelpOperation, Path: p})
			if errors.Is(err, logical.ErrUnsupportedPath) {
				t.Errorf("sys/ path list entry %q: no route serves %q", g, p)
			}
		}
	}
}

// The sys/ lists as they were written by hand before they were derived
// from the routes: the derived lists must answer the same for every path
// sys/ serves.
var (
	handSudo = []string{
		"audit", "audit/*", "rotate", "rotate/keyring", "rotate/config", "rotate/keyring/config",
		"rotate/root/*", "generate-root-token/*", "seal", "config/*",
		"leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*", "leases",
		"revoke-prefix/*", "revoke-force/*", "auth/*", "plugins/catalog/*", "remount",
	}
	handUnauth = []string{"internal/ui/mounts*", "wrapping/unwrap", "wrapping/lookup"}
)

// The set of sys/ paths that need sudo or no token is pinned: one case per
// route (a LIST form where the route lists), each checked against the old
// hand-written lists, and the four paths where the derived list asks more.
func TestSysPathListsPinned(t *testing.T) {
	m := unsealedSys(t)
	served := []string{
		"mounts", "mounts/", "mounts/secret", "mounts/a/b", "mounts/secret/tune", "mounts/auth/userpass",
		"auth", "auth/", "auth/userpass", "auth/a/b", "auth/userpass/tune",
		"remount", "remount/status/abc",
		"policies/acl", "policies/acl/", "policies/acl/x", "policy", "policy/", "policy/x",
		"policies/password", "policies/password/", "policies/password/x", "policies/password/x/generate",
		"capabilities", "capabilities-self", "capabilities-accessor",
		"internal/ui/mounts", "internal/ui/mounts/", "internal/ui/mounts/secret", "internal/ui/mounts/secret/data/x",
		"plugins/catalog", "plugins/catalog/", "plugins/catalog/secret", "plugins/catalog/secret/", "plugins/catalog/secret/kv",
		"host-info", "config/state/sanitized", "internal/specs/openapi", "key-status",
		"rotate", "rotate/keyring", "rotate/config", "rotate/keyring/config",
		"rotate/root/init", "rotate/root/update", "rotate/root/verify",
		"generate-root-token/attempt", "generate-root-token/update", "decode-token", "seal", "metrics",
		"audit", "audit/", "audit/file", "audit/file/public-key", "audit-hash/file",
		"wrapping/wrap", "wrapping/unwrap", "wrapping/lookup", "wrapping/rewrap",
		"leases", "leases/", "leases/lookup", "leases/lookup/", "leases/lookup/x/", "leases/lookup/x/y",
		"leases/renew", "leases/renew/x", "renew", "renew/x", "leases/revoke", "leases/revoke/x", "revoke", "revoke/x",
		"leases/revoke-prefix/x", "revoke-prefix/x", "leases/revoke-force/x", "revoke-force/x",
		"leases/tidy", "leases/count",
	}
	// Stricter than before: with an empty prefix these were refused as a
	// bad request; now a token without sudo is refused first.
	stricter := map[string]bool{"revoke-prefix": true, "revoke-force": true,
		"leases/revoke-prefix": true, "leases/revoke-force": true}
	for p := range stricter {
		served = append(served, p)
	}
	for _, p := range served {
		wantSudo := logical.MatchPath(handSudo, p) || stricter[p]
		if got := logical.MatchPath(m.sudo, p); got != wantSudo {
			t.Errorf("sys/%s needs sudo = %v, want %v (sudo list %q)", p, got, wantSudo, m.sudo)
		}
		if got, want := logical.MatchPath(m.unauth, p), logical.MatchPath(handUnauth, p); got != want {
			t.Errorf("sys/%s unauthenticated = %v, want %v (list %q)", p, got, want, m.unauth)
		}
	}
}
