package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

func TestRunSweepsUntilCancelled(t *testing.T) {
	f := newFixture(t, token.Options{})
	f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: time.Minute})
	f.clock.Add(2 * time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		f.store.Run(ctx, time.Millisecond)
		close(done)
	}()
	clocktest.Eventually(t, "Run sweeping the expired token", func() bool { return countPrefix(t, f.st, "id/") == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(clocktest.Wait):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRenewInvalidatesCache(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: time.Hour, Renewable: true})
	if _, err := f.store.Use(ctx, tok, ""); err != nil { // cached now
		t.Fatal(err)
	}
	f.clock.Add(50 * time.Minute)
	if _, err := f.store.Renew(ctx, tok, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30 * time.Minute) // past the first expiry
	e, err := f.store.Use(ctx, tok, "")
	if err != nil {
		t.Fatalf("Use after renew: %v", err)
	}
	if want := f.clock.Now().Add(30 * time.Minute); !e.ExpireTime.Equal(want) {
		t.Errorf("expire = %v, want %v", e.ExpireTime, want)
	}
	// Mutating a returned entry does not change the store's copy.
	e.ExpireTime = time.Time{}
	e.NumUses = 99
	again, _ := f.store.Use(ctx, tok, "")
	if again.ExpireTime.IsZero() || again.NumUses != 0 {
		t.Errorf("returned entry aliases the cache")
	}
}

func TestUseLimitedWrongIPKeepsUses(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, NumUses: 1, BoundCIDRs: []string{"127.0.0.1"}})
	for range 5 {
		if _, err := f.store.Use(ctx, tok, "10.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
			t.Fatalf("Use from a foreign IP = %v", err)
		}
	}
	if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
		t.Fatalf("the one use was consumed by rejected requests: %v", err)
	}
}

func TestBackendCallerByAccessor(t *testing.T) {
	f := newFixture(t, token.Options{})
	req := f.request(t, logical.UpdateOperation, "create", f.root, map[string]any{"policies": "a"})
	req.ClientToken = sensitive.NewString("") // the core may only pass the accessor
	resp, err := f.store.Backend().HandleRequest(context.Background(), req)
	if err != nil || resp.Auth == nil {
		t.Fatalf("create by accessor = %v, %v", resp, err)
	}
	req.Token = nil
	if _, err := f.store.Backend().HandleRequest(context.Background(), req); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("create without caller = %v", err)
	}
}
