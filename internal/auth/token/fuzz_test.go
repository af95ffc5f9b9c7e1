package token_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

// FuzzCreate feeds arbitrary field values to auth/token/create from a
// non-root parent: it must never panic, never grant root or a policy the
// parent lacks, and never issue a token that lives forever.
func FuzzCreate(f *testing.F) {
	f.Add("dev,ops", "1h", "0", "", false)
	f.Add("root", "0", "1", "x", true)
	f.Add(" root,Root,r\u043e\u043et", "-5", "-1", "batch", false)
	f.Add("dev,,default", "99999999999999", "2147483648", "service", true)
	f.Add("admin", "1d", "3", "", false)
	f.Fuzz(func(t *testing.T, policies, ttl, uses, typ string, noDefault bool) {
		fx := newFixture(t, token.Options{MaxTTL: 48 * time.Hour})
		parent := &token.Entry{Policies: []string{"default", "dev", "ops"}}
		ptok := fx.create(t, fx.rootE.Accessor, parent)
		resp, err := fx.do(t, logical.UpdateOperation, "create", ptok, map[string]any{
			"policies": policies, "ttl": ttl, "num_uses": uses, "type": typ, "no_default_policy": noDefault,
		})
		if err != nil {
			if c := codeOf(err); c != 400 && c != 403 {
				t.Fatalf("create failed with %v (code %d), want a 400 or 403", err, c)
			}
			return
		}
		a := resp.Auth
		for _, p := range a.Policies {
			if !slices.Contains(parent.Policies, p) {
				t.Fatalf("child got policy %q the parent lacks", p)
			}
		}
		if a.TTL <= 0 || a.TTL > 48*time.Hour {
			t.Fatalf("child ttl %v", a.TTL)
		}
		if _, err := fx.store.Use(context.Background(), a.ClientToken.Reveal(), "127.0.0.1"); err != nil {
			t.Fatalf("new token unusable: %v", err)
		}
	})
}

// FuzzUse checks that no string other than the token itself authenticates.
func FuzzUse(f *testing.F) {
	f.Add("")
	f.Add("kws_")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("salt")
	f.Add("id/../salt")
	fx := newFixture(f, token.Options{})
	e := &token.Entry{Policies: []string{"a"}}
	tok := fx.create(f, "", e)
	f.Add(tok[:len(tok)-1])
	btok := fx.create(f, "", &token.Entry{Policies: []string{"a"}, Type: token.TypeBatch})
	f.Add(btok)
	f.Add(btok[:len(btok)-1])
	f.Add("kwb_" + btok[5:])
	f.Fuzz(func(t *testing.T, s string) {
		_, err := fx.store.Use(context.Background(), s, "127.0.0.1")
		if (err == nil) != (s == tok || s == fx.root || s == btok) {
			t.Fatalf("Use(%q) = %v", s, err)
		}
		if _, err := fx.store.LookupAccessor(context.Background(), s); err == nil && s != fx.rootE.Accessor && s != e.Accessor {
			t.Fatalf("LookupAccessor(%q) succeeded", s)
		}
	})
}
