package userpass_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/auth/userpass"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// cheap keeps the suite fast; the production default is exercised in
// TestDefaultParams.
var cheap = userpass.Params{Memory: 64, Time: 1, Threads: 1}

type fixture struct {
	b      *userpass.Backend
	s      *logicaltest.InmemStorage
	hashes atomic.Int64
	clk    *clocktest.Clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{s: &logicaltest.InmemStorage{}, clk: clocktest.New(time.Unix(1_700_000_000, 0))}
	b, err := userpass.New(context.Background(), f.s, userpass.Options{
		Now: f.clk.Now, Params: cheap, OnHash: func() { f.hashes.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

func (f *fixture) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return f.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data})
}

func (f *fixture) must(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := f.do(op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}

func (f *fixture) login(name, pw, code string) (*logical.Response, error) {
	d := map[string]any{"password": pw}
	if code != "" {
		d["totp"] = code
	}
	return f.do(logical.UpdateOperation, "login/"+name, d)
}

func refused(t testing.TB, what string, err error) {
	t.Helper()
	code, msg, _ := logical.StatusOf(err)
	if err == nil || code != http.StatusBadRequest || msg != "invalid username, password or TOTP code" {
		t.Fatalf("%s: err = %v, want the one login error", what, err)
	}
}

func TestUserLifecycle(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "users/Alice", map[string]any{"password": "correct horse", "token_policies": "dev", "token_ttl": "1h"}) // keyward:allow generic-password
	r := f.must(t, logical.ReadOperation, "users/alice", nil)
	if r.Data["token_ttl"] != int64(3600) || r.Data["mfa_required"] != false {
		t.Errorf("read = %v", r.Data)
	}
	for k, v := range r.Data {
		if strings.Contains(k, "password") || strings.Contains(strings.ToLower(toString(v)), "argon2") {
			t.Errorf("read exposes %s", k)
		}
	}
	raw, _ := f.s.Get(context.Background(), "user/alice")
	if strings.Contains(string(raw), "correct horse") || !strings.Contains(string(raw), "$argon2id$v=19$") {
		t.Fatalf("stored user is not an argon2id hash: %s", raw)
	}
	resp, err := f.login("ALICE", "correct horse", "")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if resp.Auth.DisplayName != "alice" || strings.Join(resp.Auth.Policies, ",") != "dev" || resp.Auth.TTL != time.Hour {
		t.Errorf("auth = %+v", resp.Auth)
	}
	// The body form Vault's generic login sends.
	if _, err := f.do(logical.UpdateOperation, "login", map[string]any{"username": " alice", "password": "correct horse"}); err != nil { // keyward:allow generic-password
		t.Fatalf("login with username in the body: %v", err)
	}
	f.must(t, logical.UpdateOperation, "users/alice/password", map[string]any{"password": "new pass"})
	_, err = f.login("alice", "correct horse", "")
	refused(t, "old password", err)
	if _, err := f.login("alice", "new pass", ""); err != nil {
		t.Fatal(err)
	}
	keys := f.must(t, logical.ListOperation, "users", nil).Data["keys"].([]string)
	if len(keys) != 1 || keys[0] != "alice" {
		t.Errorf("users = %v", keys)
	}
	f.must(t, logical.DeleteOperation, "users/ALICE", nil)
	_, err = f.login("alice", "new pass", "")
	refused(t, "deleted user", err)
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// T25: one counter per canonical name; locked and unknown users answer
// alike; the right password does not get through while locked.
func TestLockoutCountsNameVariantsTogether(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "users/alice", map[string]any{"password": "pw"})
	for _, v := range []string{"alice", "Alice", " alice", "alice ", "ALICE"} {
		_, err := f.login(v, "wrong", "")
		refused(t, "wrong password as "+v, err)
	}
	for _, v := range []string{"alice", "Alice", "ａｌｉｃｅ", "ALICE "} {
		_, err := f.login(v, "pw", "")
		refused(t, "right password while locked as "+v, err)
	}
	_, err := f.login("nobody", "pw", "")
	refused(t, "unknown user", err)
	f.clk.Add(16 * time.Minute)
	if _, err := f.login("alice", "pw", ""); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// A custom policy and an operator unlock.
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_threshold": 2, "lockout_duration": "1h"})
	f.login("alice", "x", "")
	f.login("alice", "y", "")
	_, err = f.login("alice", "pw", "")
	refused(t, "locked after 2", err)
	f.must(t, logical.UpdateOperation, "users/alice/unlock", nil)
	if _, err := f.login("alice", "pw", ""); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// T26: every failure path runs Argon2id exactly once.
func TestOneHashPerLogin(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "users/alice", map[string]any{"password": "pw"})
	f.must(t, logical.UpdateOperation, "users/locked", map[string]any{"password": "pw"})
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_threshold": 1})
	f.login("locked", "bad", "")
	tests := []struct{ name, user, pw string }{
		{"existing user, wrong password", "alice", "nope"},
		{"unknown user", "mallory", "nope"},
		{"locked user, right password", "locked", "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.hashes.Load()
			_, err := f.login(tt.user, tt.pw, "")
			refused(t, tt.name, err)
			if n := f.hashes.Load() - before; n != 1 {
				t.Errorf("%d Argon2id runs, want 1", n)
			}
		})
	}
}

func TestTOTP(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "users/bob", map[string]any{"password": "pw", "mfa_required": true})
	_, err := f.login("bob", "pw", "")
	notEnrolled(t, "mfa_required without enrollment", err)
	_, err = f.login("bob", "wrong", "")
	refused(t, "mfa_required without enrollment, wrong password", err)

	g := f.must(t, logical.UpdateOperation, "users/bob/mfa/totp/generate", nil)
	u, err := url.Parse(g.Data["url"].(string))
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != g.Data["secret"] {
		t.Fatalf("generate = %v", g.Data)
	}
	if _, err := f.do(logical.UpdateOperation, "users/bob/mfa/totp/generate", nil); err == nil {
		t.Fatal("a second generate replaced the enrolled key")
	}
	key := keyFrom(t, g.Data["secret"].(string))
	code, _ := key.Code(key.Step(f.clk.Now()))

	_, err = f.login("bob", "pw", "")
	refused(t, "no code", err)
	_, err = f.login("bob", "pw", " "+code[:3]+" "+code[3:])
	refused(t, "spaced code", err)
	_, err = f.login("bob", "wrong", code)
	refused(t, "right code, wrong password", err)
	if _, err := f.login("bob", "pw", code); err != nil {
		t.Fatalf("login with code: %v", err)
	}
	_, err = f.login("bob", "pw", code)
	refused(t, "replayed code", err)
	prev, _ := key.Code(key.Step(f.clk.Now()) - 1)
	_, err = f.login("bob", "pw", prev)
	refused(t, "older code after a newer one", err)
	f.clk.Add(30 * time.Second)
	next, _ := key.Code(key.Step(f.clk.Now()))
	if _, err := f.login("bob", "pw", next); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
	r := f.must(t, logical.ReadOperation, "users/bob", nil)
	if _, ok := r.Data["secret"]; ok || r.Data["totp_enrolled"] != true {
		t.Errorf("read after enrollment = %v", r.Data)
	}
}

// A replayed code raced 50 times is accepted once.
func TestTOTPRace(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_disable": true})
	f.must(t, logical.UpdateOperation, "users/bob", map[string]any{"password": "pw"})
	key := keyFrom(t, f.must(t, logical.UpdateOperation, "users/bob/mfa/totp/generate", nil).Data["secret"].(string))
	code, _ := key.Code(key.Step(f.clk.Now()))
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.login("bob", "pw", code); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d logins with one code, want 1", ok.Load())
	}
}

func keyFrom(t testing.TB, b32 string) totp.Key {
	t.Helper()
	k := totp.Key{Algorithm: "SHA1", Digits: 6, Period: 30, Skew: 1}
	dec, err := decodeB32(b32)
	if err != nil {
		t.Fatal(err)
	}
	k.Secret = dec
	return k
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		path string
		data map[string]any
	}{
		{"no password on create", "users/x", map[string]any{}},
		{"unknown field", "users/x", map[string]any{"password": "p", "nope": 1}},
		{"blank name", "users/%20", map[string]any{"password": "p"}},
		{"huge password", "users/x", map[string]any{"password": strings.Repeat("a", 5000)}},
		{"login without username", "login", map[string]any{"password": "p"}},
		{"bad cidr", "users/x", map[string]any{"password": "p", "token_bound_cidrs": "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := url.PathUnescape(tt.path)
			_, err := f.do(logical.UpdateOperation, path, tt.data)
			if code, _, _ := logical.StatusOf(err); err == nil || code >= 500 {
				t.Errorf("err = %v, want a 4xx", err)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	b, err := userpass.New(context.Background(), s, userpass.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "users/a", Data: map[string]any{"password": "pw"}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := s.Get(ctx, "user/a")
	if !strings.Contains(string(raw), "m=19456,t=2,p=1") {
		t.Errorf("stored hash does not use the default parameters: %s", raw)
	}
	if _, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "login/a", Data: map[string]any{"password": "pw"}}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLoginDefaultParams(b *testing.B) {
	s := &logicaltest.InmemStorage{}
	be, _ := userpass.New(context.Background(), s, userpass.Options{})
	ctx := context.Background()
	be.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "users/a", Data: map[string]any{"password": "pw"}})
	for b.Loop() {
		if _, err := be.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "login/a", Data: map[string]any{"password": "pw"}}); err != nil {
			b.Fatal(err)
		}
	}
}
