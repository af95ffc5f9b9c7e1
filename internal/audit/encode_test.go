package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// The reference below is the entry builder the append encoder replaced:
// Entry values marshalled with encoding/json, with readable strings bounded
// as bound.go says (fb and mb below). The encoder must produce the same
// bytes, so logs and the golden file keep their format.

func fb(s string) string { return bounded(s, maxField) }
func mb(s string) string { return bounded(s, maxMessage) }

func fbs(ss []string, n int) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = bounded(s, n)
	}
	return out
}

func fbm(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[fb(k)] = fb(v)
	}
	return out
}

// newRequestEntry builds the request entry for req as device h sees it.
func refRequestEntry(now time.Time, h *hasher, o entryOptions, req *logical.Request, authErr error) *Entry {
	e := &Entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "request"}
	e.Auth = refAuthOf(h, o, req)
	e.Request = refRequestOf(h, req)
	if authErr != nil {
		_, msg, _ := logical.StatusOf(authErr)
		e.Error = mb(msg)
	}
	return e
}

// newResponseEntry builds the response entry.
func refResponseEntry(now time.Time, h *hasher, o entryOptions, req *logical.Request, resp *logical.Response, respErr error) *Entry {
	e := &Entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "response"}
	e.Auth = refAuthOf(h, o, req)
	e.Request = refRequestOf(h, req)
	status, msg, _ := logical.StatusOf(respErr)
	r := &Response{Status: status}
	if respErr != nil {
		e.Error = mb(msg)
	} else if resp == nil {
		r.Status = 204
	} else {
		if resp.Status != 0 {
			r.Status = resp.Status
		}
		if o.elideListResponses && req.Operation == logical.ListOperation {
			r.Data = elideList(resp.Data)
		} else {
			r.Data = h.data(resp.Data, req.MountConfig.AuditNonHMACResponseKeys)
		}
		if resp.Raw != nil {
			r.Raw = h.str(string(resp.Raw))
		}
		if s := resp.Secret; s != nil {
			r.Secret = &Secret{LeaseID: fb(s.LeaseID), TTL: int64(s.TTL / time.Second), Renewable: s.Renewable}
		}
		if a := resp.Auth; a != nil {
			r.Auth = &RespAuth{
				ClientToken: h.str(a.ClientToken),
				Accessor:    refAccessor(h, o, a.Accessor),
				DisplayName: fb(a.DisplayName),
				Policies:    fbs(a.Policies, maxField),
				Metadata:    fbm(a.Metadata),
				EntityID:    fb(a.EntityID),
				TTL:         int64(a.TTL / time.Second),
			}
		}
		if w := resp.WrapInfo; w != nil {
			r.WrapInfo = &WrapInfo{
				Token:           h.str(w.Token),
				Accessor:        refAccessor(h, o, w.Accessor),
				TTL:             int64(w.TTL / time.Second),
				CreationPath:    fb(w.CreationPath),
				WrappedAccessor: refAccessor(h, o, w.WrappedAccessor),
			}
		}
		r.Warnings = fbs(resp.Warnings, maxMessage)
	}
	e.Response = r
	return e
}

func refAccessor(h *hasher, o entryOptions, a string) string {
	if o.hmacAccessor {
		return h.str(a)
	}
	return fb(a)
}

func refAuthOf(h *hasher, o entryOptions, req *logical.Request) *Auth {
	t := req.Token
	if t == nil {
		return nil
	}
	return &Auth{
		Accessor:    refAccessor(h, o, t.Accessor),
		DisplayName: fb(t.DisplayName),
		Policies:    fbs(t.Policies, maxField),
		Metadata:    fbm(t.Metadata),
		EntityID:    fb(t.EntityID),
	}
}

func refRequestOf(h *hasher, req *logical.Request) *Request {
	r := &Request{
		ID:             fb(req.ID),
		Operation:      fb(string(req.Operation)),
		Path:           fb(req.Path),
		MountType:      fb(req.MountType),
		MountAccessor:  fb(req.MountAccessor),
		ClientToken:    h.str(req.ClientToken),
		WrapTTL:        int64(req.WrapTTL / time.Second),
		Data:           h.data(req.Data, req.MountConfig.AuditNonHMACRequestKeys),
		Unauthenticate: req.Unauthenticated,
	}
	if req.Connection != nil {
		r.RemoteAddress = fb(req.Connection.RemoteAddr)
	}
	if req.Headers != nil {
		r.XForwardedFor = fbs(boundedList(req.Headers.Values("X-Forwarded-For")), maxField)
	}
	return r
}

type stringer struct{ A, B string }

// entryCase builds a request and response whose strings come from ss
// (cycled), covering every optional member.
func entryCase(ss []string, variant int) (*logical.Request, *logical.Response, error, error) {
	s := func(i int) string {
		if len(ss) == 0 {
			return ""
		}
		return ss[i%len(ss)]
	}
	req := &logical.Request{
		ID: s(0), Operation: logical.Operation(s(1)), Path: s(2),
		ClientToken: s(3), MountType: s(4), MountAccessor: s(5),
		WrapTTL: time.Duration(variant%3) * 30 * time.Second, Unauthenticated: variant%2 == 1,
		Data: map[string]any{
			s(6): s(7), "n": 12.5, "i": variant, "i64": int64(-7), "b": true, "nil": nil,
			"num": json.Number("42"), "bytes": []byte(s(8)), "t": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			"list": []any{s(9), 3.0, map[string]any{s(10): s(11)}, []any{}},
			"strs": []string{s(12), s(13)}, "smap": map[string]string{s(14): s(15)},
			"struct": stringer{s(16), s(17)}, "typed": []int{1, 2}, "nilmap": map[string]any(nil),
		},
	}
	if variant%4 != 0 {
		req.Token = &logical.TokenInfo{Accessor: s(18), DisplayName: s(19), Policies: []string{s(20), "default"},
			Metadata: map[string]string{s(21): s(22), "repo": "a/b"}, EntityID: s(23)}
		req.Connection = &logical.Connection{RemoteAddr: s(24)}
		req.Headers = http.Header{"X-Forwarded-For": {s(25), "198.51.100.1"}}
	}
	if variant%4 == 1 {
		// Readable keys at the top, inside lists and inside nested maps.
		req.MountConfig.AuditNonHMACRequestKeys = []string{s(6), "n", "i64", "list", "strs", s(14), "struct", "bytes", s(10)}
		req.MountConfig.AuditNonHMACResponseKeys = []string{"keys", "x"}
	}
	if variant%5 == 0 {
		req.Data = nil
		req.Operation = logical.ListOperation
	}
	resp := &logical.Response{
		Data:     map[string]any{"keys": []string{s(26), s(27)}, s(28): map[string]any{"x": s(29)}, "m": map[string]any{}},
		Warnings: []string{s(30)},
		Status:   []int{0, 200, 404}[variant%3],
	}
	if variant%3 == 1 {
		resp.Raw = []byte(s(31))
		resp.Secret = &logical.Secret{LeaseID: s(32), TTL: time.Hour, Renewable: variant%2 == 0}
		resp.Auth = &logical.Auth{ClientToken: s(33), Accessor: s(34), DisplayName: s(35), Policies: []string{s(36)},
			Metadata: map[string]string{"k": s(37)}, EntityID: s(38), TTL: time.Duration(variant) * time.Second}
		resp.WrapInfo = &logical.WrapInfo{Token: s(39), Accessor: s(40), TTL: time.Minute, CreationPath: s(41), WrappedAccessor: s(42)}
	}
	if variant%7 == 3 {
		resp = nil
	}
	if variant%6 == 2 {
		resp = &logical.Response{}
	}
	var authErr, respErr error
	if variant%8 == 5 {
		authErr = logical.ErrPermissionDenied
		respErr = logical.Errorf(http.StatusBadRequest, "bad %s", s(43))
	}
	if variant%9 == 4 {
		respErr = errors.New(s(44))
	}
	return req, resp, authErr, respErr
}

func checkEncoding(t *testing.T, ss []string, variant int) {
	t.Helper()
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	ts := appendTime(nil, now)
	req, resp, authErr, respErr := entryCase(ss, variant)
	for _, opts := range []deviceConfig{
		{hmacAccessor: true},
		{hmacAccessor: false, elideListResponses: true},
		{hmacAccessor: true, logRaw: true},
	} {
		d := &device{h: newHasher(bytes.Repeat([]byte{7}, 32), opts.logRaw),
			eo: entryOptions{hmacAccessor: opts.hmacAccessor, elideListResponses: opts.elideListResponses}}
		want, err := json.Marshal(refRequestEntry(now, d.h, d.eo, req, authErr))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.appendRequestEntry(nil, ts, req, authErr); !bytes.Equal(got, want) {
			t.Fatalf("request entry (variant %d, %+v):\n got %s\nwant %s", variant, opts, got, want)
		}
		want, err = json.Marshal(refResponseEntry(now, d.h, d.eo, req, resp, respErr))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.appendResponseEntry(nil, ts, req, resp, respErr); !bytes.Equal(got, want) {
			t.Fatalf("response entry (variant %d, %+v):\n got %s\nwant %s", variant, opts, got, want)
		}
	}
}

// TestEncoderMatchesEncodingJSON pins the append encoder to encoding/json's
// output over every optional member and escaping case.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		ss   []string
	}{
		{"empty strings", nil},
		{"plain", []string{"alpha", "beta", "gamma"}},
		{"escapes", []string{"a\"b\\c", "<script>&</script>", "\n\r\t\b\f\x00\x1f\x7f", "\u2028\u2029", "é日本\U0001F600"}},
		{"invalid utf8", []string{"\xff", "a\xc3", "\xed\xa0\x80", "ok"}},
		{"long", []string{strings.Repeat("a", maxField+1), strings.Repeat("é", maxMessage), "b" + strings.Repeat("\x00", 3*maxField), strings.Repeat("\xff", maxField+7), "z", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for v := range 72 {
				checkEncoding(t, tt.ss, v)
			}
		})
	}
}

// Long keys sharing their first maxField bytes are ordered by their
// bounded form, as encoding/json orders the reference's keys.
func TestEncoderOrdersBoundedKeys(t *testing.T) {
	p := strings.Repeat("p", maxField)
	data := map[string]any{"a": "1", "q": "2"}
	smap := map[string]string{}
	meta := map[string]string{}
	for _, c := range "\x01abcdefghij" {
		data[p+string(c)] = "v"
		smap[p+string(c)] = "v"
		meta[p+string(c)] = "v"
	}
	data["smap"] = smap
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "x", Data: data, Token: &logical.TokenInfo{Metadata: meta}}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	d := &device{h: newHasher(bytes.Repeat([]byte{7}, 32), false), eo: entryOptions{hmacAccessor: true}}
	want, err := json.Marshal(refRequestEntry(now, d.h, d.eo, req, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.appendRequestEntry(nil, appendTime(nil, now), req, nil); !bytes.Equal(got, want) {
		t.Fatalf("request entry:\n got %s\nwant %s", got, want)
	}
}

// FuzzEncoder: for any strings, the append encoder writes what
// encoding/json writes for the same entry.
func FuzzEncoder(f *testing.F) {
	f.Add("a<b>&c", "\u2028x\xff", "tok", 3)
	f.Add("", "", "", 0)
	f.Add("k\x01", "v\"\\", "é", 13)
	f.Fuzz(func(t *testing.T, a, b, c string, variant int) {
		checkEncoding(t, []string{a, b, c, a + b, c + a}, int(uint(variant)%72))
	})
}

// TestCheckpointFormat pins the checkpoint line to the layout encoding/json
// gave it.
func TestCheckpointFormat(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body, err := json.Marshal(struct {
		Time       string     `json:"time"`
		Type       string     `json:"type"`
		Checkpoint Checkpoint `json:"checkpoint"`
	}{now.Format(time.RFC3339Nano), "checkpoint", Checkpoint{Reason: "interval"}})
	if err != nil {
		t.Fatal(err)
	}
	key := newTestKey()
	c := chain{seq: 4, prev: "ab"}
	got, next := c.appendCheckpoint([]byte("x"), now, "interval", "", key)
	prefix := string(body[:len(body)-1]) + `,"seq":5,"prev":"ab"`
	if !bytes.HasPrefix(got, []byte("x"+prefix+sigMarker)) || !bytes.HasSuffix(got, []byte("\"}\n")) {
		t.Fatalf("checkpoint = %s, want prefix %s", got, prefix)
	}
	line := got[1 : len(got)-1]
	if err := checkSignature(line, key.Public().(ed25519PublicKey)); err != nil {
		t.Errorf("checkSignature: %v", err)
	}
	if next.seq != 5 || next.prev != lineHash(line) {
		t.Errorf("next = %+v, want seq 5 and the line's hash", next)
	}
	if fmt.Sprint(c) == fmt.Sprint(next) {
		t.Error("appendCheckpoint advanced the receiver")
	}
}

type ed25519PublicKey = ed25519.PublicKey

func newTestKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)) }
