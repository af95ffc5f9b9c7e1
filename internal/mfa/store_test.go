package mfa_test

import (
	"context"
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/mfa"
)

type fixture struct {
	t      *testing.T
	st     *logicaltest.InmemStorage
	clock  *clocktest.Clock
	s      *mfa.Store
	routes *logical.Router
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, st: &logicaltest.InmemStorage{}, clock: clocktest.New(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))}
	f.reopen()
	return f
}

func (f *fixture) reopen() {
	s, err := mfa.New(context.Background(), f.st, mfa.Options{Now: f.clock.Now, EntityName: func(id string) (string, bool) {
		return "user-" + id, strings.HasPrefix(id, "e")
	}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
	f.routes = logical.NewRouter("mfa", s.Routes()...)
}

func (f *fixture) do(op logical.Operation, path string, data map[string]any, entity string) (*logical.Response, error) {
	req := &logical.Request{Operation: op, Path: path, Data: data, Token: &logical.TokenInfo{EntityID: entity, Accessor: "acc-" + entity}}
	return f.routes.HandleRequest(context.Background(), req)
}

func (f *fixture) method(data map[string]any) string {
	f.t.Helper()
	resp, err := f.do(logical.UpdateOperation, "mfa/method/totp", data, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.Data["method_id"].(string)
}

func (f *fixture) enroll(method, entity string) totp.Key {
	f.t.Helper()
	resp, err := f.do(logical.UpdateOperation, "mfa/method/totp/admin-generate", map[string]any{"method_id": method, "entity_id": entity}, "")
	if err != nil {
		f.t.Fatal(err)
	}
	u, _ := url.Parse(resp.Data["url"].(string))
	sec, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	return totp.Key{Secret: sec, Algorithm: "SHA1", Digits: 6, Period: 30, Skew: 1}
}

func code(k totp.Key, at time.Time) string {
	c, _ := k.Code(k.Step(at))
	return c
}

// max_validation_attempts consecutive failures lock the method for the
// entity, even against a valid code, until LockoutDuration passes or an
// operator regenerates the secret; another entity is unaffected.
func TestLockout(t *testing.T) {
	f := newFixture(t)
	id := f.method(map[string]any{"method_name": "m", "issuer": "K", "max_validation_attempts": 3})
	k := f.enroll(id, "e1")
	k2 := f.enroll(id, "e2")
	for i := 0; i < 3; i++ {
		if err := f.s.CheckPath("e1", "a1", []string{"m"}, []mfa.Credential{{"m", "000000"}}); err == nil {
			t.Fatal("a wrong code passed")
		}
	}
	err := f.s.CheckPath("e1", "a1", []string{"m"}, []mfa.Credential{{"m", code(k, f.clock.Now())}})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("valid code while locked: err = %v, want locked", err)
	}
	if err := f.s.CheckPath("e2", "a2", []string{"m"}, []mfa.Credential{{"m", code(k2, f.clock.Now())}}); err != nil {
		t.Fatalf("another entity: %v", err)
	}
	f.clock.Add(mfa.LockoutDuration)
	if err := f.s.CheckPath("e1", "a1", []string{"m"}, []mfa.Credential{{"m", code(k, f.clock.Now())}}); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}

// Secrets, methods, enforcements and forced marks survive a reopen; a
// used step stays spent only in memory, but a new code is needed anyway.
func TestPersistAndForced(t *testing.T) {
	f := newFixture(t)
	id := f.method(map[string]any{"method_name": "m", "issuer": "K"})
	k := f.enroll(id, "e1")
	if _, err := f.do(logical.UpdateOperation, "mfa/login-enforcement/by-type", map[string]any{"mfa_method_ids": []string{id}, "auth_method_types": "jwt"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.do(logical.DeleteOperation, "mfa/method/totp/"+id, nil, ""); err == nil {
		t.Fatal("deleted a method an enforcement uses")
	}
	ctx := context.Background()
	if err := f.s.RequireMFA(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	cons, err := f.s.LoginConstraints(mfa.LoginInput{EntityID: "e1", MountAccessor: "auth_userpass_1", MountType: "userpass"})
	if err != nil || len(cons) != 1 || cons[0].MethodIDs[0] != id {
		t.Fatalf("forced constraints = %v, %v", cons, err)
	}
	if cons, _ := f.s.LoginConstraints(mfa.LoginInput{EntityID: "e2", MountType: "jwt"}); len(cons) != 1 || cons[0].Name != "by-type" {
		t.Fatalf("jwt login constraints = %v", cons)
	}
	if cons, _ := f.s.LoginConstraints(mfa.LoginInput{EntityID: "e2", MountType: "userpass"}); len(cons) != 0 {
		t.Fatalf("unenforced login constraints = %v", cons)
	}
	r := f.s.Hold("e1", cons, "held")
	if _, err := f.s.Validate(ctx, r.RequestID, map[string][]string{"m": {code(k, f.clock.Now())}}); err != nil {
		t.Fatalf("validate by method name: %v", err)
	}
	if cons, _ := f.s.LoginConstraints(mfa.LoginInput{EntityID: "e1", MountType: "userpass"}); len(cons) != 0 {
		t.Fatalf("forced mark not cleared: %v", cons)
	}
	// A held login expires.
	r = f.s.Hold("e1", []mfa.Constraint{{Name: "x", MethodIDs: []string{id}}}, "held")
	f.clock.Add(mfa.PendingTTL)
	if _, err := f.s.Validate(ctx, r.RequestID, map[string][]string{id: {code(k, f.clock.Now())}}); err == nil {
		t.Fatal("an expired held login validated")
	}
}

func TestMethodValidation(t *testing.T) {
	f := newFixture(t)
	for _, data := range []map[string]any{
		{"issuer": ""},
		{"issuer": "K", "digits": 7},
		{"issuer": "K", "algorithm": "MD5"},
		{"issuer": "K", "skew": 2},
		{"issuer": "K", "key_size": 4},
		{"issuer": "K", "bogus": 1},
		{"issuer": "K", "method_name": "a/b"},
	} {
		if _, err := f.do(logical.UpdateOperation, "mfa/method/totp", data, ""); err == nil {
			t.Errorf("method %v accepted", data)
		}
	}
	id := f.method(map[string]any{"method_name": "m", "issuer": "K"})
	if _, err := f.do(logical.UpdateOperation, "mfa/method/totp", map[string]any{"method_name": "m", "issuer": "K"}, ""); err == nil {
		t.Error("a second method named m")
	}
	resp, err := f.do(logical.ReadOperation, "mfa/method/totp/"+id, nil, "")
	if err != nil || resp.Data["skew"] != 1 || resp.Data["period"] != 30 || resp.Data["digits"] != 6 {
		t.Fatalf("defaults = %v, %v", resp, err)
	}
	// Self-generate needs an entity.
	if _, err := f.do(logical.UpdateOperation, "mfa/method/totp/generate", map[string]any{"method_id": id}, ""); err == nil {
		t.Error("generate without an entity")
	}
}

// Freshness belongs to one token (accessor) of one entity, ends with the
// window, and ends at once when an operator destroys the secret.
func TestFreshness(t *testing.T) {
	f := newFixture(t)
	id := f.method(map[string]any{"method_name": "m", "issuer": "K", "mfa_freshness": "2m"})
	k := f.enroll(id, "e1")
	need := []string{"m"}
	if err := f.s.CheckPath("e1", "a1", need, []mfa.Credential{{"", code(k, f.clock.Now())}}); err != nil {
		t.Fatalf("bare code for the one method: %v", err)
	}
	if err := f.s.CheckPath("e1", "a1", need, nil); err != nil {
		t.Fatalf("within freshness: %v", err)
	}
	if err := f.s.CheckPath("e1", "a2", need, nil); err == nil {
		t.Fatal("another token of the entity rode on the freshness")
	}
	if err := f.s.CheckPath("e1", "", need, nil); err == nil {
		t.Fatal("a token without an accessor got freshness")
	}
	f.clock.Add(2 * time.Minute)
	if err := f.s.CheckPath("e1", "a1", need, nil); err == nil {
		t.Fatal("freshness outlived its window")
	}
	f.clock.Add(30 * time.Second)
	if err := f.s.CheckPath("e1", "a1", need, []mfa.Credential{{"m", code(k, f.clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.do(logical.UpdateOperation, "mfa/method/totp/admin-destroy", map[string]any{"method_id": id, "entity_id": "e1"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.s.CheckPath("e1", "a1", need, nil); err == nil {
		t.Fatal("freshness survived the destroyed secret")
	}
}
