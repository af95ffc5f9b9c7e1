package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

// Issue 10 item 16: a child token is bounded by its parent when it is
// created (ttl and explicit max ttl), when it is renewed, and when it is
// used; a use-limited token cannot mint children.
func TestChildBoundedByParentAtCreation(t *testing.T) {
	tests := []struct {
		name       string
		parent     token.Entry
		data       map[string]any
		wantExpire time.Duration // from creation
		wantMax    time.Duration // explicit max ttl of the child
	}{
		{"ttl capped by the parent's remaining ttl",
			token.Entry{Policies: []string{"a"}, TTL: time.Hour}, map[string]any{"ttl": "10h"}, time.Hour, 0},
		{"default ttl capped too",
			token.Entry{Policies: []string{"a"}, TTL: time.Hour}, nil, time.Hour, 0},
		{"explicit max capped by the parent's",
			token.Entry{Policies: []string{"a"}, TTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour, Renewable: true},
			map[string]any{"ttl": "30m", "explicit_max_ttl": "100h"}, 30 * time.Minute, 2 * time.Hour},
		{"explicit max set from the parent's hard limit",
			token.Entry{Policies: []string{"a"}, TTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour},
			map[string]any{"ttl": "30m"}, 30 * time.Minute, 2 * time.Hour},
		{"periodic child of an expiring parent",
			token.Entry{Policies: []string{"root"}, TTL: time.Hour}, map[string]any{"period": "24h"}, time.Hour, 0},
		{"root child of an expiring root token",
			token.Entry{Policies: []string{"root"}, TTL: time.Hour}, map[string]any{"policies": "root"}, time.Hour, 0},
		{"shorter child untouched",
			token.Entry{Policies: []string{"a"}, TTL: time.Hour}, map[string]any{"ttl": "10m"}, 10 * time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, token.Options{})
			parent := tt.parent
			ptok := f.create(t, "", &parent)
			start := f.clock.Now()
			resp, err := f.do(t, opUpdate, "create", ptok, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			child, err := f.store.Lookup(context.Background(), resp.Auth.ClientToken.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			if got := child.ExpireTime.Sub(start); got != tt.wantExpire {
				t.Errorf("child lives %v, want %v", got, tt.wantExpire)
			}
			if child.ExpireTime.After(parent.ExpireTime) {
				t.Errorf("child expires %v, after its parent %v", child.ExpireTime, parent.ExpireTime)
			}
			if child.ExplicitMaxTTL != tt.wantMax {
				t.Errorf("child explicit max ttl %v, want %v", child.ExplicitMaxTTL, tt.wantMax)
			}
			if resp.Auth.TTL != child.TTL {
				t.Errorf("response ttl %v, entry ttl %v", resp.Auth.TTL, child.TTL)
			}
		})
	}
}

func TestOrphanNotBoundedByCreator(t *testing.T) {
	f := newFixture(t, token.Options{})
	sudo := f.create(t, "", &token.Entry{Policies: []string{"root"}, TTL: time.Hour})
	a := createAuth(t, f, "create", sudo, map[string]any{"no_parent": true, "policies": "a", "ttl": "10h"})
	if !a.Orphan || a.TTL != 10*time.Hour {
		t.Fatalf("orphan: orphan %v ttl %v, want an orphan living 10h", a.Orphan, a.TTL)
	}
	f.clock.Add(2 * time.Hour)
	if _, err := f.store.Use(context.Background(), a.ClientToken.Reveal(), ""); err != nil {
		t.Errorf("orphan after its creator expired: %v", err)
	}
}

func TestChildRenewalBoundedByParent(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	parent := &token.Entry{Policies: []string{"a"}, TTL: time.Hour, Renewable: true}
	ptok := f.create(t, "", parent)
	child := createAuth(t, f, "create", ptok, map[string]any{"ttl": "1h"})
	f.clock.Add(30 * time.Minute)
	e, err := f.store.Renew(ctx, child.ClientToken.Reveal(), 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !e.ExpireTime.Equal(parent.ExpireTime) {
		t.Errorf("renewed child expires %v, want its parent's %v", e.ExpireTime, parent.ExpireTime)
	}
	// Once the parent is renewed, the child may follow it.
	p, err := f.store.Renew(ctx, ptok, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e, err = f.store.Renew(ctx, child.ClientToken.Reveal(), 10*time.Hour); err != nil || !e.ExpireTime.Equal(p.ExpireTime) {
		t.Errorf("child renewed after its parent = %v, %v; want expiry %v", e, err, p.ExpireTime)
	}
}

// A child that outlives its parent in storage (written before children
// were capped, or a grandchild whose grandparent was renewed less) stops
// working the moment an ancestor expires, without waiting for the sweep.
func TestChildInvalidOnceAncestorExpires(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	grand := f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: time.Hour})
	parent := createAuth(t, f, "create", grand, map[string]any{"ttl": "1h"})
	child := createAuth(t, f, "create", parent.ClientToken.Reveal(), map[string]any{"ttl": "1h"})
	// Rewrite the stored entries as an older release left them: parent and
	// child living ten days.
	for k, v := range dump(t, f.st) {
		if !strings.HasPrefix(k, "id/") || !(strings.Contains(v, parent.Accessor) || strings.Contains(v, child.Accessor)) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			t.Fatal(err)
		}
		rec["expire_time"] = f.clock.Now().Add(240 * time.Hour)
		b, _ := json.Marshal(rec)
		if err := f.st.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	store, err := token.New(ctx, f.st, token.Options{Now: f.clock.Now}) // no cache
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Use(ctx, child.ClientToken.Reveal(), ""); err != nil {
		t.Fatalf("child before expiry: %v", err)
	}
	f.clock.Add(time.Hour + time.Second)
	for _, tok := range []string{parent.ClientToken.Reveal(), child.ClientToken.Reveal()} {
		if _, err := store.Use(ctx, tok, ""); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Use of a descendant of an expired token = %v, want ErrInvalidToken", err)
		}
		if _, err := store.Lookup(ctx, tok); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Lookup of a descendant of an expired token = %v, want ErrInvalidToken", err)
		}
		if _, err := store.Renew(ctx, tok, time.Hour); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Renew of a descendant of an expired token = %v, want ErrInvalidToken", err)
		}
	}
	if _, err := store.LookupAccessor(ctx, child.Accessor); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("LookupAccessor of a descendant of an expired token = %v", err)
	}
}

func TestUseLimitedTokenCannotCreateChildren(t *testing.T) {
	f := newFixture(t, token.Options{})
	limited := f.create(t, "", &token.Entry{Policies: []string{"root"}, NumUses: 5})
	for _, tt := range []struct {
		path string
		data map[string]any
	}{
		{"create", map[string]any{"policies": "a"}},
		{"create", map[string]any{"policies": "a", "num_uses": 1}},
		{"create", map[string]any{"policies": "a", "no_parent": true}},
		{"create-orphan", map[string]any{"policies": "a"}},
	} {
		if _, err := f.do(t, opUpdate, tt.path, limited, tt.data); codeOf(err) != 400 || !errors.Is(err, token.ErrUseLimitedParent) {
			t.Errorf("%s %v by a use-limited token = %v, want 400", tt.path, tt.data, err)
		}
	}
	// The store refuses it for any caller, such as a login with a parent.
	e, err := f.store.Lookup(context.Background(), limited)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store.Create(context.Background(), &token.Entry{Policies: []string{"a"}, ParentAccessor: e.Accessor})
	if !errors.Is(err, token.ErrUseLimitedParent) {
		t.Errorf("Store.Create under a use-limited parent = %v", err)
	}
	_, _, err = f.store.CreateFromAuth(context.Background(), &logical.Auth{Policies: []string{"a"}}, e, "auth/userpass/login/x")
	if !errors.Is(err, token.ErrUseLimitedParent) {
		t.Errorf("CreateFromAuth under a use-limited parent = %v", err)
	}
	// A use-limited child of an unlimited parent is fine.
	if a := createAuth(t, f, "create", f.root, map[string]any{"policies": "a", "num_uses": 2}); a.NumUses != 2 {
		t.Errorf("num_uses child = %d", a.NumUses)
	}
}
