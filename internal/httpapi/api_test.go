package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fakeCore records the requests it receives and answers with fn. It stands
// in for internal/core: the contract under test is the logical.Request.
type fakeCore struct {
	mu    sync.Mutex
	calls []*logical.Request
	fn    func(*logical.Request) (*logical.Response, error)
}

func (f *fakeCore) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		return &logical.Response{Data: map[string]any{"ok": true}}, nil
	}
	return fn(req)
}

func (f *fakeCore) requests() []*logical.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*logical.Request(nil), f.calls...)
}

// last returns the only request the core saw, failing otherwise.
func (f *fakeCore) last(t testing.TB) *logical.Request {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("core called %d times, want 1", len(reqs))
	}
	return reqs[0]
}

func newAPI(t testing.TB, fn func(*logical.Request) (*logical.Response, error)) (*httpapi.API, *fakeCore) {
	t.Helper()
	f := &fakeCore{fn: fn}
	return httpapi.New(f, httpapi.Config{}, nil), f
}

// do sends one request through the API and returns the recorded response.
func do(t testing.TB, h http.Handler, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorsOf decodes {"errors":[...]}, failing if the body is not that shape.
func errorsOf(t testing.TB, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var body struct {
		Errors []string `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Errors == nil {
		t.Fatalf("body %q is not an errors object: %v", w.Body.String(), err)
	}
	return body.Errors
}

func TestMethodMapping(t *testing.T) {
	tests := []struct {
		name, method, target string
		ctype                string
		wantOp               logical.Operation
		wantPath             string
	}{
		{"get", "GET", "/v1/secret/data/a", "", logical.ReadOperation, "secret/data/a"},
		{"head", "HEAD", "/v1/sys/health", "", logical.ReadOperation, "sys/health"},
		{"get list", "GET", "/v1/secret/metadata/a?list=true", "", logical.ListOperation, "secret/metadata/a/"},
		{"get list 1", "GET", "/v1/secret/metadata/a/?list=1", "", logical.ListOperation, "secret/metadata/a/"},
		{"get list false", "GET", "/v1/secret/metadata/a?list=false", "", logical.ReadOperation, "secret/metadata/a"},
		{"list verb", "LIST", "/v1/secret/metadata/a", "", logical.ListOperation, "secret/metadata/a/"},
		{"list verb slash", "LIST", "/v1/secret/metadata/a/", "", logical.ListOperation, "secret/metadata/a/"},
		{"help", "GET", "/v1/secret/data/a?help=1", "", logical.HelpOperation, "secret/data/a"},
		{"post", "POST", "/v1/secret/data/a", "", logical.UpdateOperation, "secret/data/a"},
		{"put", "PUT", "/v1/secret/data/a", "", logical.UpdateOperation, "secret/data/a"},
		{"patch merge", "PATCH", "/v1/secret/data/a", "application/merge-patch+json", logical.PatchOperation, "secret/data/a"},
		{"patch json", "PATCH", "/v1/secret/data/a", "application/json; charset=utf-8", logical.PatchOperation, "secret/data/a"},
		{"delete", "DELETE", "/v1/secret/data/a", "", logical.DeleteOperation, "secret/data/a"},
		{"trailing slash kept", "GET", "/v1/secret/", "", logical.ReadOperation, "secret/"},
		{"escaped space", "GET", "/v1/secret/data/a%20b", "", logical.ReadOperation, "secret/data/a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			w := do(t, a, tt.method, tt.target, nil, "Content-Type", tt.ctype)
			if w.Code != http.StatusOK {
				t.Fatalf("%s %s = %d %s, want 200", tt.method, tt.target, w.Code, w.Body)
			}
			req := f.last(t)
			if req.Operation != tt.wantOp || req.Path != tt.wantPath {
				t.Errorf("%s %s: core got %s %q, want %s %q", tt.method, tt.target, req.Operation, req.Path, tt.wantOp, tt.wantPath)
			}
			if _, err := uuidOK(req.ID); err != nil {
				t.Errorf("request ID %q: %v", req.ID, err)
			}
			if tt.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD wrote a body: %q", w.Body)
			}
		})
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func uuidOK(s string) (string, error) {
	if !uuidRE.MatchString(s) {
		return "", errors.New("not a v4 UUID")
	}
	return s, nil
}

func TestRequestIDsDiffer(t *testing.T) {
	a, f := newAPI(t, nil)
	for range 50 {
		do(t, a, "GET", "/v1/secret/a", nil)
	}
	seen := map[string]bool{}
	for _, r := range f.requests() {
		if seen[r.ID] {
			t.Fatalf("request ID %q repeated", r.ID)
		}
		seen[r.ID] = true
	}
}

func TestRefusedMethods(t *testing.T) {
	tests := []struct {
		name, method, ctype string
		want                int
	}{
		{"options", "OPTIONS", "", http.StatusMethodNotAllowed},
		{"trace", "TRACE", "", http.StatusMethodNotAllowed},
		{"custom", "FROB", "", http.StatusMethodNotAllowed},
		{"patch text", "PATCH", "text/plain", http.StatusUnsupportedMediaType},
		{"bad list param", "GET", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			target := "/v1/secret/data/a"
			if tt.name == "bad list param" {
				target += "?list=maybe"
			}
			w := do(t, a, tt.method, target, strings.NewReader(`{}`), "Content-Type", tt.ctype)
			if w.Code != tt.want {
				t.Fatalf("%s = %d, want %d", tt.method, w.Code, tt.want)
			}
			if errs := errorsOf(t, w); len(errs) != 1 {
				t.Errorf("errors = %q, want one message", errs)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("core called %d times for a refused request", n)
			}
			if tt.want == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		want string
	}{
		{"none", nil, ""},
		{"x-vault-token", []string{"X-Vault-Token", "kw.tok1"}, "kw.tok1"},
		{"bearer", []string{"Authorization", "Bearer kw.tok2"}, "kw.tok2"},
		{"bearer lower case", []string{"Authorization", "bearer kw.tok3"}, "kw.tok3"},
		{"basic ignored", []string{"Authorization", "Basic dXNlcjpwYXNz"}, ""},
		{"both headers agree", []string{"Authorization", "Bearer kw.same", "X-Vault-Token", "kw.same"}, "kw.same"},
		{"repeated header agrees", []string{"X-Vault-Token", "kw.r", "X-Vault-Token", "kw.r"}, "kw.r"},
		{"empty x-vault-token falls back", []string{"X-Vault-Token", "", "Authorization", "Bearer kw.e"}, "kw.e"},
		{"basic beside token", []string{"Authorization", "Basic dXNlcjpwYXNz", "X-Vault-Token", "kw.x"}, "kw.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			w := do(t, a, "GET", "/v1/secret/a", nil, tt.hdr...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			req := f.last(t)
			if req.ClientToken.Reveal() != tt.want {
				t.Errorf("ClientToken = %q, want %q", req.ClientToken, tt.want)
			}
			for _, h := range []string{"X-Vault-Token", "Authorization"} {
				if req.Headers.Get(h) != "" {
					t.Errorf("token header %s copied into req.Headers", h)
				}
			}
		})
	}
}

// TestConflictingTokens: a request naming two different tokens is refused
// before the core sees it; which one a proxy, the audit log or the core
// would pick must never be a question.
func TestConflictingTokens(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
	}{
		{"x-vault-token and bearer", []string{"X-Vault-Token", "kw.x", "Authorization", "Bearer kw.b"}},
		{"bearer and x-vault-token", []string{"Authorization", "Bearer kw.b", "X-Vault-Token", "kw.x"}},
		{"two x-vault-token", []string{"X-Vault-Token", "kw.one", "X-Vault-Token", "kw.two"}},
		{"two bearer", []string{"Authorization", "Bearer kw.one", "Authorization", "Bearer kw.two"}},
		{"prefix of the other", []string{"X-Vault-Token", "kw.abc", "Authorization", "Bearer kw.abcd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			for _, target := range []string{"/v1/secret/a", "/v1/auth/userpass/login/u"} {
				w := do(t, a, "GET", target, nil, tt.hdr...)
				if w.Code != http.StatusBadRequest {
					t.Fatalf("GET %s with %q = %d, want 400", target, tt.hdr, w.Code)
				}
				if errs := errorsOf(t, w); len(errs) != 1 || strings.Contains(errs[0], "kw.") {
					t.Errorf("errors = %q, want one message naming no token", errs)
				}
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("core called %d times", n)
			}
		})
	}
}

func TestOversizedTokenHeader(t *testing.T) {
	a, f := newAPI(t, nil)
	for _, h := range []string{"X-Vault-Token", "Authorization"} {
		v := strings.Repeat("a", 64<<10)
		if h == "Authorization" {
			v = "Bearer " + v
		}
		w := do(t, a, "GET", "/v1/secret/a", nil, h, v)
		if w.Code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB %s = %d, want 431", h, w.Code)
		}
		if strings.Contains(w.Body.String(), "aaaa") {
			t.Errorf("response echoes the token: %q", w.Body)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("core called %d times", n)
	}
}

func TestHeadersAndConnection(t *testing.T) {
	a, f := newAPI(t, nil)
	w := do(t, a, "GET", "/v1/secret/a", nil, "X-Vault-Request", "true", "X-Vault-Namespace", "ns1/")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	req := f.last(t)
	if got := req.Headers.Get("X-Vault-Request"); got != "true" {
		t.Errorf("X-Vault-Request = %q", got)
	}
	if req.Connection == nil || req.Connection.RemoteAddr != "192.0.2.1" {
		t.Errorf("Connection = %+v, want RemoteAddr 192.0.2.1 (httptest's peer)", req.Connection)
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer ignores xff", "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer", "10.1.1.1:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted", "10.1.1.1:443", []string{"6.6.6.6, 198.51.100.7, 10.2.2.2"}, "198.51.100.7"},
		{"forged left entries", "10.1.1.1:443", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},
		{"garbage stops the walk", "10.1.1.1:443", []string{"1.1.1.1, garbage"}, "10.1.1.1"},
		{"all trusted", "10.1.1.1:443", []string{"10.3.3.3"}, "10.3.3.3"},
		{"no xff", "10.1.1.1:443", nil, "10.1.1.1"},
		{"ipv6 peer", "[::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"mapped v4", "[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCore{}
			a := httpapi.New(f, httpapi.Config{}, nil)
			h := httpapi.HTTPServer(a.Server(httpapi.Listener{TrustedProxies: proxies})).Handler
			r := httptest.NewRequest("GET", "/v1/secret/a", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got := f.last(t).Connection.RemoteAddr; got != tt.want {
				t.Errorf("RemoteAddr %s XFF %q = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestQueryParams(t *testing.T) {
	tests := []struct {
		name, method, target string
		want                 map[string]any
	}{
		{"none", "GET", "/v1/secret/data/a", nil},
		{"single", "GET", "/v1/secret/data/a?version=3", map[string]any{"version": "3"}},
		{"repeated", "GET", "/v1/x/a?k=1&k=2", map[string]any{"k": []any{"1", "2"}}},
		{"list and help dropped", "GET", "/v1/x/a?list=true&after=b", map[string]any{"after": "b"}},
		{"health codes", "HEAD", "/v1/sys/health?standbycode=299&sealedcode=299", map[string]any{"standbycode": "299", "sealedcode": "299"}},
		{"list verb", "LIST", "/v1/x/a?limit=5", map[string]any{"limit": "5"}},
		{"delete", "DELETE", "/v1/x/a?versions=1", map[string]any{"versions": "1"}},
		{"utf-8", "GET", "/v1/x/a?name=%C3%A9", map[string]any{"name": "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			do(t, a, tt.method, tt.target, nil)
			if diff := cmp.Diff(tt.want, f.last(t).Data); diff != "" {
				t.Errorf("%s %s data (-want +got):\n%s", tt.method, tt.target, diff)
			}
		})
	}
}

// TestQueryInvalidUTF8: query keys and values are held to the same rule as
// JSON bodies: invalid UTF-8 is refused, never passed on or replaced.
func TestQueryInvalidUTF8(t *testing.T) {
	for _, target := range []string{
		"/v1/x/a?name=%FF",
		"/v1/x/a?%C3=1",
		"/v1/x/a?k=ok&k=%C0%AE",
		"/v1/x/a?list=true&after=%ED%A0%80",
	} {
		for _, method := range []string{"GET", "DELETE"} {
			a, f := newAPI(t, nil)
			w := do(t, a, method, target, nil)
			if w.Code != http.StatusBadRequest {
				t.Errorf("%s %s = %d, want 400", method, target, w.Code)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%s %s reached the core", method, target)
			}
		}
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]any
		wantCode   int
	}{
		{"empty", "", nil, 200},
		{"whitespace", " \n\t", nil, 200},
		{"null", "null", nil, 200},
		{"object", `{"data":{"pw":"x","n":3}}`, map[string]any{"data": map[string]any{"pw": "x", "n": json.Number("3")}}, 200},
		{"big number kept exact", `{"n":12345678901234567890}`, map[string]any{"n": json.Number("12345678901234567890")}, 200},
		{"array", `[1,2]`, nil, 400},
		{"string", `"x"`, nil, 400},
		{"number", `3`, nil, 400},
		{"malformed", `{"a":`, nil, 400},
		{"trailing data", `{"a":1} {"b":2}`, nil, 400},
		{"trailing garbage", `{"a":1}x`, nil, 400},
		// Invalid UTF-8 is refused, never replaced with U+FFFD.
		{"invalid utf-8 value", "{\"pw\":\"a\xffb\"}", nil, 400},
		{"invalid utf-8 key", "{\"p\xc3w\":\"x\"}", nil, 400},
		{"overlong utf-8", "{\"a\":\"\xc0\xae\"}", nil, 400},
		{"encoded surrogate half", "{\"a\":\"\xed\xa0\x80\"}", nil, 400},
		{"lone high surrogate escape", `{"a":"\ud800"}`, nil, 400},
		{"lone low surrogate escape", `{"a":"x\udc00"}`, nil, 400},
		{"reversed surrogate pair", `{"a":"\udc00\ud800"}`, nil, 400},
		{"surrogate escape in key", `{"\uD83D":1}`, nil, 400},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, map[string]any{"a": "\U0001F600"}, 200},
		{"escaped backslash before u", `{"a":"\\ud800"}`, map[string]any{"a": `\ud800`}, 200},
		{"replacement character sent on purpose", `{"a":"\ufffd�"}`, map[string]any{"a": "\ufffd\ufffd"}, 200},
		{"multibyte", `{"pässwörd":"日本"}`, map[string]any{"pässwörd": "日本"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			w := do(t, a, "POST", "/v1/secret/data/a", strings.NewReader(tt.body))
			if w.Code != tt.wantCode {
				t.Fatalf("POST %q = %d %s, want %d", tt.body, w.Code, w.Body, tt.wantCode)
			}
			if tt.wantCode != 200 {
				errorsOf(t, w)
				if n := len(f.requests()); n != 0 {
					t.Errorf("core called for a rejected body")
				}
				return
			}
			if diff := cmp.Diff(tt.want, f.last(t).Data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBodyIgnoredForGET(t *testing.T) {
	a, f := newAPI(t, nil)
	do(t, a, "GET", "/v1/secret/a", strings.NewReader(`{"a":1}`))
	if d := f.last(t).Data; d != nil {
		t.Errorf("GET body decoded into %v", d)
	}
}

func TestWrapTTL(t *testing.T) {
	tests := []struct {
		header   string
		want     time.Duration
		wantCode int
	}{
		{"", 0, 200},
		{"60", time.Minute, 200},
		{"5m", 5 * time.Minute, 200},
		{"1h30m", 90 * time.Minute, 200},
		{"forever", 0, 400},
		{"-5m", 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			a, f := newAPI(t, nil)
			var hdr []string
			if tt.header != "" {
				hdr = []string{"X-Vault-Wrap-TTL", tt.header}
			}
			w := do(t, a, "GET", "/v1/secret/a", nil, hdr...)
			if w.Code != tt.wantCode {
				t.Fatalf("wrap TTL %q = %d, want %d", tt.header, w.Code, tt.wantCode)
			}
			if tt.wantCode == 200 && f.last(t).WrapTTL != tt.want {
				t.Errorf("WrapTTL = %v, want %v", f.last(t).WrapTTL, tt.want)
			}
		})
	}
}

func TestEmptyResponses(t *testing.T) {
	tests := []struct {
		name, method, target string
		resp                 *logical.Response
		want                 int
		wantBody             string
	}{
		{"write nil", "POST", "/v1/secret/data/a", nil, 204, ""},
		{"delete nil", "DELETE", "/v1/secret/data/a", nil, 204, ""},
		{"read nil", "GET", "/v1/secret/data/a", nil, 404, `{"errors":[]}`},
		{"list nil", "LIST", "/v1/secret/metadata/", nil, 404, `{"errors":[]}`},
		{"list no keys", "LIST", "/v1/secret/metadata/", &logical.Response{Data: map[string]any{"keys": []string{}}}, 404, `{"errors":[]}`},
		{"list keys any", "LIST", "/v1/secret/metadata/", &logical.Response{Data: map[string]any{"keys": []any{}}}, 404, `{"errors":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newAPI(t, func(*logical.Request) (*logical.Response, error) { return tt.resp, nil })
			w := do(t, a, tt.method, tt.target, nil)
			if w.Code != tt.want || w.Body.String() != tt.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.target, w.Code, w.Body, tt.want, tt.wantBody)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestRawResponse(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		resp     *logical.Response
		want     int
		wantType string
		wantBody string
	}{
		{"health sealed", "GET", &logical.Response{Raw: []byte(`{"sealed":true}`), Status: 503}, 503, "application/json", `{"sealed":true}`},
		{"health head", "HEAD", &logical.Response{Raw: []byte(`{"sealed":false}`), Status: 429}, 429, "application/json", ""},
		{"metrics text", "GET", &logical.Response{Raw: []byte("up 1\n"), ContentType: "text/plain; version=0.0.4"}, 200, "text/plain; version=0.0.4", "up 1\n"},
		{"empty raw", "GET", &logical.Response{Raw: []byte{}}, 200, "application/json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newAPI(t, func(*logical.Request) (*logical.Response, error) { return tt.resp, nil })
			w := do(t, a, tt.method, "/v1/sys/health", nil)
			if w.Code != tt.want || w.Body.String() != tt.wantBody {
				t.Errorf("%s = %d %q, want %d %q", tt.name, w.Code, w.Body, tt.want, tt.wantBody)
			}
			if ct := w.Header().Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// TestEnvelopeGolden pins the envelope's field names, order and types.
func TestEnvelopeGolden(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name, method, path string
		mountType          string
		resp               *logical.Response
		wantCode           int
	}{
		{"kv_read", "GET", "secret/data/app", "kv", &logical.Response{Data: map[string]any{
			"data":     map[string]any{"password": "p4ss"},
			"metadata": map[string]any{"version": 2, "destroyed": false, "deletion_time": ""}}}, 200},
		{"kv_deleted_version", "GET", "secret/data/app", "kv", &logical.Response{Status: 404, Data: map[string]any{
			"data":     nil,
			"metadata": map[string]any{"version": 3, "deletion_time": "2026-01-02T03:04:05Z"}}}, 404},
		{"leased", "GET", "database/creds/ro", "database", &logical.Response{
			Data:     map[string]any{"username": "v-ro-1", "password": "pw"},
			Secret:   &logical.Secret{LeaseID: "database/creds/ro/abc", TTL: time.Hour + 500*time.Millisecond, Renewable: true},
			Warnings: []string{"ttl capped to max_ttl"}}, 200},
		{"auth", "POST", "auth/approle/login", "approle", &logical.Response{Auth: &logical.Auth{
			ClientToken: sensitive.NewString("kw.tok"), Accessor: "acc1", Policies: []string{"default", "ci"},
			TokenPolicies: []string{"default", "ci"}, Metadata: map[string]string{"role": "ci"},
			TTL: 20 * time.Minute, Renewable: true, EntityID: "ent1", TokenType: "service", NumUses: 3}}, 200},
		{"wrapped", "GET", "secret/data/app", "kv", &logical.Response{
			Data:     map[string]any{"hidden": "x"},
			Auth:     &logical.Auth{ClientToken: sensitive.NewString("hidden")},
			WrapInfo: &logical.WrapInfo{Token: "kw.wrap", Accessor: "wacc", TTL: 5 * time.Minute, CreationTime: created, CreationPath: "secret/data/app"}}, 200},
		{"sys_mounts_top_level", "GET", "sys/mounts", "system", &logical.Response{Data: map[string]any{
			"secret/": map[string]any{"type": "kv"}, "data": "collides, stays inside data"}}, 200},
		{"sys_policy_name_top_level", "GET", "sys/policy/ci", "system", &logical.Response{Data: map[string]any{
			"name": "ci", "rules": "path \"x\" {}"}}, 200},
		{"sys_other_not_top_level", "GET", "sys/policies/acl/ci", "system", &logical.Response{Data: map[string]any{
			"name": "ci"}}, 200},
	}
	idRE := regexp.MustCompile(`"request_id":"[0-9a-f-]{36}"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id string
			a, _ := newAPI(t, func(req *logical.Request) (*logical.Response, error) {
				id = req.ID
				req.MountType = tt.mountType
				return tt.resp, nil
			})
			w := do(t, a, tt.method, "/v1/"+tt.path, nil)
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d", w.Code, tt.wantCode)
			}
			body := w.Body.String()
			if !strings.Contains(body, `"request_id":"`+id+`"`) {
				t.Errorf("body lacks request_id %q: %s", id, body)
			}
			got := idRE.ReplaceAllString(body, `"request_id":"REQUEST-ID"`) + "\n"
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("envelope mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     int
		wantMsg  string
		internal bool
	}{
		{"coded", logical.Errorf(409, "check-and-set parameter did not match"), 409, "check-and-set parameter did not match", false},
		{"coded wrapped", fmt.Errorf("kv: %w", logical.BadRequest("field %q: expected a string", "ttl")), 400, `field "ttl": expected a string`, false},
		{"coded rate limit", logical.Errorf(429, "request rate limit exceeded"), 429, "request rate limit exceeded", false},
		{"coded bad code", logical.Errorf(200, "odd"), 500, "odd", false},
		{"permission denied", fmt.Errorf("acl: %w", logical.ErrPermissionDenied), 403, "permission denied", false},
		{"unsupported path", logical.ErrUnsupportedPath, 404, "no handler for route", false},
		{"unsupported op", logical.ErrUnsupportedOperation, 405, "unsupported operation", false},
		{"invalid request", fmt.Errorf("%w: secret detail s3cr3t", logical.ErrInvalidRequest), 400, "invalid request", false},
		{"sealed", logical.ErrSealed, 503, "Vault is sealed", false},
		{"not initialized", logical.ErrNotInitialized, 503, logical.ErrNotInitialized.Error(), false},
		{"other", errors.New("bolt: open /var/lib/keyward/db: s3cr3t"), 500, "internal error; request id ", true},
		{"context canceled", context.Canceled, 500, "internal error; request id ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &fakeCore{fn: func(*logical.Request) (*logical.Response, error) { return nil, tt.err }}
			a := httpapi.New(f, httpapi.Config{}, slog.New(slog.NewJSONHandler(&logs, nil)))
			w := do(t, a, "GET", "/v1/secret/data/a", nil)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
			errs := errorsOf(t, w)
			id := f.last(t).ID
			wantMsg := tt.wantMsg
			if tt.internal {
				wantMsg += id
				if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), tt.err.Error()) {
					t.Errorf("internal error not logged with request id and chain: %s", logs.String())
				}
			}
			if len(errs) != 1 || errs[0] != wantMsg {
				t.Errorf("errors = %q, want [%q]", errs, wantMsg)
			}
			if strings.Contains(w.Body.String(), "s3cr3t") || strings.Contains(w.Body.String(), "/var/lib") {
				t.Errorf("response leaks error detail: %s", w.Body)
			}
		})
	}
}

func TestPanicRecovered(t *testing.T) {
	var logs bytes.Buffer
	const canary = "PANIC-CANARY-7f3a"
	f := &fakeCore{fn: func(*logical.Request) (*logical.Response, error) { panic("boom " + canary) }}
	a := httpapi.New(f, httpapi.Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	w := do(t, a, "POST", "/v1/secret/data/a", strings.NewReader(`{"pw":"`+canary+`"}`), "X-Vault-Token", canary)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	id := f.last(t).ID
	if errs := errorsOf(t, w); len(errs) != 1 || !strings.Contains(errs[0], id) {
		t.Errorf("errors = %q, want the request id %s", errs, id)
	}
	if !strings.Contains(logs.String(), id) {
		t.Errorf("panic not logged with request id: %s", logs.String())
	}
	if strings.Contains(logs.String(), canary) || strings.Contains(w.Body.String(), canary) {
		t.Errorf("panic value, token or body leaked into logs or response")
	}
}

// TestNotV1 covers paths outside /v1/ and extra handlers.
func TestNotV1(t *testing.T) {
	a, f := newAPI(t, nil)
	a.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ui") }))
	if w := do(t, a, "GET", "/ui/index.html", nil); w.Code != 200 || w.Body.String() != "ui" {
		t.Errorf("GET /ui/ = %d %q", w.Code, w.Body)
	}
	for _, p := range []string{"/", "/v2/secret/a", "/v1", "/uix"} {
		if w := do(t, a, "GET", p, nil); w.Code != 404 {
			t.Errorf("GET %s = %d, want 404", p, w.Code)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("core called %d times", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle(/v1/...) did not panic")
		}
	}()
	a.Handle("/v1/ui/", http.NotFoundHandler())
}
