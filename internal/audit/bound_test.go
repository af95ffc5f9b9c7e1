package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
)

// Item 8 of issue 10: 500 anonymous requests with 60 KB paths added 57 MiB
// to the audit log. Every client-chosen string copied readable into an
// entry is bounded (a prefix plus the SHA-256 and length of the whole),
// so an entry stays small whatever the request, and the raw value never
// reaches the log.
func TestLongFieldsAreBounded(t *testing.T) {
	long := func(c string) string { return "sys/" + strings.Repeat(c, 60<<10) }
	path := long("a")
	sum := sha256.Sum256([]byte(path))
	tests := []struct {
		name    string
		req     *logical.Request
		err     error
		resp    *logical.Response
		maxLine int
	}{
		{"anonymous long path", &logical.Request{
			ID: "r1", Operation: logical.ReadOperation, Path: path, Unauthenticated: true,
			Connection: &logical.Connection{RemoteAddr: "192.0.2.7"},
		}, logical.Errorf(http.StatusNotFound, "unsupported path %q", path), nil, 4 << 10},
		{"every client field long", &logical.Request{
			ID: long("i"), Operation: logical.Operation(long("o")), Path: path, Unauthenticated: true,
			MountType: long("t"), MountAccessor: long("m"),
			Connection: &logical.Connection{RemoteAddr: long("r")},
			Headers:    http.Header{"X-Forwarded-For": append([]string{long("x")}, strings.Split(strings.Repeat("198.51.100.1,", 2000), ",")...)},
			Data:       map[string]any{long("k"): "v", "nested": map[string]any{long("n"): "v"}},
			Token: &logical.TokenInfo{Accessor: long("c"), DisplayName: long("d"), Policies: []string{long("p")},
				Metadata: map[string]string{long("y"): long("z")}, EntityID: long("e")},
		}, logical.Errorf(http.StatusBadRequest, "%s", long("q")), &logical.Response{
			Data: map[string]any{long("w"): "v"}, Warnings: []string{long("g")}, Secret: &logical.Secret{LeaseID: long("l")},
			Auth:     &logical.Auth{Accessor: long("a"), DisplayName: long("d"), Policies: []string{long("p")}, Metadata: map[string]string{long("y"): long("z")}, EntityID: long("e")},
			WrapInfo: &logical.WrapInfo{Accessor: long("a"), CreationPath: long("c"), WrappedAccessor: long("a")},
		}, 32 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t, audit.Options{})
			p, plain := logPath(t), logPath(t)
			b.enable(t, "file", "file", map[string]string{"file_path": p})
			b.enable(t, "plain", "file", map[string]string{"file_path": plain, "hmac_accessor": "false", "elide_list_responses": "true"})
			ctx := context.Background()
			if err := b.LogRequest(ctx, tt.req, tt.err); err != nil {
				t.Fatal(err)
			}
			if tt.resp != nil {
				if err := b.LogResponse(ctx, tt.req, tt.resp, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.LogResponse(ctx, tt.req, nil, tt.err); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rawPlain, err := os.ReadFile(plain)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, rawPlain...)
			sc := bufio.NewScanner(bytes.NewReader(raw))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if n := len(sc.Bytes()); n > tt.maxLine {
					t.Errorf("entry of %d bytes, want at most %d: %.300s...", n, tt.maxLine, sc.Bytes())
				}
			}
			for _, c := range "aiotmrxknwglcdpyzeq" {
				if bytes.Contains(raw, []byte(strings.Repeat(string(c), 1100))) {
					t.Errorf("the log holds more than a bounded prefix of a %c... value", c)
				}
			}
			if !bytes.Contains(raw, []byte("[sha256:"+hex.EncodeToString(sum[:])+" len=61444]")) {
				t.Errorf("the log does not name the path's hash and length:\n%.2000s", raw)
			}
		})
	}
}

// manyKeys returns n keys "0".."n-1" with value v, as the tester's bodies
// {"0":1,"1":1,...} decode.
func manyKeys(n int, v any) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[strconv.Itoa(i)] = v
	}
	return m
}

// entrySizes logs req's request and response entries (refused with err,
// or answered with resp) on a fresh file device and returns the lines.
func entrySizes(t *testing.T, opts map[string]string, req *logical.Request, resp *logical.Response, err error) [][]byte {
	t.Helper()
	b := newBroker(t, audit.Options{AllowLogRaw: true})
	p := logPath(t)
	o := map[string]string{"file_path": p}
	for k, v := range opts {
		o[k] = v
	}
	b.enable(t, "file", "file", o)
	before, ferr := os.ReadFile(p)
	if ferr != nil {
		t.Fatal(ferr)
	}
	ctx := context.Background()
	if e := b.LogRequest(ctx, req, err); e != nil {
		t.Fatal(e)
	}
	if e := b.LogResponse(ctx, req, resp, err); e != nil {
		t.Fatal(e)
	}
	raw, ferr := os.ReadFile(p)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return bytes.Split(bytes.TrimSuffix(raw[len(before):], []byte("\n")), []byte("\n"))
}

// H2 of the second round on issue 10: a refused anonymous request still
// grew the audit log about twenty times its body (7,500 keys: 1.28 MB;
// 49,000 keys with a made-up token: 8.4 MB; a 3.8 KB query: 116 KB),
// because every data key was written with its HMAC. A request refused
// before any caller was authenticated carries only a summary of its data
// (key count and hash), and every entry is bounded in keys, values and
// bytes whoever sent it.
func TestEntriesAreBoundedWhateverTheData(t *testing.T) {
	denied := logical.ErrPermissionDenied
	anon := func(op logical.Operation, token string, data map[string]any) *logical.Request {
		return &logical.Request{ID: "r1", Operation: op, Path: "secret/data/x", ClientToken: sensitive.NewString(token), Data: data,
			Connection: &logical.Connection{RemoteAddr: "192.0.2.7"}}
	}
	authed := func(data map[string]any) *logical.Request {
		r := anon(logical.UpdateOperation, "kw.s.valid", data)
		r.Token = &logical.TokenInfo{Accessor: "acc", DisplayName: "token", Policies: []string{"default"}}
		r.MountType, r.MountAccessor = "kv", "kv_1"
		return r
	}
	deep := map[string]any{}
	for m, i := deep, 0; i < 2000; i++ {
		next := map[string]any{"k": "v"}
		m[strconv.Itoa(i)] = next
		m = next
	}
	wide := map[string]any{}
	for i := range 300 {
		wide[strconv.Itoa(i)] = manyKeys(300, "v")
	}
	longKeys := map[string]any{}
	for i := range 2000 {
		longKeys[strconv.Itoa(i)+strings.Repeat("k", 600)] = "v"
	}
	list := make([]any, 50_000)
	for i := range list {
		list[i] = 1.0
	}
	tests := []struct {
		name      string
		opts      map[string]string
		req       *logical.Request
		resp      *logical.Response
		err       error
		maxTotal  int    // bytes of the request and response entries together
		wantInLog string // a marker the entries must hold
	}{
		{"no token, 7,500 keys", nil, anon(logical.UpdateOperation, "", manyKeys(7500, 1.0)), nil, denied, 8 << 10, `"data":{"…":"[7500 keys, sha256:`},
		{"made-up token, 49,000 keys", nil, anon(logical.UpdateOperation, "fake", manyKeys(49_000, 1.0)), nil, denied, 8 << 10, `"data":{"…":"[49000 keys, sha256:`},
		{"no token, 600 query keys", nil, anon(logical.ReadOperation, "", manyKeys(600, "a")), nil, denied, 8 << 10, `"data":{"…":"[600 keys, sha256:`},
		{"no token, log_raw", map[string]string{"log_raw": "true"}, anon(logical.UpdateOperation, "", manyKeys(7500, strings.Repeat("v", 1000))), nil, denied, 8 << 10, `"data":{"…":"[7500 keys, sha256:`},
		{"valid token denied, 49,000 keys", nil, authed(manyKeys(49_000, 1.0)), nil, denied, 16 << 10, `"…":"[48936 more keys, sha256:`},
		{"allowed write, 49,000 keys", nil, authed(manyKeys(49_000, 1.0)), &logical.Response{Data: map[string]any{"version": 1}}, nil, 16 << 10, `"…":"[48936 more keys, sha256:`},
		{"allowed write, deep nesting", nil, authed(deep), nil, nil, 2 * (audit.MaxEntry + 4<<10), `"…":"[2 keys, sha256:`},
		{"allowed write, wide nesting", nil, authed(wide), nil, nil, 2 * (audit.MaxEntry + 4<<10), `more keys, sha256:`},
		{"allowed write, long keys", nil, authed(longKeys), nil, nil, 2 * (audit.MaxEntry + 4<<10), `more keys, sha256:`},
		{"allowed write, long list", nil, authed(map[string]any{"l": list}), nil, nil, 2 * (audit.MaxEntry + 4<<10), `"…[49936 more values]"`},
		{"log_raw read, big values", map[string]string{"log_raw": "true"}, authed(nil), &logical.Response{Data: manyKeys(40, strings.Repeat("v", 10_000)), Raw: bytes.Repeat([]byte("r"), 1<<20)}, nil, 2 * (audit.MaxEntry + 4<<10), `"data":{"…":"[40 keys, sha256:`},
		{"response with 49,000 warnings", nil, authed(nil), &logical.Response{Warnings: strings.Split(strings.Repeat("unknown field x,", 49_000), ",")}, nil, 2 * (audit.MaxEntry + 4<<10), `"…[48985 more]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := entrySizes(t, tt.opts, tt.req, tt.resp, tt.err)
			total := 0
			for _, l := range lines {
				total += len(l)
				if len(l) > audit.MaxEntry+4<<10 {
					t.Errorf("entry of %d bytes, want at most %d: %.300s...", len(l), audit.MaxEntry+4<<10, l)
				}
			}
			if total > tt.maxTotal {
				t.Errorf("entries of %d bytes, want at most %d: %.300s...", total, tt.maxTotal, lines[0])
			}
			if all := bytes.Join(lines, nil); !bytes.Contains(all, []byte(tt.wantInLog)) {
				t.Errorf("entries do not hold %s: %.1000s", tt.wantInLog, all)
			}
		})
	}
}

// The tester's requests over HTTP: each refused anonymous request adds a
// few KiB to a device's log, however many keys its body or query holds.
func TestAnonymousRequestsDoNotInflateTheLog(t *testing.T) {
	n := nodetest.Start(t)
	p := logPath(t)
	enableFile(t, client(t, n), "file", p, nil)
	body := func(keys int) string {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q:1", strconv.Itoa(i))
		}
		sb.WriteByte('}')
		return sb.String()
	}
	var query strings.Builder
	for i := range 600 {
		fmt.Fprintf(&query, "%d=a&", i)
	}
	tests := []struct {
		name, method, url, token, body string
	}{
		{"no token, 62 KB body", http.MethodPut, "/v1/secret/data/x", "", body(7000)},
		{"made-up token, 437 KB body", http.MethodPut, "/v1/secret/data/x", "fake", body(49_000)},
		{"no token, 3.5 KB query", http.MethodGet, "/v1/secret/data/x?" + strings.TrimSuffix(query.String(), "&"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, n.URL+tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("X-Vault-Token", tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("status %d, want a refusal", resp.StatusCode)
			}
			after, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if grew := after.Size() - before.Size(); grew > 8<<10 {
				t.Errorf("%s %.40s... (status %d) grew the log by %d bytes, want at most %d", tt.method, tt.url, resp.StatusCode, grew, 8<<10)
			}
		})
	}
}
