package httpapi_test

// Issue 10 item 8: what an anonymous client can make the server hold. Paths
// are capped, bodies on routes served without a token get a small limit
// decided before any byte is read, and all bodies together share one
// in-flight budget.

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/httpapi"
)

// unauthenticatedRoutes are the routes the core serves without a client
// token (or with a wrapping token), under the mount names people use.
var unauthenticatedRoutes = []string{
	"auth/userpass/login/bob",
	"auth/userpass/login",
	"auth/approle/login",
	"auth/jwt/login",
	"auth/ci/github/login",
	"auth/cert/login",
	"sys/wrapping/unwrap",
	"sys/wrapping/lookup",
	"sys/unseal",
	"sys/init",
	"sys/generate-root/attempt",
	"sys/generate-root/update",
}

// TestUnauthenticatedBodyLimit: 16 parallel 31 MB bodies to routes served
// without a token get 413 after reading at most the small limit, whether
// or not they carry a token header (a wrapping token, or a made-up one),
// and whether or not they announce their length. The server allocates far
// less than one of those bodies.
func TestUnauthenticatedBodyLimit(t *testing.T) {
	const size = 31_000_000
	const parallel = 16
	type target struct{ path, token string }
	var targets []target
	for _, p := range unauthenticatedRoutes {
		targets = append(targets, target{p, ""}, target{p, "kw.made-up"})
	}
	// Any route without a token is unauthenticated too.
	targets = append(targets, target{"secret/data/x", ""}, target{"sys/policies/acl/p", ""})
	for _, tt := range targets {
		for _, chunked := range []bool{false, true} {
			name := tt.path + map[bool]string{false: " content-length", true: " chunked"}[chunked]
			if tt.token != "" {
				name += " with token"
			}
			t.Run(name, func(t *testing.T) {
				a, f := newAPI(t, nil)
				var wg sync.WaitGroup
				codes := make([]int, parallel)
				read := make([]int64, parallel)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for i := range parallel {
					wg.Go(func() {
						cr := &countingReader{r: io.LimitReader(&repeatReader{prefix: []byte(`{"password":"`), fill: 'x'}, size)}
						r := httptest.NewRequest("PUT", "/v1/"+tt.path, cr)
						r.ContentLength = size
						if chunked {
							r.ContentLength = -1
						}
						if tt.token != "" {
							r.Header.Set("X-Vault-Token", tt.token)
						}
						w := httptest.NewRecorder()
						a.ServeHTTP(w, r)
						codes[i], read[i] = w.Code, cr.n.Load()
					})
				}
				wg.Wait()
				runtime.ReadMemStats(&after)
				for i := range parallel {
					if codes[i] != http.StatusRequestEntityTooLarge {
						t.Errorf("request %d: status %d, want 413", i, codes[i])
					}
					if !chunked && read[i] != 0 {
						t.Errorf("request %d: read %d bytes despite Content-Length over the limit", i, read[i])
					}
					if read[i] > httpapi.DefaultMaxUnauthenticatedRequestSize+64<<10 {
						t.Errorf("request %d: read %d bytes, past the %d-byte limit", i, read[i], httpapi.DefaultMaxUnauthenticatedRequestSize)
					}
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
					t.Errorf("allocated %d MiB refusing %d bodies", grew>>20, parallel)
				}
				if n := len(f.requests()); n != 0 {
					t.Errorf("core called %d times", n)
				}
			})
		}
	}
}

// TestAuthenticatedBodyLimit: the small limit is for unauthenticated
// routes; a request with a token elsewhere keeps the configured limit, and
// the small limit itself admits bodies up to its size.
func TestAuthenticatedBodyLimit(t *testing.T) {
	big := []byte(`{"data":{"blob":"` + strings.Repeat("x", 1<<20) + `"}}`)
	a, f := newAPI(t, nil)
	if w := do(t, a, "PUT", "/v1/secret/data/x", bytes.NewReader(big), "X-Vault-Token", "kw.t"); w.Code != 200 {
		t.Errorf("1 MiB authenticated write = %d %s, want 200", w.Code, w.Body)
	}
	if w := do(t, a, "PUT", "/v1/secret/data/x", bytes.NewReader(big)); w.Code != 413 {
		t.Errorf("1 MiB write without a token = %d, want 413", w.Code)
	}
	atLimit := `{"password":"` + strings.Repeat("x", httpapi.DefaultMaxUnauthenticatedRequestSize-16) + `"}`
	if w := do(t, a, "PUT", "/v1/auth/userpass/login/bob", strings.NewReader(atLimit)); w.Code != 200 {
		t.Errorf("%d-byte login = %d, want 200", len(atLimit), w.Code)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("core called %d times, want 2", n)
	}
	// A configured limit below the small one wins.
	small := httpapi.New(f, httpapi.Config{MaxRequestSize: 1 << 10}, nil)
	if w := do(t, small, "PUT", "/v1/auth/userpass/login/bob", strings.NewReader(atLimit)); w.Code != 413 {
		t.Errorf("login over a 1 KiB max_request_size = %d, want 413", w.Code)
	}
}

// TestPathLength: a path over 4 KiB, counted after decoding and with the
// query, gets 414 before routing; the answer does not echo the path.
func TestPathLength(t *testing.T) {
	long := strings.Repeat("a", httpapi.MaxPathLength)
	tests := []struct {
		name, target string
		want         int
	}{
		{"at the limit", "/v1/" + long[:httpapi.MaxPathLength-len("/v1/")], 200},
		{"one over", "/v1/" + long[:httpapi.MaxPathLength-len("/v1/")+1], 414},
		{"60 KB", "/v1/secret/data/" + strings.Repeat("b", 60_000), 414},
		{"query counts", "/v1/secret/data/x?k=" + long, 414},
		{"query decoded", "/v1/secret/data/x?k=" + strings.Repeat("%61", 1500), 200},
		{"path decoded", "/v1/secret/data/" + strings.Repeat("%61", 1400), 200},
		{"decoded path over", "/v1/secret/data/" + strings.Repeat("%61", 1400) + long[:3000], 414},
		{"outside /v1/", "/ui/" + long, 414},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			w := do(t, a, "GET", tt.target, nil, "X-Vault-Token", "kw.t")
			if w.Code != tt.want {
				t.Fatalf("GET %.60s... (%d bytes) = %d, want %d", tt.target, len(tt.target), w.Code, tt.want)
			}
			if tt.want != 414 {
				return
			}
			if errs := errorsOf(t, w); len(errs) != 1 || strings.Contains(w.Body.String(), "aaaa") || strings.Contains(w.Body.String(), "bbbb") {
				t.Errorf("body %.200q, want one message without the path", w.Body)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("core called %d times", n)
			}
		})
	}
}

// gateReader yields n bytes of a JSON string body, then signals blocked
// and waits for release before ending the body.
type gateReader struct {
	n       int
	sent    int
	blocked chan struct{}
	release chan struct{}
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.sent == 0 && len(p) > 0 {
		p[0] = '{'
		g.sent = 1
		return 1, nil
	}
	if g.sent < g.n {
		k := min(len(p), g.n-g.sent)
		for i := range k {
			p[i] = ' '
		}
		g.sent += k
		return k, nil
	}
	if g.blocked != nil {
		close(g.blocked)
		g.blocked = nil
		<-g.release
	}
	if g.sent == g.n {
		p[0] = '}'
		g.sent++
		return 1, nil
	}
	return 0, io.EOF
}

// TestBodyBudget: bodies being read share one budget, which counts their
// buffers and what decoding them will hold. While one request holds it,
// the next is answered 503 with Retry-After once its own share no longer
// fits, long before all of it is read; once the first finishes, the budget
// is back. (Before the decoding was counted, the second body fitted.)
func TestBodyBudget(t *testing.T) {
	f := &fakeCore{}
	a := httpapi.New(f, httpapi.Config{MaxRequestSize: 1 << 20, MaxJSONValues: 1000, MaxInFlightBodyBytes: 6<<20 + 200_000}, nil)
	g := &gateReader{n: 1<<20 - 100, blocked: make(chan struct{}), release: make(chan struct{})}
	blocked := g.blocked
	done := make(chan int)
	go func() {
		r := httptest.NewRequest("PUT", "/v1/secret/data/big", g)
		r.ContentLength = -1 // chunked: the budget grows as the body arrives
		r.Header.Set("X-Vault-Token", "kw.t")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		done <- w.Code
	}()
	<-blocked // 1 MiB is buffered (and will be decoded) and the reader is waiting

	cr := &countingReader{r: strings.NewReader(`{"a":"` + strings.Repeat("x", 200<<10) + `"}`)}
	r := httptest.NewRequest("PUT", "/v1/secret/data/small", cr)
	r.Header.Set("X-Vault-Token", "kw.t")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("second body while the budget is taken = %d (Retry-After %q), want 503 with Retry-After",
			w.Code, w.Header().Get("Retry-After"))
	}
	if n := cr.n.Load(); n > 64<<10 {
		t.Errorf("read %d bytes of a body refused for the budget, want at most 64 KiB", n)
	}
	// Requests without a body do not need the budget.
	if w := do(t, a, "GET", "/v1/secret/data/x", nil, "X-Vault-Token", "kw.t"); w.Code != 200 {
		t.Errorf("GET while the budget is taken = %d, want 200", w.Code)
	}

	close(g.release)
	if code := <-done; code != 200 {
		t.Errorf("first body = %d, want 200", code)
	}
	if w := do(t, a, "PUT", "/v1/secret/data/small", strings.NewReader(`{"a":"`+strings.Repeat("x", 200<<10)+`"}`), "X-Vault-Token", "kw.t"); w.Code != 200 {
		t.Errorf("second body after the first finished = %d, want 200", w.Code)
	}
}

// unauthCore is a handler that declares which routes it serves without a
// token, as the core does from each mount's backend.
type unauthCore struct {
	fakeCore
	paths map[string]bool
}

func (u *unauthCore) Unauthenticated(path string) bool { return u.paths[path] }

// A route the handler serves without a token gets the small body limit
// with a made-up token header too, even when its shape is not a login.
func TestHandlerDeclaresUnauthenticatedRoutes(t *testing.T) {
	h := &unauthCore{paths: map[string]bool{"acme/new-account": true}}
	a := httpapi.New(h, httpapi.Config{}, nil)
	body := `{"v":"` + strings.Repeat("x", 200<<10) + `"}`
	for path, want := range map[string]int{"acme/new-account": http.StatusRequestEntityTooLarge, "secret/data/x": http.StatusOK} {
		w := do(t, a, "PUT", "/v1/"+path, strings.NewReader(body), "X-Vault-Token", "kw.made-up")
		if w.Code != want && !(want == http.StatusOK && w.Code/100 == 2) {
			t.Errorf("PUT %s with a 200 KiB body = %d, want %d", path, w.Code, want)
		}
	}
}
