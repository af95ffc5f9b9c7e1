package userpass_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/logical"
)

// notEnrolled asserts the refusal of a right password for a user who needs
// TOTP but has no key: a 403 that tells the administrator what to do.
func notEnrolled(t testing.TB, what string, err error) {
	t.Helper()
	code, msg, _ := logical.StatusOf(err)
	if err == nil || code != http.StatusForbidden || !strings.Contains(msg, "no TOTP key enrolled") || !strings.Contains(msg, "mfa/totp/generate") {
		t.Fatalf("%s: err = %v, want the 403 asking for enrollment", what, err)
	}
}

func TestMFAPoliciesConfig(t *testing.T) {
	f := newFixture(t)
	r := f.must(t, logical.ReadOperation, "config", nil)
	if d := cmp.Diff([]string{}, r.Data["mfa_policies"]); d != "" {
		t.Errorf("default mfa_policies (-want +got):\n%s", d)
	}
	f.must(t, logical.UpdateOperation, "config", map[string]any{"mfa_policies": " Admin ,ops,admin,", "lockout_threshold": 3})
	// Updating only the lockout keeps mfa_policies, and the reverse.
	f.must(t, logical.UpdateOperation, "config", map[string]any{"lockout_duration": "1h"})
	r = f.must(t, logical.ReadOperation, "config", nil)
	if d := cmp.Diff([]string{"admin", "ops"}, r.Data["mfa_policies"]); d != "" {
		t.Errorf("mfa_policies (-want +got):\n%s", d)
	}
	if r.Data["lockout_threshold"] != 3 || r.Data["lockout_duration"] != int64(3600) {
		t.Errorf("lockout settings lost: %v", r.Data)
	}
	if _, err := f.do(logical.UpdateOperation, "config", map[string]any{"mfa_policy": "admin"}); err == nil {
		t.Error("a misspelt field was accepted")
	}
	if _, err := f.do(logical.UpdateOperation, "config", map[string]any{"mfa_policies": 7}); err == nil {
		t.Error("a number was accepted as a policy list")
	}
	f.must(t, logical.UpdateOperation, "config", map[string]any{"mfa_policies": []any{}})
	if r = f.must(t, logical.ReadOperation, "config", nil); len(r.Data["mfa_policies"].([]string)) != 0 {
		t.Errorf("mfa_policies not cleared: %v", r.Data["mfa_policies"])
	}
}

// A user holding a policy listed in mfa_policies needs TOTP as if
// mfa_required were set.
func TestMFAPoliciesLogin(t *testing.T) {
	type outcome int
	const (
		ok outcome = iota
		refusedLogin
		needsEnrollment
	)
	tests := []struct {
		name        string
		mfaPolicies any
		user        map[string]any
		enroll      bool
		code        string // "", "right" or "wrong"
		want        outcome
	}{
		{"no mfa policies, no code", nil, map[string]any{"token_policies": "admin"}, false, "", ok},
		{"policy listed, not enrolled", "admin", map[string]any{"token_policies": "admin,dev"}, false, "", needsEnrollment},
		{"policy listed case-insensitively", "ADMIN", map[string]any{"token_policies": "Admin"}, false, "", needsEnrollment},
		{"policy listed, enrolled, no code", "admin", map[string]any{"token_policies": "admin"}, true, "", refusedLogin},
		{"policy listed, enrolled, wrong code", "admin", map[string]any{"token_policies": "admin"}, true, "wrong", refusedLogin},
		{"policy listed, enrolled, right code", "admin", map[string]any{"token_policies": "admin"}, true, "right", ok},
		{"other policy listed", "admin", map[string]any{"token_policies": "dev"}, false, "", ok},
		{"one of several listed", []any{"ops", "admin"}, map[string]any{"token_policies": "dev,ops"}, false, "", needsEnrollment},
		{"default policy listed", "default", map[string]any{"token_policies": "dev"}, false, "", needsEnrollment},
		{"default listed, no default policy", "default", map[string]any{"token_policies": "dev", "token_no_default_policy": true}, false, "", ok},
		{"mfa_required still applies", "admin", map[string]any{"token_policies": "dev", "mfa_required": true}, false, "", needsEnrollment},
		{"enrolled without a listed policy needs a code", "admin", map[string]any{"token_policies": "dev"}, true, "", refusedLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.mfaPolicies != nil {
				f.must(t, logical.UpdateOperation, "config", map[string]any{"mfa_policies": tc.mfaPolicies})
			}
			user := map[string]any{"password": "pw"}
			for k, v := range tc.user {
				user[k] = v
			}
			f.must(t, logical.UpdateOperation, "users/carol", user)
			code := ""
			if tc.enroll {
				key := keyFrom(t, f.must(t, logical.UpdateOperation, "users/carol/mfa/totp/generate", nil).Data["secret"].(string))
				right, _ := key.Code(key.Step(f.clk.Now()))
				switch tc.code {
				case "right":
					code = right
				case "wrong":
					// A code valid for no step within the skew window.
					step := key.Step(f.clk.Now())
					valid := map[string]bool{}
					for _, s := range []uint64{step - 1, step, step + 1} {
						c, _ := key.Code(s)
						valid[c] = true
					}
					for _, c := range []string{"000000", "111111", "222222", "333333"} {
						if !valid[c] {
							code = c
							break
						}
					}
				}
			}
			resp, err := f.login("carol", "pw", code)
			switch tc.want {
			case ok:
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if resp.Auth == nil || resp.Auth.DisplayName != "carol" {
					t.Fatalf("auth = %+v", resp.Auth)
				}
			case refusedLogin:
				refused(t, tc.name, err)
			case needsEnrollment:
				notEnrolled(t, tc.name, err)
				// A wrong password still gets the one login error, so
				// the enrollment message is no user oracle.
				_, err := f.login("carol", "wrong", "")
				refused(t, tc.name+", wrong password", err)
			}
		})
	}
}

// Refusing an unenrolled user neither counts as a failure (the password
// was right) nor clears the failures counted before.
func TestMFAPoliciesNotEnrolledLockout(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "config", map[string]any{"mfa_policies": "admin", "lockout_threshold": 2})
	f.must(t, logical.UpdateOperation, "users/dave", map[string]any{"password": "pw", "token_policies": "admin"})
	_, err := f.login("dave", "bad", "")
	refused(t, "wrong password", err)
	for range 3 {
		_, err = f.login("dave", "pw", "")
		notEnrolled(t, "right password, not enrolled", err)
	}
	_, err = f.login("dave", "bad", "")
	refused(t, "second wrong password", err)
	_, err = f.login("dave", "pw", "")
	refused(t, "right password once locked", err)
}

func TestRenewAuth(t *testing.T) {
	f := newFixture(t)
	f.must(t, logical.UpdateOperation, "users/erin", map[string]any{"password": "pw", "token_policies": "dev"})
	resp, err := f.login("erin", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	renew := func(meta map[string]string) error {
		return f.b.RenewAuth(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "renew-self", Storage: f.s}, meta)
	}
	if err := renew(resp.Auth.Metadata); err != nil {
		t.Fatalf("renew while the user exists: %v", err)
	}
	if err := renew(map[string]string{"username": " ERIN"}); err != nil {
		t.Fatalf("renew with a name variant: %v", err)
	}
	f.must(t, logical.DeleteOperation, "users/erin", nil)
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"deleted user", resp.Auth.Metadata},
		{"no username", map[string]string{}},
		{"invalid username", map[string]string{"username": "a/b"}},
		{"unknown user", map[string]string{"username": "nobody"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := renew(tc.meta)
			if code, _, _ := logical.StatusOf(err); err == nil || code != http.StatusForbidden {
				t.Fatalf("renew: err = %v, want a 403", err)
			}
		})
	}
}
