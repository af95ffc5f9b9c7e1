package wrapping_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
	"github.com/keyward/keyward/internal/wrapping"
)

type fixture struct {
	w    *wrapping.Wrapper
	view *logicaltest.InmemStorage
	logs *clocktest.Buffer
	clk  *clocktest.Clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{view: &logicaltest.InmemStorage{}, logs: &clocktest.Buffer{}, clk: clocktest.New(time.Unix(1_700_000_000, 0))}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := wrapping.New(context.Background(), f.view, logger, wrapping.Options{Now: f.clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f.w = w
	return f
}

func (f *fixture) wrap(t testing.TB, data map[string]any, ttl time.Duration) *logical.WrapInfo {
	t.Helper()
	req := &logical.Request{MountPoint: "auth/approle/", Path: "role/ci/secret-id"}
	resp, err := f.w.Wrap(context.Background(), req, &logical.Response{Data: data}, ttl)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if resp.Data != nil || resp.WrapInfo == nil {
		t.Fatalf("Wrap returned %+v, want only WrapInfo", resp)
	}
	return resp.WrapInfo
}

func (f *fixture) call(path, clientToken string, data map[string]any) (*logical.Response, error) {
	return f.w.Backend().HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: path, ClientToken: sensitive.NewString(clientToken), Data: data,
		Connection: &logical.Connection{RemoteAddr: "192.0.2.7"},
	})
}

func TestWrapUnwrapOnce(t *testing.T) {
	f := newFixture(t)
	secret := "canary-" + tokenfmt.Generate(tokenfmt.SecretID)
	wi := f.wrap(t, map[string]any{"secret_id": secret}, time.Minute)
	if !strings.HasPrefix(wi.Token, "kww_") || !tokenfmt.Valid(wi.Token) {
		t.Fatalf("wrapping token %q lacks the kww_ format", wi.Token)
	}
	if wi.CreationPath != "auth/approle/role/ci/secret-id" || wi.TTL != time.Minute || wi.Accessor == "" {
		t.Errorf("WrapInfo = %+v", wi)
	}

	lk, err := f.call("wrapping/lookup", "", map[string]any{"token": wi.Token})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if lk.Data["creation_path"] != wi.CreationPath || lk.Data["creation_ttl"] != int64(60) {
		t.Errorf("lookup data = %v", lk.Data)
	}
	if strings.Contains(strings.Join(keys(lk.Data), ","), "secret_id") {
		t.Errorf("lookup reveals content: %v", lk.Data)
	}

	// The token as X-Vault-Token works as well as in the body.
	resp, err := f.call("wrapping/unwrap", wi.Token, nil)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	if resp.Data["secret_id"] != secret {
		t.Fatalf("unwrap data = %v", resp.Data)
	}
	for _, path := range []string{"wrapping/unwrap", "wrapping/lookup", "wrapping/rewrap"} {
		if _, err := f.call(path, "some-other-token", map[string]any{"token": wi.Token}); !errors.Is(err, wrapping.ErrInvalid) {
			t.Errorf("%s after unwrap: err = %v, want ErrInvalid", path, err)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, wi.Accessor) || !strings.Contains(logs, "192.0.2.7") {
		t.Errorf("second unwrap not logged as suspicious with accessor and address:\n%s", logs)
	}
	if strings.Contains(logs, wi.Token) || strings.Contains(logs, secret) {
		t.Error("logs contain the wrapping token or the wrapped secret")
	}
	raw := dump(f.view)
	if strings.Contains(raw, wi.Token) || strings.Contains(raw, secret) {
		t.Error("storage keeps the token or the unwrapped secret")
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func dump(s *logicaltest.InmemStorage) string {
	var b strings.Builder
	ks, _ := s.List(context.Background(), "tok/")
	for _, k := range ks {
		b.WriteString(k)
		v, _ := s.Get(context.Background(), "tok/"+k)
		b.Write(v)
	}
	return b.String()
}

func TestUnwrapAuthAndSecret(t *testing.T) {
	f := newFixture(t)
	req := &logical.Request{MountPoint: "auth/token/", Path: "create"}
	in := &logical.Response{
		Auth:   &logical.Auth{ClientToken: sensitive.NewString("kws_x"), Accessor: "acc-1", Policies: []string{"default"}, TTL: time.Hour},
		Secret: &logical.Secret{LeaseID: "db/creds/x/1", TTL: time.Hour, Renewable: true},
	}
	w, err := f.w.Wrap(context.Background(), req, in, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if w.WrapInfo.WrappedAccessor != "acc-1" {
		t.Errorf("wrapped_accessor = %q, want acc-1", w.WrapInfo.WrappedAccessor)
	}
	out, err := f.call("wrapping/unwrap", "", map[string]any{"token": w.WrapInfo.Token})
	if err != nil {
		t.Fatal(err)
	}
	if out.Auth == nil || out.Auth.ClientToken.Reveal() != "kws_x" || out.Auth.TTL != time.Hour || out.Secret == nil || out.Secret.LeaseID != "db/creds/x/1" {
		t.Errorf("unwrapped = auth %+v secret %+v", out.Auth, out.Secret)
	}
}

func TestBadTokens(t *testing.T) {
	f := newFixture(t)
	wi := f.wrap(t, map[string]any{"k": "v"}, time.Minute)
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not-a-token"},
		{"service token", tokenfmt.Generate(tokenfmt.Service)},
		{"unknown wrapping token", tokenfmt.Generate(tokenfmt.Wrapping)},
		{"checksum flipped", wi.Token[:len(wi.Token)-1] + flip(wi.Token[len(wi.Token)-1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.call("wrapping/unwrap", tt.token, nil); err == nil {
				t.Errorf("unwrap(%q) succeeded", tt.token)
			}
		})
	}
	if _, err := f.call("wrapping/unwrap", wi.Token, nil); err != nil {
		t.Errorf("the real token stopped working after bad attempts: %v", err)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestExpiryAndSweep(t *testing.T) {
	f := newFixture(t)
	a := f.wrap(t, map[string]any{"k": "a"}, time.Minute)
	b := f.wrap(t, map[string]any{"k": "b"}, time.Hour)
	f.clk.Add(2 * time.Minute)
	if _, err := f.call("wrapping/lookup", "", map[string]any{"token": a.Token}); !errors.Is(err, wrapping.ErrInvalid) {
		t.Errorf("lookup of expired token: %v", err)
	}
	n, err := f.w.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	if ks, _ := f.view.List(context.Background(), "tok/"); len(ks) != 1 {
		t.Fatalf("after sweep %d entries remain, want 1", len(ks))
	}
	if _, err := f.call("wrapping/unwrap", "", map[string]any{"token": a.Token}); !errors.Is(err, wrapping.ErrInvalid) {
		t.Errorf("unwrap of expired token: %v", err)
	}
	if r, err := f.call("wrapping/unwrap", "", map[string]any{"token": b.Token}); err != nil || r.Data["k"] != "b" {
		t.Errorf("unwrap of live token = %v, %v", r, err)
	}
	f.clk.Add(2 * time.Hour)
	if n, err := f.w.Sweep(context.Background()); err != nil || n != 1 {
		t.Errorf("tombstone sweep = %d, %v; want 1", n, err)
	}
}

func TestRewrap(t *testing.T) {
	f := newFixture(t)
	old := f.wrap(t, map[string]any{"k": "v"}, time.Minute)
	resp, err := f.call("wrapping/rewrap", "caller-token", map[string]any{"token": old.Token})
	if err != nil {
		t.Fatal(err)
	}
	nw := resp.WrapInfo
	if nw == nil || nw.Token == old.Token || nw.CreationPath != old.CreationPath || nw.TTL != old.TTL {
		t.Fatalf("rewrap = %+v", nw)
	}
	if _, err := f.call("wrapping/unwrap", "", map[string]any{"token": old.Token}); err == nil {
		t.Error("old token still unwraps after rewrap")
	}
	if r, err := f.call("wrapping/unwrap", "", map[string]any{"token": nw.Token}); err != nil || r.Data["k"] != "v" {
		t.Errorf("new token unwrap = %v, %v", r, err)
	}
}

func TestWrapEndpoint(t *testing.T) {
	f := newFixture(t)
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "wrapping/wrap", Data: map[string]any{"a": "b"}}
	if _, err := f.w.Backend().HandleRequest(context.Background(), req); err == nil {
		t.Error("wrap without a TTL succeeded")
	}
	req.WrapTTL = time.Minute
	resp, err := f.w.Backend().HandleRequest(context.Background(), req)
	if err != nil || resp.Data["a"] != "b" {
		t.Errorf("wrap = %v, %v (the core wraps the returned data)", resp, err)
	}
	for _, ttl := range []time.Duration{time.Millisecond, wrapping.MaxTTL + time.Hour} {
		if _, err := f.w.Wrap(context.Background(), &logical.Request{}, &logical.Response{}, ttl); err == nil {
			t.Errorf("Wrap with TTL %v succeeded", ttl)
		}
	}
}

// T15: 200 concurrent unwraps of one token give exactly one payload.
func TestConcurrentUnwrapExactlyOnce(t *testing.T) {
	f := newFixture(t)
	wi := f.wrap(t, map[string]any{"k": "v"}, time.Minute)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := f.call("wrapping/unwrap", "", map[string]any{"token": wi.Token}); err == nil && r.Data["k"] == "v" {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := ok.Load(); n != 1 {
		t.Fatalf("%d of 200 concurrent unwraps got the payload, want exactly 1", n)
	}
}

func TestHashKeyPersists(t *testing.T) {
	f := newFixture(t)
	wi := f.wrap(t, map[string]any{"k": "v"}, time.Minute)
	f.w.Close()
	w2, err := wrapping.New(context.Background(), f.view, nil, wrapping.Options{Now: f.clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	r, err := w2.Backend().HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "wrapping/unwrap", ClientToken: sensitive.NewString(wi.Token)})
	if err != nil || r.Data["k"] != "v" {
		t.Fatalf("unwrap after restart = %v, %v", r, err)
	}
}

func BenchmarkWrapUnwrap(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	be := f.w.Backend()
	for b.Loop() {
		resp, err := f.w.Wrap(ctx, &logical.Request{Path: "x"}, &logical.Response{Data: map[string]any{"secret_id": "v"}}, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := be.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "wrapping/unwrap", ClientToken: sensitive.NewString(resp.WrapInfo.Token)}); err != nil {
			b.Fatal(err)
		}
	}
}
