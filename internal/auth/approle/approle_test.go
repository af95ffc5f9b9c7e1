package approle_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/approle"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// countingStorage counts operations, to show failure paths do equal work.
type countingStorage struct {
	logicaltest.InmemStorage
	gets, puts, dels atomic.Int64
}

func (s *countingStorage) Get(ctx context.Context, k string) ([]byte, error) {
	s.gets.Add(1)
	return s.InmemStorage.Get(ctx, k)
}

func (s *countingStorage) Put(ctx context.Context, k string, v []byte) error {
	s.puts.Add(1)
	return s.InmemStorage.Put(ctx, k, v)
}

func (s *countingStorage) Delete(ctx context.Context, k string) error {
	s.dels.Add(1)
	return s.InmemStorage.Delete(ctx, k)
}

type fixture struct {
	b   *approle.Backend
	s   *countingStorage
	clk *clocktest.Clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{s: &countingStorage{}, clk: clocktest.New(time.Unix(1_700_000_000, 0))}
	b, err := approle.New(context.Background(), f.s, f.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

func (f *fixture) do(op logical.Operation, path string, data map[string]any, remote string) (*logical.Response, error) {
	return f.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Connection: &logical.Connection{RemoteAddr: remote},
	})
}

func (f *fixture) must(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := f.do(op, path, data, "127.0.0.1")
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}

func (f *fixture) roleID(t testing.TB, role string) string {
	t.Helper()
	return f.must(t, logical.ReadOperation, "role/"+role+"/role-id", nil).Data["role_id"].(string)
}

func (f *fixture) secretID(t testing.TB, role string, data map[string]any) (id, accessor string) {
	t.Helper()
	r := f.must(t, logical.UpdateOperation, "role/"+role+"/secret-id", data)
	return r.Data["secret_id"].(string), r.Data["secret_id_accessor"].(string)
}

func (f *fixture) login(roleID, secretID, remote string) (*logical.Response, error) {
	return f.do(logical.UpdateOperation, "login", map[string]any{"role_id": roleID, "secret_id": secretID}, remote)
}

func refused(t testing.TB, what string, resp *logical.Response, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: login succeeded (auth %+v)", what, resp.Auth)
	}
	if code, msg, _ := logical.StatusOf(err); code != http.StatusForbidden || msg != "invalid role ID or secret ID" {
		t.Fatalf("%s: got %d %q, want the one 403 login error", what, code, msg)
	}
}

func TestRoleAndLogin(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/CI", map[string]any{
		"token_policies": "deploy,read", "token_ttl": "10m", "token_max_ttl": "1h", "secret_id_ttl": "1h",
	})
	r := f.must(t, logical.ReadOperation, "role/ci", nil)
	if r.Data["bind_secret_id"] != true || r.Data["secret_id_ttl"] != int64(3600) || r.Data["token_ttl"] != int64(600) {
		t.Errorf("role = %v", r.Data)
	}
	keys := f.must(t, logical.ListOperation, "role", nil).Data["keys"].([]string)
	if len(keys) != 1 || keys[0] != "ci" {
		t.Errorf("role list = %v", keys)
	}
	rid := f.roleID(t, "ci")
	sid, acc := f.secretID(t, "ci", map[string]any{"metadata": `{"job":"build"}`})
	if !strings.HasPrefix(sid, "kwi_") {
		t.Errorf("secret_id %q lacks the kwi_ prefix", sid)
	}
	resp, err := f.login(rid, sid, "10.0.0.1")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	a := resp.Auth
	if a == nil || a.TTL != 10*time.Minute || a.MaxTTL != time.Hour || strings.Join(a.Policies, ",") != "deploy,read" ||
		a.Metadata["role_name"] != "ci" || a.Metadata["job"] != "build" || !a.ClientToken.Empty() {
		t.Fatalf("auth = %+v", a)
	}
	lk := f.must(t, logical.UpdateOperation, "role/ci/secret-id/lookup", map[string]any{"secret_id": sid})
	if lk.Data["secret_id_accessor"] != acc || lk.Data["secret_id_ttl"] != int64(3600) {
		t.Errorf("lookup = %v", lk.Data)
	}
	if _, ok := lk.Data["secret_id"]; ok {
		t.Error("lookup returns the secret_id")
	}
	list := f.must(t, logical.ListOperation, "role/ci/secret-id", nil).Data["keys"].([]string)
	if len(list) != 1 || list[0] != acc {
		t.Errorf("secret-id list = %v, want [%s]", list, acc)
	}
	// Storage never holds a secret_id in the clear.
	for _, pfx := range []string{"secret/ci/", "accessor/ci/", "role/", "role_id/"} {
		ks, _ := f.s.List(context.Background(), pfx)
		for _, k := range ks {
			v, _ := f.s.Get(context.Background(), pfx+k)
			if strings.Contains(k, sid) || strings.Contains(string(v), sid) {
				t.Fatalf("storage key %s holds the secret_id", pfx+k)
			}
		}
	}
	f.must(t, logical.UpdateOperation, "role/ci/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": acc})
	resp, err = f.login(rid, sid, "10.0.0.1")
	refused(t, "destroyed secret_id", resp, err)
}

// T24: AppRole replay and misbinding.
func TestAppRoleSecretIDReplay(t *testing.T) {
	f := newFixture(t)
	// Lockout is off here: the race below fails 199 logins on purpose.
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_disable": true})
	f.must(t, logical.UpdateOperation, "role/a", map[string]any{"token_policies": "a", "secret_id_num_uses": 1, "secret_id_ttl": "5m"})
	f.must(t, logical.UpdateOperation, "role/b", map[string]any{"token_policies": "b"})
	ridA, ridB := f.roleID(t, "a"), f.roleID(t, "b")

	t.Run("num_uses=1 works once", func(t *testing.T) {
		sid, _ := f.secretID(t, "a", nil)
		if _, err := f.login(ridA, sid, "127.0.0.1"); err != nil {
			t.Fatalf("first login: %v", err)
		}
		resp, err := f.login(ridA, sid, "127.0.0.1")
		refused(t, "second login", resp, err)
	})
	t.Run("200 concurrent logins give one token", func(t *testing.T) {
		sid, _ := f.secretID(t, "a", nil)
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, err := f.login(ridA, sid, "127.0.0.1"); err == nil && r.Auth != nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := ok.Load(); n != 1 {
			t.Fatalf("%d of 200 concurrent logins succeeded, want 1", n)
		}
	})
	t.Run("expired secret_id", func(t *testing.T) {
		sid, _ := f.secretID(t, "a", nil)
		f.clk.Add(6 * time.Minute)
		resp, err := f.login(ridA, sid, "127.0.0.1")
		refused(t, "expired", resp, err)
	})
	t.Run("role A secret_id with role B role_id", func(t *testing.T) {
		sid, _ := f.secretID(t, "a", nil)
		resp, err := f.login(ridB, sid, "127.0.0.1")
		refused(t, "cross-role", resp, err)
		if _, err := f.login(ridA, sid, "127.0.0.1"); err != nil {
			t.Fatalf("the secret_id was spent by the cross-role attempt: %v", err)
		}
	})
	t.Run("destroy role B accessor via role A path", func(t *testing.T) {
		sidB, accB := f.secretID(t, "b", nil)
		for _, op := range []string{"destroy", "lookup"} {
			if _, err := f.do(logical.UpdateOperation, "role/a/secret-id-accessor/"+op, map[string]any{"secret_id_accessor": accB}, ""); err == nil {
				t.Errorf("%s of role b's accessor through role a succeeded", op)
			}
		}
		if _, err := f.do(logical.UpdateOperation, "role/a/secret-id/destroy", map[string]any{"secret_id": sidB}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.login(ridB, sidB, "127.0.0.1"); err != nil {
			t.Fatalf("role b's secret_id was destroyed through role a: %v", err)
		}
	})
	t.Run("CIDR-bound secret_id from another address", func(t *testing.T) {
		sid, _ := f.secretID(t, "b", map[string]any{"cidr_list": "127.0.0.1/32"})
		resp, err := f.login(ridB, sid, "127.0.0.2")
		refused(t, "from 127.0.0.2", resp, err)
		if _, err := f.login(ridB, sid, "127.0.0.1"); err != nil {
			t.Fatalf("login from the bound address: %v", err)
		}
	})
	t.Run("role-level CIDR and token CIDRs", func(t *testing.T) {
		f.must(t, logical.UpdateOperation, "role/c", map[string]any{"secret_id_bound_cidrs": "10.1.0.0/16", "token_bound_cidrs": "10.1.2.0/24"})
		rid := f.roleID(t, "c")
		sid, _ := f.secretID(t, "c", nil)
		resp, err := f.login(rid, sid, "10.2.0.1")
		refused(t, "outside role CIDR", resp, err)
		resp, err = f.login(rid, sid, "10.1.9.9")
		if err != nil || strings.Join(resp.Auth.BoundCIDRs, ",") != "10.1.2.0/24" {
			t.Fatalf("login = %v, %v", resp, err)
		}
	})
}

// T26: a wrong secret_id for a real role and any secret_id for an unknown
// role_id do the same storage work and answer the same.
func TestAppRoleLoginSameWorkWhateverFails(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/a", map[string]any{"token_policies": "a"})
	rid := f.roleID(t, "a")
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_disable": true})
	measure := func(roleID string) (int64, int64, int64, string) {
		g, p, d := f.s.gets.Load(), f.s.puts.Load(), f.s.dels.Load()
		_, err := f.login(roleID, "kwi_wrong", "127.0.0.1")
		_, msg, _ := logical.StatusOf(err)
		return f.s.gets.Load() - g, f.s.puts.Load() - p, f.s.dels.Load() - d, msg
	}
	for _, lock := range []bool{true, false} {
		f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_disable": !lock})
		g1, p1, d1, m1 := measure(rid)
		g2, p2, d2, m2 := measure("no-such-role-id")
		if g1 != g2 || p1 != p2 || d1 != d2 || m1 != m2 {
			t.Errorf("lockout %v: wrong secret_id did %d/%d/%d ops (%q), unknown role_id %d/%d/%d (%q)",
				lock, g1, p1, d1, m1, g2, p2, d2, m2)
		}
	}
}

// T25 (AppRole part): five failures lock the role_id; locked and unknown
// role_ids answer alike, and a locked role_id does not spend its secret_id.
func TestAppRoleLockout(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/a", map[string]any{"token_policies": "a", "secret_id_num_uses": 1})
	rid := f.roleID(t, "a")
	sid, _ := f.secretID(t, "a", nil)
	for i := range 5 {
		resp, err := f.login(rid, "kwi_bad"+string(rune('a'+i)), "127.0.0.1")
		refused(t, "bad secret_id", resp, err)
	}
	resp, err := f.login(rid, sid, "127.0.0.1")
	refused(t, "locked role_id with the right secret_id", resp, err)
	f.clk.Add(16 * time.Minute)
	if _, err := f.login(rid, sid, "127.0.0.1"); err != nil {
		t.Fatalf("after lockout_duration: %v (the locked attempt must not spend the secret_id)", err)
	}
}

func TestBindSecretIDFalse(t *testing.T) {
	f := newFixture(t)
	if _, err := f.do(logical.UpdateOperation, "role/open", map[string]any{"bind_secret_id": false}, ""); err == nil {
		t.Fatal("a role without bind_secret_id and without CIDRs was accepted")
	}
	f.must(t, logical.UpdateOperation, "role/open", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.1/32", "role_id": "custom-rid"})
	if _, err := f.login("custom-rid", "", "127.0.0.1"); err != nil {
		t.Fatalf("login: %v", err)
	}
	resp, err := f.login("custom-rid", "", "127.0.0.2")
	refused(t, "from outside the CIDR", resp, err)
}

func TestCustomSecretIDAndRoleID(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/a", nil)
	f.must(t, logical.UpdateOperation, "role/b", nil)
	f.must(t, logical.UpdateOperation, "role/a/role-id", map[string]any{"role_id": "rid-a"})
	if _, err := f.do(logical.UpdateOperation, "role/b/role-id", map[string]any{"role_id": "rid-a"}, ""); err == nil {
		t.Error("two roles share a role_id")
	}
	f.must(t, logical.UpdateOperation, "role/a/custom-secret-id", map[string]any{"secret_id": "my-own-secret"})
	if _, err := f.do(logical.UpdateOperation, "role/a/custom-secret-id", map[string]any{"secret_id": "my-own-secret"}, ""); err == nil {
		t.Error("duplicate custom secret_id accepted")
	}
	if _, err := f.login("rid-a", "my-own-secret", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	f.must(t, logical.DeleteOperation, "role/a", nil)
	resp, err := f.login("rid-a", "my-own-secret", "127.0.0.1")
	refused(t, "deleted role", resp, err)
}

func TestTidy(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/a", map[string]any{"secret_id_ttl": "1m"})
	f.secretID(t, "a", nil)
	f.secretID(t, "a", map[string]any{"ttl": "30s"})
	f.clk.Add(2 * time.Minute)
	r := f.must(t, logical.UpdateOperation, "tidy/secret-id", nil)
	if r.Data["removed"] != 2 {
		t.Errorf("tidy removed %v, want 2", r.Data["removed"])
	}
	if ks, _ := f.s.List(context.Background(), "accessor/a/"); len(ks) != 0 {
		t.Errorf("accessors left after tidy: %v", ks)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "role/a", map[string]any{"secret_id_num_uses": 2, "secret_id_ttl": "1h"})
	tests := []struct {
		name string
		path string
		data map[string]any
	}{
		{"bad role name", "role/a b", nil},
		{"unknown field", "role/a", map[string]any{"nope": 1}},
		{"bad cidr", "role/a", map[string]any{"secret_id_bound_cidrs": "300.0.0.0/8"}},
		{"mixed-family mapped cidr", "role/a", map[string]any{"token_bound_cidrs": "::ffff:10.0.0.0/8"}},
		{"batch role periodic by the legacy name", "role/a", map[string]any{"token_type": "batch", "period": "1h"}},
		{"root policy", "role/r", map[string]any{"token_policies": "dev, Root"}},
		{"ttl above role", "role/a/secret-id", map[string]any{"ttl": "2h"}},
		{"num_uses above role", "role/a/secret-id", map[string]any{"num_uses": 3}},
		{"bad metadata", "role/a/secret-id", map[string]any{"metadata": "{not json"}},
		{"login without role_id", "login", map[string]any{"secret_id": "x"}},
		{"unknown role", "role/zzz/secret-id", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.do(logical.UpdateOperation, tt.path, tt.data, "")
			var ce *logical.CodedError
			if !errors.As(err, &ce) || ce.Code >= 500 {
				t.Errorf("%s: err = %v, want a 4xx", tt.path, err)
			}
		})
	}
}

func BenchmarkLogin(b *testing.B) {
	f := newFixture(b)
	f.must(b, logical.UpdateOperation, "role/a", map[string]any{"token_policies": "a"})
	rid := f.roleID(b, "a")
	sid, _ := f.secretID(b, "a", nil)
	for b.Loop() {
		if _, err := f.login(rid, sid, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}
