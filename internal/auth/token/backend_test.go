package token_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

const (
	opUpdate = logical.UpdateOperation
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opDelete = logical.DeleteOperation
)

// createAuth calls auth/token/<path> and returns the new token's Auth.
func createAuth(t testing.TB, f *fixture, path, tok string, data map[string]any) *logical.Auth {
	t.Helper()
	resp, err := f.do(t, opUpdate, path, tok, data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken.Empty() {
		t.Fatalf("%s: response has no auth", path)
	}
	return resp.Auth
}

func TestBackendCreateValidation(t *testing.T) {
	f := newFixture(t, token.Options{})
	dev := createAuth(t, f, "create", f.root, map[string]any{"policies": []any{"dev", "ops"}})
	tests := []struct {
		name   string
		parent string
		data   map[string]any
		code   int
	}{
		{"uppercase Root", f.root, map[string]any{"policies": []any{"Root"}}, 400},
		{"space root", f.root, map[string]any{"policies": []any{" root"}}, 400},
		{"space root in a string list", f.root, map[string]any{"policies": "dev, root"}, 400},
		{"zero width root", f.root, map[string]any{"policies": []any{"root\u200b"}}, 400},
		{"cyrillic root", f.root, map[string]any{"policies": []any{"r\u043e\u043et"}}, 400},
		{"non-string policy", f.root, map[string]any{"policies": []any{1}}, 400},
		{"batch root", f.root, map[string]any{"type": "batch"}, 400}, // inherits root
		{"batch", f.root, map[string]any{"type": "batch", "policies": "dev"}, 0},
		{"batch use-limited", f.root, map[string]any{"type": "batch", "policies": "dev", "num_uses": 2}, 400},
		{"batch periodic", f.root, map[string]any{"type": "batch", "policies": "dev", "period": "1h"}, 400},
		{"batch explicit max", f.root, map[string]any{"type": "batch", "policies": "dev", "explicit_max_ttl": "1h"}, 400},
		{"batch custom id", f.root, map[string]any{"type": "batch", "policies": "dev", "id": "abc"}, 400},
		{"default-batch is a role type", f.root, map[string]any{"type": "default-batch", "policies": "dev"}, 400},
		{"unknown type", f.root, map[string]any{"type": "x"}, 400},
		{"bad ttl", f.root, map[string]any{"ttl": "soon"}, 400},
		{"negative uses", f.root, map[string]any{"num_uses": -1}, 400},
		{"bad meta", f.root, map[string]any{"meta": []any{"x"}}, 400},
		{"non-root grants root", dev.ClientToken.Reveal(), map[string]any{"policies": []any{"root"}}, 403},
		{"not a subset", dev.ClientToken.Reveal(), map[string]any{"policies": []any{"dev", "admin"}}, 403},
		{"non-root custom id", dev.ClientToken.Reveal(), map[string]any{"id": "abc-def"}, 403},
		{"non-root no_parent", dev.ClientToken.Reveal(), map[string]any{"no_parent": true}, 403},
		{"non-root period", dev.ClientToken.Reveal(), map[string]any{"period": "1h"}, 403},
		{"no policies at all", dev.ClientToken.Reveal(), map[string]any{"policies": []any{}, "no_default_policy": true}, 400},
		{"subset ok", dev.ClientToken.Reveal(), map[string]any{"policies": []any{"dev"}}, 0},
		{"default always ok", dev.ClientToken.Reveal(), map[string]any{"policies": []any{"default"}}, 0},
		{"root grants root", f.root, map[string]any{"policies": []any{"root"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.do(t, opUpdate, "create", tt.parent, tt.data)
			if got := codeOf(err); got != tt.code {
				t.Errorf("create(%v) = %v (code %d), want code %d", tt.data, err, got, tt.code)
			}
		})
	}
	if _, err := f.do(t, opUpdate, "create/nope", f.root, nil); codeOf(err) != 400 {
		t.Errorf("create/nope = %v, want 400", err)
	}
	if _, err := f.do(t, opUpdate, "create", "kws_not-a-real-token", nil); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("create with a bad token = %v", err)
	}
}

func TestBackendCreate(t *testing.T) {
	f := newFixture(t, token.Options{})
	a := createAuth(t, f, "create", f.root, map[string]any{
		"policies": "b,a", "meta": map[string]any{"k": "v"}, "ttl": "1h", "num_uses": 5,
		"display_name": "my app!", "renewable": false,
	})
	if diff := cmp.Diff([]string{"a", "b", "default"}, a.Policies); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	if a.TTL != time.Hour || a.NumUses != 5 || a.Renewable || a.Orphan || a.TokenType != "service" || a.Accessor == "" {
		t.Errorf("auth = ttl %v uses %d renewable %v orphan %v type %q", a.TTL, a.NumUses, a.Renewable, a.Orphan, a.TokenType)
	}
	e, err := f.store.Lookup(context.Background(), a.ClientToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if e.DisplayName != "token-my-app" || e.Path != "auth/token/create" || e.Meta["k"] != "v" {
		t.Errorf("entry display %q path %q meta %v", e.DisplayName, e.Path, e.Meta)
	}

	// Inherit the parent's policies; ttl 0 still expires. (a is use-limited,
	// so it cannot be a parent: use an unlimited token with its policies.)
	p := createAuth(t, f, "create", f.root, map[string]any{"policies": "b,a", "ttl": 0})
	if p.TTL != 768*time.Hour {
		t.Errorf("ttl 0 gave %v, want the default", p.TTL)
	}
	child := createAuth(t, f, "create", p.ClientToken.Reveal(), map[string]any{"ttl": 0})
	if diff := cmp.Diff(a.Policies, child.Policies); diff != "" {
		t.Errorf("inherited policies (-want +got):\n%s", diff)
	}
	// Root child of root never expires; no "default" added.
	r := createAuth(t, f, "create", f.root, nil)
	if diff := cmp.Diff([]string{"root"}, r.Policies); diff != "" || r.TTL != 0 {
		t.Errorf("root child policies %v ttl %v", r.Policies, r.TTL)
	}
	o := createAuth(t, f, "create-orphan", p.ClientToken.Reveal(), map[string]any{"policies": []any{"a"}, "no_default_policy": true})
	if !o.Orphan || !slices.Equal(o.Policies, []string{"a"}) {
		t.Errorf("create-orphan: orphan %v policies %v", o.Orphan, o.Policies)
	}
	np := createAuth(t, f, "create", f.root, map[string]any{"no_parent": true, "policies": "a", "id": "custom-token-1", "period": "2h"})
	if !np.Orphan || np.ClientToken.Reveal() != "custom-token-1" || np.TTL != 2*time.Hour || np.Period != 2*time.Hour {
		t.Errorf("no_parent: %+v", np.Orphan)
	}
	mc := f.request(t, opUpdate, "create", f.root, map[string]any{"policies": "a", "ttl": "100h"})
	mc.MountConfig = logical.MountConfig{DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 10 * time.Hour}
	resp, err := f.store.Backend().HandleRequest(context.Background(), mc)
	if err != nil || resp.Auth.TTL != 10*time.Hour || len(resp.Warnings) == 0 {
		t.Errorf("mount max not applied: %v %v", err, resp)
	}
	// Sudo callback lets a non-root caller create orphans.
	fs := newFixture(t, token.Options{Sudo: func(context.Context, *logical.Request) bool { return true }})
	dev := createAuth(t, fs, "create", fs.root, map[string]any{"policies": "dev"})
	if a := createAuth(t, fs, "create", dev.ClientToken.Reveal(), map[string]any{"no_parent": true}); !a.Orphan {
		t.Errorf("sudo caller could not create an orphan")
	}
}

func TestBackendRoles(t *testing.T) {
	f := newFixture(t, token.Options{})
	dev := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev"})
	if _, err := f.do(t, opUpdate, "roles/ci", f.root, map[string]any{
		"allowed_policies": []any{"ci", "deploy"}, "disallowed_policies": "admin", "orphan": true,
		"path_suffix": "v1", "token_explicit_max_ttl": "2h", "token_bound_cidrs": []any{"127.0.0.1/32"},
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	resp, err := f.do(t, opRead, "roles/ci", f.root, nil)
	if err != nil || resp == nil {
		t.Fatalf("read role: %v", err)
	}
	want := map[string]any{
		"name": "ci", "allowed_policies": []string{"ci", "deploy"}, "disallowed_policies": []string{"admin"},
		"orphan": true, "renewable": true, "path_suffix": "v1", "token_explicit_max_ttl": int64(7200),
		"explicit_max_ttl": int64(7200), "token_period": int64(0), "period": int64(0),
		"token_bound_cidrs": []string{"127.0.0.1/32"}, "token_no_default_policy": false, "token_type": "default-service",
	}
	if diff := cmp.Diff(want, resp.Data); diff != "" {
		t.Errorf("role (-want +got):\n%s", diff)
	}
	// A non-root parent may get the role's policies without holding them.
	a := createAuth(t, f, "create/ci", dev.ClientToken.Reveal(), map[string]any{"ttl": "10h"})
	if !slices.Equal(a.Policies, []string{"ci", "default", "deploy"}) || !a.Orphan || a.TTL != 2*time.Hour {
		t.Errorf("role token policies %v orphan %v ttl %v", a.Policies, a.Orphan, a.TTL)
	}
	e, _ := f.store.LookupAccessor(context.Background(), a.Accessor)
	if e.Path != "auth/token/create/ci/v1" || e.Role != "ci" {
		t.Errorf("path %q role %q", e.Path, e.Role)
	}
	if _, err := f.store.Use(context.Background(), a.ClientToken.Reveal(), "10.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("role bound cidrs not enforced: %v", err)
	}
	for name, data := range map[string]map[string]any{
		"outside allowed": {"policies": "admin"},
		"root":            {"policies": "root"},
	} {
		if _, err := f.do(t, opUpdate, "create/ci", dev.ClientToken.Reveal(), data); codeOf(err) != 403 {
			t.Errorf("create/ci %s = %v, want 403", name, err)
		}
	}
	for name, data := range map[string]map[string]any{
		"root allowed":  {"allowed_policies": "root"},
		"root spelled":  {"allowed_policies": []any{"dev", " Root "}},
		"bad policy":    {"allowed_policies": []any{"dev;admin"}},
		"bad disallow":  {"disallowed_policies": []any{"ｄev"}},
		"bad cidr":      {"token_bound_cidrs": "10.0.0.0/99"},
		"bad suffix":    {"path_suffix": "../x"},
		"unknown type":  {"token_type": "hybrid"},
		"batch period":  {"token_type": "batch", "token_period": "1h"},
		"bad ttl":       {"token_period": "x"},
		"bad renewable": {"renewable": "maybe"},
	} {
		if _, err := f.do(t, opUpdate, "roles/bad", f.root, data); codeOf(err) != 400 {
			t.Errorf("roles/bad %s = %v, want 400", name, err)
		}
	}
	// Role policy names are folded as Vault folds them (trimmed, lower
	// case, sorted, deduplicated) before anything checks them.
	f.do(t, opUpdate, "roles/folded", f.root, map[string]any{"allowed_policies": " Dev ,ci,dev", "disallowed_policies": []any{"ADMIN"}})
	if resp, err := f.do(t, opRead, "roles/folded", f.root, nil); err != nil ||
		!slices.Equal(resp.Data["allowed_policies"].([]string), []string{"ci", "dev"}) || !slices.Equal(resp.Data["disallowed_policies"].([]string), []string{"admin"}) {
		t.Errorf("folded role = %v, %v", resp, err)
	}
	if _, err := f.do(t, opDelete, "roles/folded", f.root, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.do(t, opUpdate, "roles/Bad", f.root, nil); codeOf(err) != 400 {
		t.Errorf("role name not validated: %v", err)
	}
	// Role without allowed policies: subset of the parent, minus disallowed.
	f.do(t, opUpdate, "roles/plain", f.root, map[string]any{"disallowed_policies": "dev", "renewable": false})
	if _, err := f.do(t, opUpdate, "create/plain", dev.ClientToken.Reveal(), nil); codeOf(err) != 403 {
		t.Errorf("disallowed policy granted: %v", err)
	}
	p := createAuth(t, f, "create/plain", f.root, map[string]any{"policies": "x"})
	if p.Renewable || p.Orphan {
		t.Errorf("plain role: renewable %v orphan %v", p.Renewable, p.Orphan)
	}
	found, exists, err := f.store.Backend().(logical.ExistenceChecker).ExistenceCheck(context.Background(), f.request(t, opUpdate, "roles/ci", f.root, nil))
	if !found || !exists || err != nil {
		t.Errorf("ExistenceCheck = %v %v %v", found, exists, err)
	}
	list, err := f.do(t, opList, "roles/", f.root, nil)
	if err != nil || !slices.Equal(list.Data["keys"].([]string), []string{"ci", "plain"}) {
		t.Errorf("list roles = %v, %v", list, err)
	}
	if _, err := f.do(t, opDelete, "roles/ci", f.root, nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := f.do(t, opRead, "roles/ci", f.root, nil); resp != nil || err != nil {
		t.Errorf("deleted role read = %v, %v", resp, err)
	}
}

func TestBackendLookup(t *testing.T) {
	f := newFixture(t, token.Options{})
	a := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev", "ttl": "1h", "meta": "team=a", "period": "30m"})
	f.clock.Add(10 * time.Minute)
	self, err := f.do(t, opRead, "lookup-self", a.ClientToken.Reveal(), nil)
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	d := self.Data
	if d["id"] != a.ClientToken.Reveal() || d["accessor"] != a.Accessor || d["ttl"] != int64(20*60) || d["period"] != int64(1800) ||
		d["creation_ttl"] != int64(1800) || d["type"] != "service" || d["orphan"] != false || d["path"] != "auth/token/create" {
		t.Errorf("lookup-self data = %v", d)
	}
	for _, k := range []string{"creation_time", "display_name", "entity_id", "expire_time", "explicit_max_ttl", "identity_policies", "issue_time", "meta", "num_uses", "policies", "renewable"} {
		if _, ok := d[k]; !ok {
			t.Errorf("lookup-self lacks %q", k)
		}
	}
	other, err := f.do(t, opUpdate, "lookup", f.root, map[string]any{"token": a.ClientToken.Reveal()})
	if err != nil || other.Data["accessor"] != a.Accessor {
		t.Errorf("lookup = %v, %v", other, err)
	}
	// T14: lookup-accessor never shows the token.
	acc, err := f.do(t, opUpdate, "lookup-accessor", f.root, map[string]any{"accessor": a.Accessor})
	if err != nil {
		t.Fatalf("lookup-accessor: %v", err)
	}
	if _, ok := acc.Data["id"]; ok {
		t.Errorf("lookup-accessor shows an id")
	}
	for k, v := range acc.Data {
		if s, ok := v.(string); ok && strings.Contains(s, a.ClientToken.Reveal()) {
			t.Errorf("lookup-accessor field %q holds the token", k)
		}
	}
	root, _ := f.do(t, opRead, "lookup-self", f.root, nil)
	if root.Data["expire_time"] != nil || root.Data["ttl"] != int64(0) {
		t.Errorf("root lookup expire %v ttl %v", root.Data["expire_time"], root.Data["ttl"])
	}
	// T14: the accessor is not a token.
	if _, err := f.do(t, opRead, "lookup-self", a.Accessor, nil); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("lookup-self with an accessor = %v", err)
	}
	if _, err := f.do(t, opUpdate, "lookup", f.root, map[string]any{"token": a.Accessor}); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("lookup of an accessor = %v", err)
	}
	if _, err := f.do(t, opUpdate, "lookup-accessor", f.root, map[string]any{"accessor": "nope"}); codeOf(err) != 400 {
		t.Errorf("lookup-accessor bad = %v", err)
	}
	if _, err := f.do(t, opUpdate, "lookup", f.root, nil); codeOf(err) != 400 {
		t.Errorf("lookup without token = %v", err)
	}
}

func TestBackendRenew(t *testing.T) {
	f := newFixture(t, token.Options{})
	a := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev", "ttl": "1h", "explicit_max_ttl": "3h"})
	f.clock.Add(30 * time.Minute)
	resp, err := f.do(t, opUpdate, "renew-self", a.ClientToken.Reveal(), map[string]any{"increment": "2h"})
	if err != nil || resp.Auth.TTL != 2*time.Hour || resp.Auth.ClientToken.Reveal() != a.ClientToken.Reveal() {
		t.Fatalf("renew-self = %v, %v", resp, err)
	}
	resp, err = f.do(t, opUpdate, "renew", f.root, map[string]any{"token": a.ClientToken.Reveal(), "increment": 36000})
	if err != nil || resp.Auth.TTL != 150*time.Minute {
		t.Errorf("renew past explicit max: %v, %v", resp, err)
	}
	resp, err = f.do(t, opUpdate, "renew-accessor", f.root, map[string]any{"accessor": a.Accessor, "increment": "1h"})
	if err != nil || resp.Auth.TTL != time.Hour || !resp.Auth.ClientToken.Empty() {
		t.Errorf("renew-accessor = %v, %v", resp, err)
	}
	if _, err := f.do(t, opUpdate, "renew-self", f.root, nil); codeOf(err) != 400 {
		t.Errorf("renew root = %v, want 400 not renewable", err)
	}
	if _, err := f.do(t, opUpdate, "renew-self", a.ClientToken.Reveal(), map[string]any{"increment": "x"}); codeOf(err) != 400 {
		t.Errorf("bad increment = %v", err)
	}
	if _, err := f.do(t, opUpdate, "renew-accessor", f.root, map[string]any{"accessor": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}); codeOf(err) != 400 {
		t.Errorf("renew unknown accessor = %v", err)
	}
}

func TestBackendRevoke(t *testing.T) {
	f := newFixture(t, token.Options{})
	mk := func(parent string) *logical.Auth {
		return createAuth(t, f, "create", parent, map[string]any{"policies": "dev"})
	}
	p := mk(f.root)
	c := mk(p.ClientToken.Reveal())
	for _, tc := range []struct {
		path string
		tok  string
		data func(a *logical.Auth) map[string]any
	}{
		{"revoke-self", "", nil},
		{"revoke", f.root, func(a *logical.Auth) map[string]any { return map[string]any{"token": a.ClientToken.Reveal()} }},
		{"revoke-accessor", f.root, func(a *logical.Auth) map[string]any { return map[string]any{"accessor": a.Accessor} }},
	} {
		x := mk(f.root)
		xc := mk(x.ClientToken.Reveal())
		caller, data := tc.tok, map[string]any(nil)
		if caller == "" {
			caller = x.ClientToken.Reveal()
		}
		if tc.data != nil {
			data = tc.data(x)
		}
		resp, err := f.do(t, opUpdate, tc.path, caller, data)
		if err != nil || resp != nil {
			t.Errorf("%s = %v, %v; want 204", tc.path, resp, err)
		}
		assertAllInvalid(t, f.store, []string{x.ClientToken.Reveal(), xc.ClientToken.Reveal()})
	}
	if _, err := f.do(t, opUpdate, "revoke-orphan", f.root, map[string]any{"token": p.ClientToken.Reveal()}); err != nil {
		t.Fatalf("revoke-orphan: %v", err)
	}
	assertAllInvalid(t, f.store, []string{p.ClientToken.Reveal()})
	if e, err := f.store.Lookup(context.Background(), c.ClientToken.Reveal()); err != nil || !e.Orphan {
		t.Errorf("child after revoke-orphan: %v", err)
	}
	if _, err := f.do(t, opUpdate, "revoke-accessor", f.root, map[string]any{"accessor": p.Accessor}); codeOf(err) != 400 {
		t.Errorf("revoke-accessor of a gone token = %v, want 400", err)
	}
	if _, err := f.do(t, opUpdate, "revoke", f.root, map[string]any{"token": "kws_unknown"}); err != nil {
		t.Errorf("revoke of an unknown token = %v, want 204", err)
	}
	list, err := f.do(t, opList, "accessors/", f.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if keys := list.Data["keys"].([]string); len(keys) != 2 || !slices.Contains(keys, c.Accessor) {
		t.Errorf("accessors = %v", keys)
	}
	f.clock.Add(800 * time.Hour)
	tidy, err := f.do(t, opUpdate, "tidy", f.root, nil)
	if err != nil || tidy.Data["removed"] != 1 {
		t.Errorf("tidy = %v, %v", tidy, err)
	}
	// The core ignores the trailing "/" of a LIST when it matches the
	// sudo list, so "accessors" covers "accessors/".
	sp := f.store.Backend().(logical.SudoPaths).SudoPaths()
	for _, want := range []string{"accessors/", "revoke-orphan", "batch-key", "batch-key/rotate"} {
		if !slices.Contains(sp, want) && !slices.Contains(sp, strings.TrimSuffix(want, "/")) {
			t.Errorf("SudoPaths %q lacks %q", sp, want)
		}
	}
}

func TestBackendRouting(t *testing.T) {
	f := newFixture(t, token.Options{})
	tests := []struct {
		op   logical.Operation
		path string
		want error
	}{
		{opRead, "create", logical.ErrUnsupportedOperation},
		{opRead, "lookup", logical.ErrUnsupportedOperation},
		{opList, "renew-self", logical.ErrUnsupportedOperation},
		{opRead, "revoke", logical.ErrUnsupportedOperation},
		{opRead, "accessors/", logical.ErrUnsupportedOperation},
		{opRead, "roles/", logical.ErrUnsupportedOperation},
		{opRead, "tidy", logical.ErrUnsupportedOperation},
		{opList, "roles/x", logical.ErrUnsupportedOperation},
		{opRead, "nope", logical.ErrUnsupportedPath},
		{opRead, "../sys", logical.ErrUnsupportedPath},
	}
	for _, tt := range tests {
		if _, err := f.do(t, tt.op, tt.path, f.root, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s %s = %v, want %v", tt.op, tt.path, err, tt.want)
		}
	}
}
