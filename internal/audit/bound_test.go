package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
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
