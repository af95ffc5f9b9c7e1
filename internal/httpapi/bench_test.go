package httpapi_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
)

// trivialCore answers every request with the same small KV v2 read.
type trivialCore struct{ resp *logical.Response }

func (c trivialCore) HandleRequest(_ context.Context, _ *logical.Request) (*logical.Response, error) {
	return c.resp, nil
}

// BenchmarkServeRead measures the API's own overhead on a KV read: path
// cleaning, request building, envelope encoding.
func BenchmarkServeRead(b *testing.B) {
	core := trivialCore{resp: &logical.Response{Data: map[string]any{
		"data":     map[string]any{"password": "p4ss", "user": "ci"},
		"metadata": map[string]any{"version": 3, "destroyed": false},
	}}}
	a := httpapi.New(core, httpapi.Config{}, nil)
	r := httptest.NewRequest("GET", "/v1/secret/data/team-a/db", nil)
	r.Header.Set("X-Vault-Token", "kw.abcdefghijklmnopqrstuvwxyz0123456789")
	r.Header.Set("X-Vault-Request", "true")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkServeWrite measures a small authenticated KV write: the body
// path (limits, budget, decoding) on top of what BenchmarkServeRead covers.
func BenchmarkServeWrite(b *testing.B) {
	core := trivialCore{resp: &logical.Response{Data: map[string]any{"version": 4}}}
	a := httpapi.New(core, httpapi.Config{}, nil)
	body := []byte(`{"data":{"password":"p4ss-wörd","user":"ci","port":5432},"options":{"cas":3}}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("PUT", "/v1/secret/data/team-a/db", bytes.NewReader(body))
		r.Header.Set("X-Vault-Token", "kw.abcdefghijklmnopqrstuvwxyz0123456789")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
