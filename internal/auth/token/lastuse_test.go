package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

// Issue 10 item 13: the last allowed use of a num_uses token is served in
// full, as in Vault (lookup-self shows num_uses 0), and the token is revoked
// when that request ends, not before its handler runs.
func TestLastUseIsServedThenRevoked(t *testing.T) {
	tests := []struct {
		name string
		path string
		data func(tok string) map[string]any
	}{
		{"lookup-self", "lookup-self", func(string) map[string]any { return nil }},
		{"lookup of itself", "lookup", func(tok string) map[string]any { return map[string]any{"token": tok} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			revoked := make(chan string, 4)
			f := newFixture(t, token.Options{OnRevoke: func(_ context.Context, e *token.Entry) error {
				revoked <- e.Accessor
				return nil
			}})
			bg := context.Background()
			tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, NumUses: 2})

			// Use one of two: an ordinary use.
			if e, err := f.store.Use(bg, tok, "127.0.0.1"); err != nil || e.NumUses != 1 {
				t.Fatalf("first use = %v, %v", e, err)
			}
			// The last use, for a request whose context ends later.
			ctx, end := context.WithCancel(bg)
			e, err := f.store.Use(ctx, tok, "127.0.0.1")
			if err != nil || e.NumUses != 0 {
				t.Fatalf("last use = %v, %v", e, err)
			}
			req := f.request(t, logical.UpdateOperation, tt.path, tok, tt.data(tok))
			resp, err := f.store.Backend().HandleRequest(ctx, req)
			if err != nil {
				t.Fatalf("%s on the last use = %v, want it served", tt.path, err)
			}
			if got := resp.Data["num_uses"]; got != 0 {
				t.Errorf("num_uses = %v, want 0", got)
			}
			if resp.Data["accessor"] != e.Accessor {
				t.Errorf("accessor = %v, want %s", resp.Data["accessor"], e.Accessor)
			}
			// While that request runs nobody else can use or look it up, and
			// a sweep leaves it to the request's end.
			if _, err := f.store.Use(bg, tok, "127.0.0.1"); !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("a third use = %v, want ErrInvalidToken", err)
			}
			if _, err := f.store.Lookup(bg, tok); !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("Lookup during the last use = %v, want ErrInvalidToken", err)
			}
			if _, err := f.store.Sweep(bg); err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.Backend().HandleRequest(ctx, req); err != nil {
				t.Errorf("%s after a sweep, same request = %v", tt.path, err)
			}
			select {
			case a := <-revoked:
				t.Fatalf("token %s revoked before its last request ended", a)
			default:
			}

			end()
			if a := <-revoked; a != e.Accessor {
				t.Errorf("revoked %s, want %s", a, e.Accessor)
			}
			if _, err := f.store.Lookup(bg, tok); !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("Lookup after the last request = %v", err)
			}
			if _, err := f.store.Backend().HandleRequest(bg, f.request(t, logical.ReadOperation, "lookup-self", tok, nil)); !errors.Is(err, token.ErrInvalidToken) {
				t.Errorf("lookup-self after the last request = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// The same through a real HTTP request: the request context ends when the
// handler returns, which revokes the token; the client got its answer.
func TestLastUseOverHTTP(t *testing.T) {
	revoked := make(chan string, 1)
	f := newFixture(t, token.Options{OnRevoke: func(_ context.Context, e *token.Entry) error {
		revoked <- e.Accessor
		return nil
	}})
	tok := f.create(t, "", &token.Entry{Policies: []string{"a"}, NumUses: 1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the core does: authenticate (one use), then route.
		if _, err := f.store.Use(r.Context(), r.Header.Get("X-Vault-Token"), "127.0.0.1"); err != nil {
			http.Error(w, "permission denied", http.StatusForbidden)
			return
		}
		req := f.request(t, logical.ReadOperation, "lookup-self", r.Header.Get("X-Vault-Token"), nil)
		resp, err := f.store.Backend().HandleRequest(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(resp.Data)
	}))
	defer srv.Close()
	get := func() (int, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-Vault-Token", tok)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var data map[string]any
		_ = json.NewDecoder(res.Body).Decode(&data)
		return res.StatusCode, data
	}
	status, data := get()
	if status != http.StatusOK || data["num_uses"] != float64(0) {
		t.Fatalf("last use: %d %v, want 200 with num_uses 0", status, data)
	}
	<-revoked
	if status, _ := get(); status != http.StatusForbidden {
		t.Errorf("use after the last = %d, want 403", status)
	}
	if got := countPrefix(t, f.st, "id/"); got != 1 {
		t.Errorf("%d entries stored, want only root's", got)
	}
}
