package jwt_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/logical"
)

// legacyGHProd is role/gh-prod exactly as the release before the token
// object stored it (token_* at the top level, policies in the order sent).
const legacyGHProd = `{"role_type":"jwt","bound_audiences":["keyward"],"allow_any_audience":false,"bound_subject":"repo:octo/app:environment:production","bound_claims":{"ref":["refs/heads/main"],"repository_id":["74"]},"bound_claims_type":"string","claim_mappings":{"environment":"environment","ref":"ref","repository":"repository"},"user_claim":"sub","user_claim_json_pointer":false,"groups_claim":"","allow_unbound":false,"token_policies":["ci-octo-app","audit-read"],"token_ttl":600000000000,"token_max_ttl":3600000000000,"token_explicit_max_ttl":7200000000000,"token_period":0,"token_num_uses":0,"token_bound_cidrs":["10.0.0.0/8","192.0.2.7"],"token_no_default_policy":true,"token_type":"default-batch","clock_skew_leeway":60000000000,"expiration_leeway":0,"not_before_leeway":0}`

// countingStorage counts the writes to one key.
type countingStorage struct {
	logical.Storage
	key  string
	puts atomic.Int32
}

func (s *countingStorage) Put(ctx context.Context, key string, value []byte) error {
	if key == s.key {
		s.puts.Add(1)
	}
	return s.Storage.Put(ctx, key, value)
}

// A role stored by the previous release reads, logs in and renews as it
// did, and is rewritten in the current shape exactly once, however many
// requests load it at the same time.
func TestLegacyRoleMigratesOnce(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	if err := f.s.Put(ctx, "role/gh-prod", []byte(legacyGHProd)); err != nil {
		t.Fatal(err)
	}
	cs := &countingStorage{Storage: f.s, key: "role/gh-prod"}
	do := func(op logical.Operation, path, remote string, data map[string]any) (*logical.Response, error) {
		return f.b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Data: data, Storage: cs,
			Connection: &logical.Connection{RemoteAddr: remote}})
	}
	want := map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"keyward"}, "allow_any_audience": false,
		"bound_subject":     "repo:octo/app:environment:production",
		"bound_claims":      map[string]any{"ref": []string{"refs/heads/main"}, "repository_id": []string{"74"}},
		"bound_claims_type": "string", "claim_mappings": map[string]string{"environment": "environment", "ref": "ref", "repository": "repository"},
		"user_claim": "sub", "user_claim_json_pointer": false, "groups_claim": "", "allow_unbound": false,
		"token_policies": []string{"ci-octo-app", "audit-read"}, "policies": []string{"ci-octo-app", "audit-read"},
		"token_ttl": int64(600), "token_max_ttl": int64(3600), "token_explicit_max_ttl": int64(7200), "token_period": int64(0),
		"token_num_uses": 0, "token_bound_cidrs": []string{"10.0.0.0/8", "192.0.2.7"}, "token_no_default_policy": true,
		"token_type": "default-batch", "clock_skew_leeway": int64(60), "expiration_leeway": int64(0), "not_before_leeway": int64(0),
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := do(logical.ReadOperation, "role/gh-prod", "127.0.0.1", nil)
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if d := cmp.Diff(want, resp.Data); d != "" {
				t.Errorf("read of the legacy role (-want +got):\n%s", d)
			}
		})
	}
	wg.Wait()
	if n := cs.puts.Load(); n != 1 {
		t.Fatalf("legacy role written %d times by concurrent reads, want 1", n)
	}
	raw, err := f.s.Get(ctx, "role/gh-prod")
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if _, ok := stored["token"]; !ok {
		t.Fatalf("migrated role has no token object: %s", raw)
	}
	for k := range stored {
		if strings.HasPrefix(k, "token_") {
			t.Errorf("migrated role still has %s at the top level: %s", k, raw)
		}
	}

	// The migrated role behaves as the legacy one did, and nothing
	// rewrites it again.
	resp, err := do(logical.ReadOperation, "role/gh-prod", "127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, resp.Data); d != "" {
		t.Errorf("read of the migrated role (-want +got):\n%s", d)
	}
	resp, err = do(logical.UpdateOperation, "login", "127.0.0.1", map[string]any{"role": "gh-prod", "jwt": f.sign(ghMain(f.is.URL))})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.Auth
	if !cmp.Equal(a.Policies, []string{"ci-octo-app", "audit-read"}) || a.TTL != 10*time.Minute || a.MaxTTL != time.Hour ||
		a.ExplicitMaxTTL != 2*time.Hour || !cmp.Equal(a.BoundCIDRs, []string{"10.0.0.0/8", "192.0.2.7"}) || !a.NoDefaultPolicy ||
		a.TokenType != "default-batch" || !a.Renewable || a.Alias != "repo:octo/app:environment:production" {
		t.Errorf("login with the migrated role = %+v", a)
	}
	for remote, ok := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "::ffff:10.9.9.9": true, "192.0.2.8": false, "203.0.113.1": false} {
		err := f.b.RenewAuth(ctx, &logical.Request{Storage: cs, Connection: &logical.Connection{RemoteAddr: remote}}, map[string]string{"role": "gh-prod"})
		if (err == nil) != ok {
			t.Errorf("renewal from %s: %v, want allowed %v", remote, err, ok)
		}
	}
	if n := cs.puts.Load(); n != 1 {
		t.Errorf("role written %d times in all, want 1 (the migration)", n)
	}
}
