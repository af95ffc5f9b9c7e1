package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
)

// An ACME POST (application/jose+json under acme/) reaches the backend
// as its raw bytes, capped; a JSON body on the same path is decoded as
// usual. Of a backend's response headers only the ACME ones pass.
func TestJOSEBodyAndBackendHeaders(t *testing.T) {
	var got []byte
	var gotData map[string]any
	f := &fakeCore{fn: func(req *logical.Request) (*logical.Response, error) {
		got, gotData = nil, req.Data
		if req.Body != nil {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, logical.Errorf(http.StatusRequestEntityTooLarge, "too large")
			}
			got = b
		}
		h := http.Header{"Replay-Nonce": {"n1"}, "Location": {"https://x/acme/order/1"}, "Link": {`<https://x/acme/directory>;rel="index"`},
			"Content-Type": {"text/html"}, "Cache-Control": {"max-age=9999"}, "Set-Cookie": {"a=b"}, "X-Other": {"1"}}
		return &logical.Response{Raw: []byte(`{}`), ContentType: "application/problem+json", Status: 400, Headers: h}, nil
	}}
	a := httpapi.New(f, httpapi.Config{}, nil)
	jws := `{"protected":"e30","payload":"","signature":"x"}`
	w := do(t, a, "POST", "/v1/pki/roles/web/acme/new-order", strings.NewReader(jws), "Content-Type", "application/jose+json")
	if string(got) != jws || len(gotData) != 0 {
		t.Fatalf("backend got body %q, data %v; want the raw JWS", got, gotData)
	}
	h := w.Result().Header
	if h.Get("Replay-Nonce") != "n1" || h.Get("Location") == "" || h.Get("Link") == "" {
		t.Errorf("ACME headers missing: %v", h)
	}
	if h.Get("Content-Type") != "application/problem+json" || h.Get("Cache-Control") != "no-store" || h.Get("Set-Cookie") != "" || h.Get("X-Other") != "" {
		t.Errorf("a backend header got through or replaced the server's: %v", h)
	}
	do(t, a, "POST", "/v1/pki/acme/new-account", strings.NewReader(strings.Repeat("x", 65<<10)), "Content-Type", "application/jose+json")
	if len(got) > 64<<10 {
		t.Errorf("backend read %d bytes of an oversized JWS", len(got))
	}
	// The JOSE type elsewhere, or JSON on an ACME path, is decoded as JSON.
	do(t, a, "POST", "/v1/secret/data/acme", strings.NewReader(`{"a":"b"}`), "Content-Type", "application/jose+json")
	if got != nil || gotData["a"] != "b" {
		t.Errorf("non-ACME path: body %q, data %v", got, gotData)
	}
}
