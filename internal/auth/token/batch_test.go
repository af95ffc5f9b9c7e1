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
	"github.com/keyward/keyward/internal/tokenfmt"
)

// A batch token is a kwb_ token that costs no storage write, works, looks
// up as type batch with no accessor, and is not renewable.
func TestBatchCreateWritesNothing(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	before := dump(t, f.st)
	a := createAuth(t, f, "create", f.root, map[string]any{
		"type": "batch", "policies": "dev", "ttl": "10m", "meta": map[string]any{"job": "42"}, "display_name": "ci",
	})
	if diff := cmp.Diff(before, dump(t, f.st)); diff != "" {
		t.Fatalf("creating a batch token changed storage (-before +after):\n%s", diff)
	}
	tok := a.ClientToken.Reveal()
	if !strings.HasPrefix(tok, tokenfmt.Batch) || !tokenfmt.Valid(tok) {
		t.Fatalf("batch token has the wrong shape (prefix %q, valid %v)", tokenfmt.Prefix(tok), tokenfmt.Valid(tok))
	}
	if a.Accessor != "" || a.Renewable || a.TokenType != "batch" || a.TTL != 10*time.Minute || a.Orphan {
		t.Errorf("create auth = accessor %q renewable %v type %q ttl %s orphan %v; want no accessor, not renewable, batch, 10m, not orphan",
			a.Accessor, a.Renewable, a.TokenType, a.TTL, a.Orphan)
	}
	e, err := f.store.Use(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatalf("Use(batch): %v", err)
	}
	if e.Type != "batch" || e.Meta["job"] != "42" || e.DisplayName != "token-ci" || e.Path != "auth/token/create" {
		t.Errorf("Use(batch) entry = %+v", *e)
	}
	// The id leases and logs know it by: stable, distinct, not an accessor.
	again, _ := f.store.Use(ctx, tok, "127.0.0.1")
	other := createAuth(t, f, "create", f.root, map[string]any{"type": "batch", "policies": "dev"}).ClientToken.Reveal()
	oe, _ := f.store.Use(ctx, other, "127.0.0.1")
	created, _ := f.store.Lookup(ctx, tok)
	if created.OwnerID() != e.OwnerID() {
		t.Errorf("OwnerID differs between lookups: %q, %q", created.OwnerID(), e.OwnerID())
	}
	if id := e.OwnerID(); !strings.HasPrefix(id, "batch-") || len(id) != 30 || again.OwnerID() != id || oe.OwnerID() == id || strings.Contains(tok, id[6:]) {
		t.Errorf("OwnerID = %q (again %q, other token %q)", id, again.OwnerID(), oe.OwnerID())
	}
	if _, err := f.store.LookupAccessor(ctx, e.OwnerID()); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("LookupAccessor(batch id) = %v, want ErrInvalidToken", err)
	}
	before = dump(t, f.st)
	resp, err := f.do(t, opRead, "lookup-self", tok, nil)
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	want := map[string]any{"type": "batch", "accessor": "", "renewable": false, "orphan": false, "ttl": int64(600),
		"num_uses": 0, "policies": []string{"default", "dev"}, "id": tok}
	for k, v := range want {
		if diff := cmp.Diff(v, resp.Data[k]); diff != "" {
			t.Errorf("lookup-self %s: (-want +got)\n%s", k, diff)
		}
	}
	if diff := cmp.Diff(before, dump(t, f.st)); diff != "" {
		t.Fatalf("using a batch token changed storage (-before +after):\n%s", diff)
	}
}

// Batch tokens cannot be renewed, revoked on their own, or create tokens:
// each answers a 400 that says so.
func TestBatchRefusals(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := createAuth(t, f, "create", f.root, map[string]any{"type": "batch", "policies": "dev"}).ClientToken.Reveal()
	tests := []struct {
		name, path, caller string
		data               map[string]any
		msg                string
	}{
		{"renew-self", "renew-self", tok, nil, "batch tokens cannot be renewed"},
		{"renew", "renew", f.root, map[string]any{"token": tok}, "batch tokens cannot be renewed"},
		{"revoke-self", "revoke-self", tok, nil, "batch tokens cannot be revoked"},
		{"revoke", "revoke", f.root, map[string]any{"token": tok}, "batch tokens cannot be revoked"},
		{"revoke-orphan", "revoke-orphan", f.root, map[string]any{"token": tok}, "batch tokens cannot be revoked"},
		{"child", "create", tok, map[string]any{"policies": "dev"}, "batch tokens cannot create more tokens"},
		{"orphan child", "create-orphan", tok, map[string]any{"policies": "dev"}, "batch tokens cannot create more tokens"},
		{"batch child", "create", tok, map[string]any{"policies": "dev", "type": "batch"}, "batch tokens cannot create more tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.do(t, opUpdate, tt.path, tt.caller, tt.data)
			if codeOf(err) != 400 || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("%s = %v, want 400 %q", tt.path, err, tt.msg)
			}
		})
	}
	if _, err := f.store.Use(context.Background(), tok, "127.0.0.1"); err != nil {
		t.Fatalf("batch token stopped working after refused operations: %v", err)
	}
}

// A batch token expires with its TTL, is capped by the mount's max TTL and
// its parent's expiry, and dies with its parent unless it is an orphan.
func TestBatchLifetime(t *testing.T) {
	ctx := context.Background()
	t.Run("expires", func(t *testing.T) {
		f := newFixture(t, token.Options{})
		tok := createAuth(t, f, "create", f.root, map[string]any{"type": "batch", "policies": "dev", "ttl": "1m"}).ClientToken.Reveal()
		f.clock.Add(59 * time.Second)
		if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
			t.Fatalf("Use before expiry: %v", err)
		}
		f.clock.Add(time.Second)
		if _, err := f.store.Use(ctx, tok, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
			t.Fatalf("Use at expiry = %v, want ErrInvalidToken", err)
		}
		if _, err := f.store.Lookup(ctx, tok); !errors.Is(err, token.ErrInvalidToken) {
			t.Fatalf("Lookup at expiry = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("capped", func(t *testing.T) {
		f := newFixture(t, token.Options{MaxTTL: time.Hour})
		parent := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev", "ttl": "20m"})
		a := createAuth(t, f, "create", parent.ClientToken.Reveal(), map[string]any{"type": "batch", "ttl": "50m"})
		if a.TTL != 20*time.Minute {
			t.Errorf("child batch TTL = %s, want the parent's 20m", a.TTL)
		}
		req := f.request(t, opUpdate, "create", f.root, map[string]any{"type": "batch", "policies": "dev", "ttl": "3h"})
		req.MountConfig.MaxLeaseTTL = 30 * time.Minute
		resp, err := f.store.Backend().HandleRequest(ctx, req)
		if err != nil || resp.Auth.TTL != 30*time.Minute {
			t.Errorf("batch TTL under a 30m mount max = %v, %v; want 30m", resp, err)
		}
		tok, _, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"dev"}, TTL: time.Hour, ExplicitMaxTTL: 5 * time.Minute, TokenType: "batch"}, nil, "auth/x/login")
		if err != nil {
			t.Fatalf("CreateFromAuth(batch): %v", err)
		}
		if got, _ := f.store.Lookup(ctx, tok); got == nil || got.TTL != 5*time.Minute || got.ExplicitMaxTTL != 0 {
			t.Errorf("batch login with explicit max 5m = %+v, want ttl 5m", got)
		}
	})
	for _, mode := range []string{"revoke", "revoke-orphan"} {
		t.Run("parent "+mode, func(t *testing.T) {
			f := newFixture(t, token.Options{})
			parent := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev"})
			child := createAuth(t, f, "create", parent.ClientToken.Reveal(), map[string]any{"type": "batch"}).ClientToken.Reveal()
			orphan := createAuth(t, f, "create-orphan", parent.ClientToken.Reveal(), map[string]any{"type": "batch"}).ClientToken.Reveal()
			if _, err := f.do(t, opUpdate, mode, f.root, map[string]any{"token": parent.ClientToken.Reveal()}); err != nil {
				t.Fatalf("%s parent: %v", mode, err)
			}
			if _, err := f.store.Use(ctx, child, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("child batch token after %s of its parent: %v, want ErrInvalidToken", mode, err)
			}
			if _, err := f.store.Use(ctx, orphan, "127.0.0.1"); err != nil {
				t.Errorf("orphan batch token after %s of its creator: %v", mode, err)
			}
		})
	}
	t.Run("grandparent revoked", func(t *testing.T) {
		f := newFixture(t, token.Options{})
		gp := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev"})
		p := createAuth(t, f, "create", gp.ClientToken.Reveal(), nil)
		child := createAuth(t, f, "create", p.ClientToken.Reveal(), map[string]any{"type": "batch"}).ClientToken.Reveal()
		// The tree revocation cannot find the batch token (it has no
		// index entry); it dies by its parent check.
		if err := f.store.RevokeAccessor(ctx, gp.Accessor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Use(ctx, child, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("batch token under a revoked grandparent: %v, want ErrInvalidToken", err)
		}
	})
	t.Run("use-limited parent", func(t *testing.T) {
		f := newFixture(t, token.Options{})
		p := createAuth(t, f, "create", f.root, map[string]any{"policies": "dev", "num_uses": 3})
		if _, err := f.do(t, opUpdate, "create", p.ClientToken.Reveal(), map[string]any{"type": "batch"}); codeOf(err) != 400 {
			t.Errorf("batch child of a use-limited token = %v, want 400", err)
		}
	})
}

// A batch token is bound to its CIDRs, and a changed, truncated or foreign
// token never opens.
func TestBatchTamper(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, token.Options{})
	f.do(t, opUpdate, "roles/net", f.root, map[string]any{"token_type": "batch", "allowed_policies": "dev", "token_bound_cidrs": "10.0.0.0/8"})
	bound := createAuth(t, f, "create/net", f.root, nil).ClientToken.Reveal()
	if _, err := f.store.Use(ctx, bound, "10.1.2.3"); err != nil {
		t.Fatalf("bound batch token from inside its CIDR: %v", err)
	}
	if _, err := f.store.Use(ctx, bound, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
		t.Fatalf("bound batch token from outside its CIDR: %v", err)
	}

	tok := createAuth(t, f, "create", f.root, map[string]any{"type": "batch", "policies": "dev"}).ClientToken.Reveal()
	other := newFixture(t, token.Options{})
	body := tok[4 : len(tok)-6]
	variants := map[string]string{
		"truncated":     tok[:len(tok)-1],
		"extended":      tok + "0",
		"other prefix":  tokenfmt.Service + tok[4:],
		"short body":    tokenfmt.EncodeBatch([]byte(body[:40])),
		"empty payload": tokenfmt.EncodeBatch(make([]byte, 64)),
	}
	// Every single-character change keeps the alphabet; most fail the
	// checksum, the rest the AEAD.
	for i := 4; i < len(tok); i += 7 {
		c := byte('a')
		if tok[i] == 'a' {
			c = 'b'
		}
		variants["changed at "+string(rune('0'+i%10))+"/"+tok[i:i+1]] = tok[:i] + string(c) + tok[i+1:]
	}
	for name, v := range variants {
		if _, err := f.store.Use(ctx, v, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("%s: Use = %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := other.store.Use(ctx, tok, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("a batch token from another server: Use = %v, want ErrInvalidToken", err)
	}
}

// Role token types follow Vault: service or batch force the type,
// default-batch makes batch the default, default-service leaves the
// request's choice.
func TestBatchRoleTypes(t *testing.T) {
	f := newFixture(t, token.Options{})
	for name, typ := range map[string]string{"s": "service", "b": "batch", "db": "default-batch", "ds": "default-service"} {
		if _, err := f.do(t, opUpdate, "roles/"+name, f.root, map[string]any{"allowed_policies": "dev", "token_type": typ}); err != nil {
			t.Fatalf("role %s: %v", typ, err)
		}
	}
	tests := []struct {
		role, requested, want string
	}{
		{"s", "", "service"}, {"s", "batch", "service"},
		{"b", "", "batch"}, {"b", "service", "batch"},
		{"db", "", "batch"}, {"db", "service", "service"},
		{"ds", "", "service"}, {"ds", "batch", "batch"},
	}
	for _, tt := range tests {
		data := map[string]any{}
		if tt.requested != "" {
			data["type"] = tt.requested
		}
		a := createAuth(t, f, "create/"+tt.role, f.root, data)
		if a.TokenType != tt.want || (tt.want == "batch") != strings.HasPrefix(a.ClientToken.Reveal(), tokenfmt.Batch) {
			t.Errorf("role %s, type %q: issued %s (%s...), want %s", tt.role, tt.requested, a.TokenType, tokenfmt.Prefix(a.ClientToken.Reveal()), tt.want)
		}
	}
	resp, err := f.do(t, opRead, "roles/db", f.root, nil)
	if err != nil || resp.Data["token_type"] != "default-batch" {
		t.Errorf("read role: %v, %v; want token_type default-batch", resp, err)
	}
	if _, err := f.do(t, opUpdate, "roles/b", f.root, map[string]any{"period": "1h"}); codeOf(err) != 400 {
		t.Errorf("periodic batch role = %v, want 400", err)
	}
	f.do(t, opUpdate, "roles/p", f.root, map[string]any{"allowed_policies": "dev", "period": "1h"})
	if _, err := f.do(t, opUpdate, "create/p", f.root, map[string]any{"type": "batch"}); codeOf(err) != 400 {
		t.Errorf("batch token through a periodic role = %v, want 400", err)
	}
}

// Logins issue batch tokens when asked, refusing what a batch token
// cannot carry instead of dropping it.
func TestBatchFromAuth(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	a := &logical.Auth{Policies: []string{"ci"}, TTL: 10 * time.Minute, Renewable: true, Alias: "repo:octo/app", Metadata: map[string]string{"repository": "octo/app"}, TokenType: "batch"}
	tok, e, err := f.store.CreateFromAuth(ctx, a, nil, "auth/jwt/login")
	if err != nil {
		t.Fatalf("CreateFromAuth(batch): %v", err)
	}
	if !strings.HasPrefix(tok, tokenfmt.Batch) || a.TokenType != "batch" || a.Accessor != "" || a.Renewable || !a.Orphan || e.DisplayName != "jwt" {
		t.Errorf("batch login = %s... type %q accessor %q renewable %v orphan %v display %q", tokenfmt.Prefix(tok), a.TokenType, a.Accessor, a.Renewable, a.Orphan, e.DisplayName)
	}
	got, err := f.store.Use(ctx, tok, "127.0.0.1")
	if err != nil || got.Alias != "repo:octo/app" || got.Meta["repository"] != "octo/app" || got.Path != "auth/jwt/login" {
		t.Errorf("Use(batch login) = %+v, %v", got, err)
	}
	if got != nil && (got.OwnerID() != e.OwnerID() || e.OwnerID() == "") {
		t.Errorf("OwnerID at login %q, at use %q", e.OwnerID(), got.OwnerID())
	}
	for name, bad := range map[string]*logical.Auth{
		"periodic":    {Policies: []string{"ci"}, Period: time.Hour, TokenType: "batch"},
		"use-limited": {Policies: []string{"ci"}, NumUses: 3, TokenType: "batch"},
	} {
		if _, _, err := f.store.CreateFromAuth(ctx, bad, nil, "auth/jwt/login"); codeOf(err) != 400 {
			t.Errorf("%s batch login = %v, want 400", name, err)
		}
	}
	if _, _, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"ci"}, TokenType: "default-batch"}, nil, "auth/x/login"); err != nil {
		t.Errorf("unresolved type: %v", err)
	}
}

// Rotation keeps earlier batch tokens working, seals new ones with the new
// key, survives a restart, and with revoke_existing ends every earlier one.
func TestBatchKeyRotation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, token.Options{MaxTTL: time.Hour})
	mk := func() string {
		return createAuth(t, f, "create", f.root, map[string]any{"type": "batch", "policies": "dev"}).ClientToken.Reveal()
	}
	first := mk()
	resp, err := f.do(t, opUpdate, "batch-key/rotate", f.root, nil)
	if err != nil || resp.Data["key_id"] != uint32(2) || resp.Data["keys"] != 2 {
		t.Fatalf("rotate = %v, %v; want key 2 of 2", resp, err)
	}
	second := mk()
	for name, tok := range map[string]string{"before rotation": first, "after rotation": second} {
		if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
			t.Errorf("token made %s: %v", name, err)
		}
	}
	// A restart reads the same keyring.
	again, err := token.New(ctx, f.st, token.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Use(ctx, first, "127.0.0.1"); err != nil {
		t.Errorf("batch token after a restart: %v", err)
	}
	// Keys retired longer than the max TTL ago are dropped.
	f.clock.Add(2 * time.Hour)
	if resp, err := f.do(t, opUpdate, "batch-key/rotate", f.root, nil); err != nil || resp.Data["keys"] != 2 {
		t.Errorf("rotate after max TTL = %v, %v; want key 1 dropped, 2 kept", resp, err)
	}
	third := mk()
	if _, err := f.do(t, opUpdate, "batch-key/rotate", f.root, map[string]any{"revoke_existing": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Use(ctx, third, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("batch token after rotate with revoke_existing: %v, want ErrInvalidToken", err)
	}
	if _, err := f.store.Use(ctx, mk(), "127.0.0.1"); err != nil {
		t.Errorf("new batch token after revoke_existing: %v", err)
	}
	if resp, err := f.do(t, opRead, "batch-key", f.root, nil); err != nil || resp.Data["keys"] != 1 || resp.Data["key"] != nil {
		t.Errorf("read batch-key = %v, %v", resp, err)
	}
	if !slices.Contains(f.store.Backend().(logical.SudoPaths).SudoPaths(), "batch-key/rotate") {
		t.Error("batch-key/rotate does not need sudo")
	}
}
