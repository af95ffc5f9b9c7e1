package token_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

func TestCreateUseLookup(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	e := &token.Entry{Policies: []string{"dev", "default", "dev"}, Meta: map[string]string{"team": "a"}}
	tok := f.create(t, f.rootE.Accessor, e)
	if !tokenfmt.Valid(tok) || tokenfmt.Prefix(tok) != tokenfmt.Service {
		t.Fatalf("token %q is not a valid service token", tok)
	}
	if e.ID.Reveal() != tok {
		t.Errorf("Create left e.ID unset")
	}
	if got := strings.Join(e.Policies, ","); got != "default,dev" {
		t.Errorf("policies = %q, want sorted and deduplicated", got)
	}
	if e.Orphan || e.ParentAccessor != f.rootE.Accessor {
		t.Errorf("orphan = %v, parent = %q", e.Orphan, e.ParentAccessor)
	}
	if e.TTL != 768*time.Hour {
		t.Errorf("TTL = %v, want the default 768h", e.TTL)
	}
	got, err := f.store.Use(ctx, tok, "10.0.0.1")
	if err != nil {
		t.Fatalf("Use: %v", err)
	}
	if !got.ID.Empty() || got.Accessor != e.Accessor {
		t.Errorf("Use returned ID %q / accessor %q", got.ID, got.Accessor)
	}
	if _, err := f.store.Lookup(ctx, tok); err != nil {
		t.Errorf("Lookup: %v", err)
	}
	if _, err := f.store.LookupAccessor(ctx, e.Accessor); err != nil {
		t.Errorf("LookupAccessor: %v", err)
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], strings.Repeat("a", 1000), e.Accessor} {
		if _, err := f.store.Use(ctx, bad, ""); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Use(bad) = %v, want ErrInvalidToken", err)
		}
		if _, err := f.store.Lookup(ctx, bad); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Lookup(bad) = %v, want ErrInvalidToken", err)
		}
	}
}

func TestRawTokenNeverStored(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := f.create(t, f.rootE.Accessor, &token.Entry{Policies: []string{"a"}})
	custom := "my-custom-token-value"
	f.create(t, "", &token.Entry{ID: sensitive.NewString(custom), Policies: []string{"a"}})
	for k, v := range dump(t, f.st) {
		for _, secret := range []string{tok, f.root, custom, tok[4:20]} {
			if strings.Contains(k, secret) || strings.Contains(v, secret) {
				t.Errorf("storage key %q holds a raw token", k)
			}
		}
	}
}

func TestStoreReopen(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}})
	s2, err := token.New(context.Background(), f.st, token.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s2.Use(context.Background(), tok, ""); err != nil {
		t.Errorf("token not valid after reopening the store: %v", err)
	}
	bad := &logicaltest.InmemStorage{}
	bad.Put(context.Background(), "salt", []byte("short"))
	if _, err := token.New(context.Background(), bad, token.Options{}); err == nil {
		t.Errorf("New accepted a short hmac key")
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, token.Options{})
	tests := []struct {
		name string
		e    token.Entry
	}{
		{"uppercase policy", token.Entry{Policies: []string{"Root"}}},
		{"leading space", token.Entry{Policies: []string{" root"}}},
		{"zero width", token.Entry{Policies: []string{"root\u200b"}}},
		{"cyrillic", token.Entry{Policies: []string{"r\u043e\u043et"}}},
		{"empty policy", token.Entry{Policies: []string{""}}},
		{"unknown type", token.Entry{Policies: []string{"a"}, Type: "hybrid"}},
		{"batch root", token.Entry{Policies: []string{"root"}, Type: "batch"}},
		{"batch periodic", token.Entry{Policies: []string{"a"}, Type: "batch", Period: time.Hour}},
		{"batch use-limited", token.Entry{Policies: []string{"a"}, Type: "batch", NumUses: 1}},
		{"batch custom id", token.Entry{Policies: []string{"a"}, Type: "batch", ID: sensitive.NewString("my-batch")}},
		{"custom id with the batch prefix", token.Entry{Policies: []string{"a"}, ID: sensitive.NewString("kwb_mine")}},
		{"negative uses", token.Entry{Policies: []string{"a"}, NumUses: -1}},
		{"negative ttl", token.Entry{Policies: []string{"a"}, TTL: -time.Second}},
		{"bad cidr", token.Entry{Policies: []string{"a"}, BoundCIDRs: []string{"10.0.0.0/33"}}},
		{"custom id with space", token.Entry{Policies: []string{"a"}, ID: sensitive.NewString("has space")}},
		{"custom id like accessor", token.Entry{Policies: []string{"a"}, ID: sensitive.NewString(f.rootE.Accessor)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			_, err := f.store.Create(context.Background(), &e)
			if codeOf(err) != 400 {
				t.Errorf("Create(%s) = %v, want a 400", tt.name, err)
			}
		})
	}
	// Unknown parent.
	if _, err := f.store.Create(context.Background(), &token.Entry{Policies: []string{"a"}, ParentAccessor: "AAAAAAAAAAAAAAAAAAAAAAAAAA"}); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("Create with unknown parent = %v", err)
	}
	// Duplicate custom id.
	f.create(t, "", &token.Entry{ID: sensitive.NewString("custom-1"), Policies: []string{"a"}})
	if _, err := f.store.Create(context.Background(), &token.Entry{ID: sensitive.NewString("custom-1"), Policies: []string{"a"}}); codeOf(err) != 400 {
		t.Errorf("duplicate custom id = %v, want 400", err)
	}
}

func TestTTLs(t *testing.T) {
	f := newFixture(t, token.Options{DefaultTTL: time.Hour, MaxTTL: 10 * time.Hour})
	tests := []struct {
		name    string
		e       token.Entry
		wantTTL time.Duration
	}{
		{"zero ttl gets default", token.Entry{Policies: []string{"a"}}, time.Hour},
		{"capped by max", token.Entry{Policies: []string{"a"}, TTL: 100 * time.Hour}, 10 * time.Hour},
		{"capped by explicit max", token.Entry{Policies: []string{"a"}, TTL: 5 * time.Hour, ExplicitMaxTTL: 2 * time.Hour}, 2 * time.Hour},
		{"period", token.Entry{Policies: []string{"a"}, Period: 3 * time.Hour}, 3 * time.Hour},
		{"root never expires", token.Entry{Policies: []string{"root"}}, 0},
		{"root with explicit max", token.Entry{Policies: []string{"root"}, ExplicitMaxTTL: time.Hour}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			f.create(t, "", &e)
			if e.TTL != tt.wantTTL {
				t.Errorf("TTL = %v, want %v", e.TTL, tt.wantTTL)
			}
			if (tt.wantTTL == 0) != e.ExpireTime.IsZero() {
				t.Errorf("ExpireTime = %v for TTL %v", e.ExpireTime, e.TTL)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: time.Minute})
	if _, err := f.store.Use(context.Background(), tok, ""); err != nil {
		t.Fatalf("Use: %v", err)
	}
	f.clock.Add(time.Minute)
	if _, err := f.store.Use(context.Background(), tok, ""); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("Use after expiry = %v", err)
	}
	if _, err := f.store.Lookup(context.Background(), tok); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("Lookup after expiry = %v", err)
	}
	n, err := f.store.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 removed", n, err)
	}
	if got := countPrefix(t, f.st, "id/"); got != 1 {
		t.Errorf("%d entries left, want only root", got)
	}
}

func TestRenew(t *testing.T) {
	f := newFixture(t, token.Options{MaxTTL: 24 * time.Hour})
	ctx := context.Background()

	t.Run("never past explicit max", func(t *testing.T) {
		tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: 4 * time.Second, ExplicitMaxTTL: 10 * time.Second, Renewable: true})
		start := f.clock.Now()
		for _, step := range []time.Duration{3 * time.Second, 3 * time.Second, 3500 * time.Millisecond} {
			f.clock.Add(step)
			e, err := f.store.Renew(ctx, tok, time.Hour)
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			if e.ExpireTime.After(start.Add(10 * time.Second)) {
				t.Fatalf("renewed to %v, past the explicit max", e.ExpireTime.Sub(start))
			}
		}
		f.clock.Add(490 * time.Millisecond) // 9.99s
		if _, err := f.store.Use(ctx, tok, ""); err != nil {
			t.Fatalf("Use at 9.99s: %v", err)
		}
		f.clock.Add(20 * time.Millisecond) // 10.01s
		if _, err := f.store.Renew(ctx, tok, time.Hour); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Renew at 10.01s = %v, want ErrInvalidToken", err)
		}
		if _, err := f.store.Use(ctx, tok, ""); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("Use at 10.01s = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("never past system max", func(t *testing.T) {
		e := &token.Entry{Policies: []string{"a"}, TTL: 20 * time.Hour, Renewable: true}
		tok := f.create(t, "", e)
		f.clock.Add(19 * time.Hour)
		got, err := f.store.Renew(ctx, tok, 10*time.Hour)
		if err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if want := e.CreationTime.Add(24 * time.Hour); !got.ExpireTime.Equal(want) {
			t.Errorf("expire = %v, want %v", got.ExpireTime, want)
		}
	})
	t.Run("zero increment uses token ttl", func(t *testing.T) {
		tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, TTL: time.Hour, Renewable: true})
		f.clock.Add(30 * time.Minute)
		got, err := f.store.Renew(ctx, tok, 0)
		if err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if want := f.clock.Now().Add(time.Hour); !got.ExpireTime.Equal(want) {
			t.Errorf("expire = %v, want %v", got.ExpireTime, want)
		}
	})
	t.Run("periodic renews to period past system max", func(t *testing.T) {
		tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, Period: time.Hour, Renewable: true})
		for range 30 {
			f.clock.Add(50 * time.Minute)
			got, err := f.store.Renew(ctx, tok, 5*time.Hour)
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			if want := f.clock.Now().Add(time.Hour); !got.ExpireTime.Equal(want) {
				t.Fatalf("expire = %v, want %v", got.ExpireTime, want)
			}
		}
	})
	t.Run("not renewable", func(t *testing.T) {
		tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, Renewable: false})
		if _, err := f.store.Renew(ctx, tok, 0); codeOf(err) != 400 {
			t.Errorf("Renew = %v, want 400", err)
		}
		if _, err := f.store.Renew(ctx, f.root, 0); codeOf(err) != 400 {
			t.Errorf("Renew(root) = %v, want 400", err)
		}
	})
}

func TestNumUses(t *testing.T) {
	f := newFixture(t, token.Options{})
	ctx := context.Background()
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, NumUses: 3})
	child := f.create(t, "", &token.Entry{Policies: []string{"a"}})
	_ = child
	for i, want := range []int{2, 1, 0} {
		e, err := f.store.Use(ctx, tok, "")
		if err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
		if e.NumUses != want {
			t.Errorf("use %d: NumUses = %d, want %d", i+1, e.NumUses, want)
		}
	}
	if _, err := f.store.Use(ctx, tok, ""); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("4th use = %v", err)
	}
	if _, err := f.store.Lookup(ctx, tok); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("Lookup of exhausted token = %v", err)
	}
}

// T15: num_uses=1 and 200 concurrent uses: exactly one succeeds.
func TestNumUsesRace(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, NumUses: 1})
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			if _, err := f.store.Use(context.Background(), tok, "127.0.0.1"); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("Use: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := ok.Load(); got != 1 {
		t.Errorf("%d uses succeeded, want exactly 1", got)
	}
	if got := countPrefix(t, f.st, "id/"); got != 1 {
		t.Errorf("%d entries stored, want only root's", got)
	}
}

func TestBoundCIDRs(t *testing.T) {
	f := newFixture(t, token.Options{})
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, BoundCIDRs: []string{"127.0.0.1/32", "10.1.0.0/16", "2001:db8::/32"}})
	tests := []struct {
		ip string
		ok bool
	}{
		{"127.0.0.1", true},
		{"10.1.200.3", true},
		{"::ffff:10.1.2.3", true},
		{"2001:db8::1", true},
		{"127.0.0.2", false},
		{"10.2.0.1", false},
		{"", false},
		{"not-an-ip", false},
		{"127.0.0.1:8200", false},
	}
	for _, tt := range tests {
		_, err := f.store.Use(context.Background(), tok, tt.ip)
		if (err == nil) != tt.ok {
			t.Errorf("Use from %q = %v, want ok=%v", tt.ip, err, tt.ok)
		}
	}
}

func TestCreateFromAuth(t *testing.T) {
	f := newFixture(t, token.Options{MaxTTL: 10 * time.Hour})
	ctx := context.Background()
	a := &logical.Auth{Policies: []string{"ci", "deploy"}, TTL: 20 * time.Hour, MaxTTL: 2 * time.Hour, Renewable: true, DisplayName: "alice", BoundCIDRs: []string{"127.0.0.1/32"}}
	tok, e, err := f.store.CreateFromAuth(ctx, a, nil, "auth/userpass/login/alice")
	if err != nil {
		t.Fatalf("CreateFromAuth: %v", err)
	}
	if a.ClientToken.Reveal() != tok || e.ID.Reveal() != tok || a.Accessor != e.Accessor {
		t.Errorf("auth not filled in")
	}
	if got := strings.Join(e.Policies, ","); got != "ci,default,deploy" {
		t.Errorf("policies = %q", got)
	}
	if e.TTL != 2*time.Hour || a.TTL != 2*time.Hour {
		t.Errorf("TTL = %v, want capped to the auth max 2h", e.TTL)
	}
	if !e.Orphan || e.DisplayName != "userpass-alice" || e.Path != "auth/userpass/login/alice" {
		t.Errorf("entry = %+v / %s / %s", e.Orphan, e.DisplayName, e.Path)
	}
	f.clock.Add(time.Hour + 30*time.Minute)
	got, err := f.store.Renew(ctx, tok, 5*time.Hour)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if !got.ExpireTime.Equal(e.CreationTime.Add(2 * time.Hour)) {
		t.Errorf("renew went past the auth max ttl: %v", got.ExpireTime.Sub(e.CreationTime))
	}
	if _, err := f.store.Use(ctx, tok, "127.0.0.2"); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("bound cidr not enforced: %v", err)
	}
	if _, _, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"root"}}, nil, "auth/x/login"); codeOf(err) != 403 {
		t.Errorf("auth method created a root token: %v", err)
	}
	if _, _, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"Root"}}, nil, "auth/x/login"); codeOf(err) != 400 {
		t.Errorf("invalid policy name accepted: %v", err)
	}
	_, e2, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"a"}, NoDefaultPolicy: true}, f.rootE, "auth/x/login")
	if err != nil {
		t.Fatalf("CreateFromAuth: %v", err)
	}
	if strings.Join(e2.Policies, ",") != "a" || e2.Orphan || e2.TTL != 10*time.Hour {
		t.Errorf("entry = %v orphan=%v ttl=%v", e2.Policies, e2.Orphan, e2.TTL)
	}
}

func TestEntryFormattingHidesToken(t *testing.T) {
	f := newFixture(t, token.Options{})
	e := &token.Entry{Policies: []string{"a"}}
	tok := f.create(t, "", e)
	for _, s := range []string{e.String(), e.GoString(), e.LogValue().String()} {
		if strings.Contains(s, tok) {
			t.Errorf("formatting shows the token: %s", s)
		}
		if !strings.Contains(s, e.Accessor) {
			t.Errorf("formatting lacks the accessor: %s", s)
		}
	}
}
