package token_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// legacyRoles are token roles exactly as the release before the token
// object stored them, written through auth/token/roles/NAME.
var legacyRoles = map[string]string{
	"ci":    `{"name":"ci","allowed_policies":["ci","deploy"],"disallowed_policies":["admin"],"orphan":true,"renewable":false,"path_suffix":"v1","explicit_max_ttl":7200000000000,"period":1800000000000,"bound_cidrs":["10.0.0.0/8","192.0.2.7"],"no_default_policy":true}`,
	"plain": `{"name":"plain","orphan":false,"renewable":true}`,
	"bat":   `{"name":"bat","allowed_policies":["dev"],"orphan":false,"renewable":true,"token_type":"default-batch"}`,
}

// rolePuts counts the writes under roles/.
type rolePuts struct {
	logical.Storage
	n atomic.Int32
}

func (s *rolePuts) Put(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, "roles/") {
		s.n.Add(1)
	}
	return s.Storage.Put(ctx, key, value)
}

// Token roles stored by the previous release read and issue tokens as they
// did, and each is rewritten in the current shape exactly once, however
// many requests load it at the same time.
func TestLegacyRolesMigrateOnce(t *testing.T) {
	ctx := context.Background()
	inmem := &logicaltest.InmemStorage{}
	for name, raw := range legacyRoles {
		if err := inmem.Put(ctx, "roles/"+name, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	st := &rolePuts{Storage: inmem}
	f := &fixture{st: inmem, clock: newClock()}
	s, err := token.New(ctx, st, token.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.store = s
	f.rootE = &token.Entry{Policies: []string{"root"}, DisplayName: "root", Path: "auth/token/root"}
	if f.root, err = s.Create(ctx, f.rootE); err != nil {
		t.Fatal(err)
	}
	empty := []string{}
	want := map[string]map[string]any{
		"ci": {"allowed_policies": []string{"ci", "deploy"}, "disallowed_policies": []string{"admin"}, "explicit_max_ttl": int64(7200),
			"name": "ci", "orphan": true, "path_suffix": "v1", "period": int64(1800), "renewable": false,
			"token_bound_cidrs": []string{"10.0.0.0/8", "192.0.2.7"}, "token_explicit_max_ttl": int64(7200),
			"token_no_default_policy": true, "token_period": int64(1800), "token_type": "default-service"},
		"plain": {"allowed_policies": empty, "disallowed_policies": empty, "explicit_max_ttl": int64(0), "name": "plain",
			"orphan": false, "path_suffix": "", "period": int64(0), "renewable": true, "token_bound_cidrs": empty,
			"token_explicit_max_ttl": int64(0), "token_no_default_policy": false, "token_period": int64(0), "token_type": "default-service"},
		"bat": {"allowed_policies": []string{"dev"}, "disallowed_policies": empty, "explicit_max_ttl": int64(0), "name": "bat",
			"orphan": false, "path_suffix": "", "period": int64(0), "renewable": true, "token_bound_cidrs": empty,
			"token_explicit_max_ttl": int64(0), "token_no_default_policy": false, "token_period": int64(0), "token_type": "default-batch"},
	}
	read := func(name string) {
		resp, err := f.do(t, opRead, "roles/"+name, f.root, nil)
		if err != nil || resp == nil {
			t.Errorf("read %s: %v, %v", name, resp, err)
			return
		}
		if d := cmp.Diff(want[name], resp.Data); d != "" {
			t.Errorf("role %s (-want +got):\n%s", name, d)
		}
	}

	var wg sync.WaitGroup
	for range 4 {
		for name := range legacyRoles {
			wg.Go(func() { read(name) })
		}
	}
	wg.Wait()
	if n := st.n.Load(); n != int32(len(legacyRoles)) {
		t.Fatalf("%d role writes for %d legacy roles read concurrently, want one each", n, len(legacyRoles))
	}
	for name := range legacyRoles {
		raw, err := inmem.Get(ctx, "roles/"+name)
		if err != nil {
			t.Fatal(err)
		}
		var stored map[string]json.RawMessage
		if err := json.Unmarshal(raw, &stored); err != nil {
			t.Fatal(err)
		}
		if _, ok := stored["token"]; !ok {
			t.Errorf("migrated role %s has no token object: %s", name, raw)
		}
		for _, old := range []string{"explicit_max_ttl", "period", "bound_cidrs", "no_default_policy", "token_type"} {
			if _, ok := stored[old]; ok {
				t.Errorf("migrated role %s still has %s at the top level: %s", name, old, raw)
			}
		}
		read(name)
	}

	// Tokens through the migrated roles get what the legacy roles gave.
	a := createAuth(t, f, "create/ci", f.root, nil)
	e, err := s.LookupAccessor(ctx, a.Accessor)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Policies, []string{"ci", "deploy"}) || !e.Orphan || e.Renewable || e.Period != 30*time.Minute ||
		e.Path != "auth/token/create/ci/v1" || !slices.Equal(e.BoundCIDRs, []string{"10.0.0.0/8", "192.0.2.7"}) {
		t.Errorf("token through ci = %+v", e)
	}
	for remote, ok := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false} {
		_, err := s.Use(ctx, a.ClientToken.Reveal(), remote)
		if (err == nil) != ok {
			t.Errorf("use of the ci token from %s: %v, want allowed %v", remote, err, ok)
		}
	}
	if _, err := f.do(t, opUpdate, "create/ci", f.root, map[string]any{"policies": "admin"}); codeOf(err) != 403 {
		t.Errorf("create/ci with a disallowed policy = %v, want 403", err)
	}
	if b := createAuth(t, f, "create/bat", f.root, nil); b.TokenType != "batch" || !strings.HasPrefix(b.ClientToken.Reveal(), tokenfmt.Batch) {
		t.Errorf("token through bat is %s, want batch", b.TokenType)
	}
	if p := createAuth(t, f, "create/plain", f.root, map[string]any{"policies": "x"}); p.TokenType != "service" || !p.Renewable {
		t.Errorf("token through plain = %+v", p)
	}
	if n := st.n.Load(); n != int32(len(legacyRoles)) {
		t.Errorf("%d role writes in all, want %d (the migrations)", n, len(legacyRoles))
	}
}
