package httpapi_test

// Adversarial tests from SECURITY-TESTS.md (T01-T05, T07) that need only
// the handler; server_test.go has those that need a real listener.

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
)

// countingReader counts the bytes the API pulled from a body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// repeatReader yields prefix, then fill repeated forever (bound it with
// io.LimitReader), without holding the whole body in memory.
type repeatReader struct {
	prefix []byte
	fill   byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.prefix)
	r.prefix = r.prefix[n:]
	if n < len(p) {
		p[n] = r.fill
		for filled := n + 1; filled < len(p); {
			filled += copy(p[filled:], p[n:filled])
		}
	}
	return len(p), nil
}

func deepArrays(size int) []byte { return bytes.Repeat([]byte("["), size) }

func deepObjects(size int) []byte {
	return bytes.Repeat([]byte(`{"a":`), size/5)
}

func manyKeys(n int) []byte {
	b := make([]byte, 0, n*17)
	b = append(b, '{')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"kxxxxx`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":1`...)
	}
	return append(b, '}')
}

// TestDeepJSONRefused sends 10 MB of nesting, unauthenticated and with a token.
// The API must refuse it with 400 after reading only a prefix and without
// building Go values; the core is never called.
func TestDeepJSONRefused(t *testing.T) {
	const size = 10 << 20
	bodies := map[string][]byte{"arrays": deepArrays(size), "objects": deepObjects(size)}
	for name, body := range bodies {
		for _, tc := range []struct {
			path, token string
			length      int64
		}{
			// Unannounced length: a login body announcing 10 MB is
			// refused by its size before a byte is read
			// (TestUnauthenticatedBodyLimit); this one must be refused
			// by its depth.
			{"auth/userpass/login/x", "", -1},
			{"secret/data/x", "kw.sometoken", int64(len(body))},
		} {
			t.Run(name+" "+tc.path, func(t *testing.T) {
				a, f := newAPI(t, nil)
				cr := &countingReader{r: bytes.NewReader(body)}
				r := httptest.NewRequest("PUT", "/v1/"+tc.path, cr)
				r.ContentLength = tc.length
				if tc.token != "" {
					r.Header.Set("X-Vault-Token", tc.token)
				}
				w := httptest.NewRecorder()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				a.ServeHTTP(w, r)
				runtime.ReadMemStats(&after)
				if w.Code != http.StatusBadRequest {
					t.Fatalf("status %d %s, want 400", w.Code, w.Body)
				}
				if errs := errorsOf(t, w); errs[0] != "request body is nested too deeply" {
					t.Errorf("errors = %q", errs)
				}
				if n := cr.n.Load(); n > 1<<20 {
					t.Errorf("read %d bytes of a body refused at depth 300", n)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
					t.Errorf("allocated %d MiB refusing the body", grew>>20)
				}
				if len(f.requests()) != 0 {
					t.Error("core called")
				}
			})
		}
	}
}

// TestManyStringsRefused sends 8 MB with 500k distinct keys, 50 in parallel.
func TestManyStringsRefused(t *testing.T) {
	body := manyKeys(500_000)
	if len(body) < 7<<20 {
		t.Fatalf("body is only %d bytes", len(body))
	}
	a, f := newAPI(t, nil)
	var wg sync.WaitGroup
	codes := make([]int, 50)
	read := make([]int64, 50)
	for i := range codes {
		wg.Go(func() {
			cr := &countingReader{r: bytes.NewReader(body)}
			r := httptest.NewRequest("POST", "/v1/auth/userpass/login/x", cr)
			r.ContentLength = int64(len(body))
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			codes[i], read[i] = w.Code, cr.n.Load()
		})
	}
	wg.Wait()
	for i := range codes {
		// Announced at 8 MB, over the unauthenticated limit: refused
		// before a byte is read.
		if codes[i] != http.StatusRequestEntityTooLarge {
			t.Errorf("request %d: status %d, want 413", i, codes[i])
		}
		if read[i] != 0 {
			t.Errorf("request %d: read %d bytes before refusing the body", i, read[i])
		}
	}
	// With a token (the configured limit), the value count refuses it
	// after reading a prefix.
	cr := &countingReader{r: bytes.NewReader(body)}
	r := httptest.NewRequest("POST", "/v1/secret/data/x", cr)
	r.ContentLength = int64(len(body))
	r.Header.Set("X-Vault-Token", "kw.t")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || cr.n.Load() >= int64(len(body)) {
		t.Errorf("authenticated: status %d after reading %d of %d bytes, want 400 before the end", w.Code, cr.n.Load(), len(body))
	}
	if len(f.requests()) != 0 {
		t.Error("core called")
	}
	// Just under the cap is accepted (with a token: the body is larger
	// than unauthenticated requests may send).
	ok := manyKeys(httpapi.DefaultMaxJSONValues/2 - 1)
	if w := do(t, a, "POST", "/v1/secret/data/x", bytes.NewReader(ok), "X-Vault-Token", "kw.t"); w.Code != 200 {
		t.Errorf("%d keys: status %d, want 200", httpapi.DefaultMaxJSONValues/2-1, w.Code)
	}
}

// TestBodySizeLimits sends 40 MB with and without Content-Length.
func TestBodySizeLimits(t *testing.T) {
	const size = 40 << 20
	for _, chunked := range []bool{false, true} {
		name := map[bool]string{false: "content-length", true: "chunked"}[chunked]
		t.Run(name, func(t *testing.T) {
			a, f := newAPI(t, nil)
			cr := &countingReader{r: io.LimitReader(&repeatReader{prefix: []byte(`{"a":"`), fill: 'x'}, size)}
			r := httptest.NewRequest("POST", "/v1/secret/data/x", cr)
			r.ContentLength = size
			if chunked {
				r.ContentLength = -1
				r.TransferEncoding = []string{"chunked"}
			}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", w.Code)
			}
			if errs := errorsOf(t, w); errs[0] != "request body too large" {
				t.Errorf("errors = %q", errs)
			}
			n := cr.n.Load()
			if !chunked && n != 0 {
				t.Errorf("read %d bytes despite Content-Length over the limit", n)
			}
			if n > httpapi.DefaultMaxRequestSize+64<<10 {
				t.Errorf("read %d bytes, past the 32 MiB limit", n)
			}
			if len(f.requests()) != 0 {
				t.Error("core called")
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		f := &fakeCore{}
		a := httpapi.New(f, httpapi.Config{MaxRequestSize: 1 << 10}, nil)
		body := `{"a":"` + strings.Repeat("x", 1<<10-8) + `"}`
		if w := do(t, a, "POST", "/v1/secret/data/x", strings.NewReader(body)); w.Code != 200 {
			t.Errorf("%d-byte body with a 1 KiB limit: status %d, want 200", len(body), w.Code)
		}
		if w := do(t, a, "POST", "/v1/secret/data/x", strings.NewReader(body+" ")); w.Code != 413 {
			t.Errorf("%d-byte body with a 1 KiB limit: status %d, want 413", len(body)+1, w.Code)
		}
	})
}

// TestBadPathsLookTheSame: bad paths get one fixed message that echoes nothing.
func TestBadPathsLookTheSame(t *testing.T) {
	for _, target := range []string{
		"/v1/secret/%ff%fe",           // invalid UTF-8
		"/v1/secret/%c0%ae%c0%ae/sys", // overlong dots
		"/v1/",                        // empty
	} {
		a, f := newAPI(t, nil)
		w := do(t, a, "GET", target, nil)
		if w.Code != 400 || w.Body.String() != `{"errors":["invalid request path"]}` {
			t.Errorf("GET %s = %d %s, want 400 invalid request path", target, w.Code, w.Body)
		}
		if len(f.requests()) != 0 {
			t.Errorf("GET %s reached the core", target)
		}
	}
	// Existing and unknown mounts: whatever the core decides, the same
	// error gives the same bytes, with nothing about the path.
	a, _ := newAPI(t, func(*logical.Request) (*logical.Response, error) { return nil, logical.ErrPermissionDenied })
	w1 := do(t, a, "GET", "/v1/secret/data/x", nil)
	w2 := do(t, a, "GET", "/v1/nosuchmount/x", nil)
	if w1.Code != w2.Code || w1.Body.String() != w2.Body.String() {
		t.Errorf("existing vs unknown mount differ: %d %s / %d %s", w1.Code, w1.Body, w2.Code, w2.Body)
	}
}

// TestMalformedBodyNotEchoed: decoding errors never repeat body content.
func TestMalformedBodyNotEchoed(t *testing.T) {
	const canary = "CANARYzq81"
	bodies := []string{
		`{"data":"` + canary,
		`{"data":` + canary + `}`,
		`{"options":{"cas":"` + canary + `"}}}`,
		`["` + canary + `"]`,
		`"` + canary + `"`,
		canary,
		`{"ttl":"\` + canary + `"}`,
		`{"` + canary + `" 1}`,
		`{"a":1}` + canary,
		`nul` + canary,
	}
	for _, body := range bodies {
		var logs bytes.Buffer
		f := &fakeCore{}
		a := httpapi.New(f, httpapi.Config{}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		w := do(t, a, "POST", "/v1/secret/data/x", strings.NewReader(body))
		if w.Code != 400 {
			t.Errorf("POST %q = %d, want 400", body, w.Code)
		}
		if strings.Contains(w.Body.String(), "CANARY") || strings.Contains(logs.String(), "CANARY") {
			t.Errorf("POST %q: canary echoed: body %s logs %s", body, w.Body, logs.String())
		}
		if len(f.requests()) != 0 {
			t.Errorf("POST %q reached the core", body)
		}
	}
}

// TestTraversalRefused: every non-canonical path is refused on every method
// before the core is called.
func TestTraversalRefused(t *testing.T) {
	paths := []string{
		"secret/data/team-a/../../../sys/policies/acl/root",
		"secret/data/team-a/%2e%2e/%2e%2e/sys/policies/acl/root",
		"secret/data/team-a/%2E%2e%2Fsys",
		"secret/data/team-a/..%2f..%2fsys",
		"secret/data/team-a/./x",
		"secret/data/team-a/%2e/x",
		"secret/data/team-a/..",
		"secret/data/team-a/x/%2e%2e",
		"secret//data/team-a/x",
		"secret/data/team-a//x",
		"secret/data/team-a/x%2f..%2fy",
		"secret/data/team-a/x%00y",
		"secret/data/team-a/x%5c..%5cy",
		`secret/data/team-a/x\..\y`,
		"secret/data/team-a/%c0%ae%c0%ae/x",
		"secret/data/team-a/%252e%252e/x",
		"secret/data/team-a/%ef%bc%8e%ef%bc%8e/x",
		"secret/data/team-a/x%0ay",
		"/secret/data/team-a/x",
		"secret/data/team-a/x//",
		// Encoded separators are refused even where decoding them would
		// give a clean path (docs/security.md), in either case and double
		// encoded, so a raw-path proxy and the ACL never see different
		// paths.
		"secret/data/team-a%2Fx",
		"secret/data/team-a%2fx",
		"secret%2Fdata%2Fteam-a%2Fx",
		"secret/data/team-a%5Cx",
		"secret/data/team-a%252Fx",
		"secret/data/team-a%252fx",
		"secret/data/team-a%255Cx",
	}
	methods := []string{"GET", "HEAD", "LIST", "POST", "PUT", "PATCH", "DELETE", "GET?list=true"}
	for _, p := range paths {
		for _, m := range methods {
			t.Run(m+" "+p, func(t *testing.T) {
				a, f := newAPI(t, nil)
				method, query, _ := strings.Cut(m, "?")
				target := "/v1/" + p
				if query != "" {
					target += "?" + query
				}
				r := httptest.NewRequest(method, "/", strings.NewReader(`{"a":1}`))
				if err := setTarget(r, target); err != nil {
					t.Fatalf("target %q: %v", target, err)
				}
				r.Header.Set("X-Vault-Token", "kw.team-a")
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				a.ServeHTTP(w, r)
				if w.Code != http.StatusBadRequest {
					t.Errorf("%s %s = %d, want 400", method, target, w.Code)
				}
				if n := len(f.requests()); n != 0 {
					t.Errorf("%s %s reached the core as %q", method, target, f.requests()[0].Path)
				}
			})
		}
	}
}

// setTarget sets r.URL from a raw request target the way the server does
// when it reads a request line.
func setTarget(r *http.Request, target string) error {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return err
	}
	r.URL = u
	r.RequestURI = target
	return nil
}

// TestRateLimitBeforeBody: with a per-client quota, a flood of 8 MB
// many-key bodies trips the quota (429 with Retry-After) and the refused
// requests are not read; the body cap still refuses the admitted ones, the
// core never runs, and health keeps answering.
func TestRateLimitBeforeBody(t *testing.T) {
	body := manyKeys(500_000)
	f := &fakeCore{}
	a := httpapi.New(f, httpapi.Config{RateLimit: 5, RateBurst: 5}, nil)
	var wg sync.WaitGroup
	codes := make([]int, 50)
	read := make([]int64, 50)
	retry := make([]string, 50)
	for i := range codes {
		wg.Go(func() {
			cr := &countingReader{r: bytes.NewReader(body)}
			r := httptest.NewRequest("POST", "/v1/auth/userpass/login/x", cr)
			r.RemoteAddr = "192.0.2.7:4000"
			r.ContentLength = int64(len(body))
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			codes[i], read[i], retry[i] = w.Code, cr.n.Load(), w.Header().Get("Retry-After")
		})
	}
	wg.Wait()
	limited := 0
	for i, c := range codes {
		switch c {
		case http.StatusTooManyRequests:
			limited++
			if read[i] != 0 {
				t.Errorf("request %d: 429 after reading %d bytes", i, read[i])
			}
			if retry[i] == "" {
				t.Errorf("request %d: 429 without Retry-After", i)
			}
		case http.StatusRequestEntityTooLarge:
			if read[i] != 0 {
				t.Errorf("request %d: 413 after reading %d bytes", i, read[i])
			}
		default:
			t.Errorf("request %d: status %d, want 413 or 429", i, c)
		}
	}
	if limited < 40 {
		t.Errorf("%d of 50 requests were rate limited, want at least 40 with a burst of 5", limited)
	}
	if len(f.requests()) != 0 {
		t.Error("core called")
	}
	// Another client is not affected, and health is exempt for everyone.
	r := httptest.NewRequest("GET", "/v1/sys/health", nil)
	r.RemoteAddr = "192.0.2.7:4001"
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code == http.StatusTooManyRequests {
		t.Error("sys/health was rate limited")
	}
	r = httptest.NewRequest("GET", "/v1/secret/data/x", nil)
	r.RemoteAddr = "198.51.100.9:4000"
	w = httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code == http.StatusTooManyRequests {
		t.Error("an unrelated client was rate limited")
	}
}
