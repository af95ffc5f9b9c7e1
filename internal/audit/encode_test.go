package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// The reference below is the entry builder the append encoder replaced:
// Entry values marshalled with encoding/json, with readable strings and
// the data bounded as bound.go says. The encoder must produce the same
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

// refKeys returns the keys of m an object shows, as [bounded, raw] pairs in
// the order encoding/json sorts them, and the raw keys left out, in the
// same order. take says how many may be shown; "…" never is.
func refKeys[V any](m map[string]V, take func(int) int) (show [][2]string, omitted []string) {
	byShown := map[string]string{}
	for k := range m {
		byShown[fb(k)] = k
	}
	names := slices.Sorted(maps.Keys(byShown))
	eligible := len(names)
	if _, ok := byShown[moreKey]; ok {
		eligible--
	}
	n := take(eligible)
	for _, s := range names {
		if s != moreKey && len(show) < n {
			show = append(show, [2]string{s, byShown[s]})
			continue
		}
		omitted = append(omitted, byShown[s])
	}
	return show, omitted
}

// fbm is the readable token metadata: at most maxObjectKeys keys.
func fbm(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	show, omitted := refKeys(m, func(n int) int { return min(n, maxObjectKeys) })
	out := make(map[string]string, len(m))
	for _, p := range show {
		out[p[0]] = fb(m[p[1]])
	}
	if len(omitted) > 0 {
		out[moreKey] = moreKeys(omitted, len(show))
	}
	return out
}

// ref builds one entry: left is what its data may still show.
type ref struct {
	h    *hasher
	left int
}

func (r *ref) take(limit int) func(int) int {
	return func(want int) int {
		n := min(want, limit, r.left)
		r.left -= n
		return n
	}
}

func (r *ref) str(s string) string {
	if s == "" || r.h.raw {
		return s
	}
	return r.h.Hash(s)
}

// strAs is str, or s readable and bounded when clear.
func (r *ref) strAs(s string, clear bool) string {
	if clear && !r.h.raw {
		return fb(s)
	}
	return r.str(s)
}

// data returns a copy of m with every string and number replaced by its
// HMAC, recursively, bounded, except values whose nearest key is in plain.
func (r *ref) data(m map[string]any, plain []string) map[string]any {
	if m == nil {
		return nil
	}
	show, omitted := refKeys(m, r.take(maxObjectKeys))
	out := make(map[string]any, len(show)+1)
	for _, p := range show {
		out[p[0]] = r.value(m[p[1]], plain, isPlain(plain, p[1]))
	}
	if len(omitted) > 0 {
		out[moreKey] = moreKeys(omitted, len(show))
	}
	return out
}

func (r *ref) list(n int, value func(i int) any) []any {
	k := r.take(maxArrayValues)(n)
	out := make([]any, 0, k+1)
	for i := range k {
		out = append(out, value(i))
	}
	if k < n {
		out = append(out, moreValues(n-k))
	}
	return out
}

func (r *ref) value(v any, plain []string, clear bool) any {
	readable := clear && !r.h.raw
	switch x := v.(type) {
	case nil, bool:
		return x
	case string:
		return r.strAs(x, clear)
	case json.Number:
		if readable {
			if len(x) > maxField {
				return fb(string(x))
			}
			return x
		}
		return r.str(x.String())
	case float64:
		if readable {
			return x
		}
		return r.str(strconv.FormatFloat(x, 'f', -1, 64))
	case int:
		if readable {
			return x
		}
		return r.str(strconv.Itoa(x))
	case int64:
		if readable {
			return x
		}
		return r.str(strconv.FormatInt(x, 10))
	case []byte:
		return r.strAs(string(x), clear)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case map[string]any:
		return r.data(x, plain)
	case []any:
		return r.list(len(x), func(i int) any { return r.value(x[i], plain, clear) })
	case []string:
		return r.list(len(x), func(i int) any { return r.strAs(x[i], clear) })
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return r.data(m, plain)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return r.str(fmt.Sprintf("unencodable %T", v))
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return r.strAs(string(raw), clear)
	}
	return r.value(generic, plain, clear)
}

// elided replaces the values of a list response by their count, as Vault
// does with elide_list_responses.
func (r *ref) elided(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	show, omitted := refKeys(d, r.take(maxObjectKeys))
	out := make(map[string]any, len(show)+1)
	for _, p := range show {
		switch x := d[p[1]].(type) {
		case []string:
			out[p[0]] = len(x)
		case []any:
			out[p[0]] = len(x)
		case map[string]any:
			out[p[0]] = len(x)
		default:
			out[p[0]] = "elided"
		}
	}
	if len(omitted) > 0 {
		out[moreKey] = moreKeys(omitted, len(show))
	}
	return out
}

func newRef(h *hasher, summary bool) *ref {
	if summary {
		return &ref{h: h}
	}
	return &ref{h: h, left: maxMembers}
}

// refJSON marshals the entry build makes, and makes it again with its data
// summarised if it is longer than maxEntry.
func refJSON(t testing.TB, build func(summary bool) *Entry) []byte {
	t.Helper()
	raw, err := json.Marshal(build(false))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) <= maxEntry {
		return raw
	}
	raw, err = json.Marshal(build(true))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// refRequestEntry builds the request entry for req as device h sees it.
func refRequestEntry(now time.Time, h *hasher, o entryOptions, req *logical.Request, authErr error, summary bool) *Entry {
	e := &Entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "request"}
	e.Auth = refAuthOf(h, o, req)
	e.Request = refRequestOf(newRef(h, summary), req, authErr)
	if authErr != nil {
		_, msg, _ := logical.StatusOf(authErr)
		e.Error = mb(msg)
	}
	return e
}

// refResponseEntry builds the response entry.
func refResponseEntry(now time.Time, h *hasher, o entryOptions, req *logical.Request, resp *logical.Response, respErr error, summary bool) *Entry {
	rf := newRef(h, summary)
	e := &Entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "response"}
	e.Auth = refAuthOf(h, o, req)
	e.Request = refRequestOf(rf, req, respErr)
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
			r.Data = rf.elided(resp.Data)
		} else {
			r.Data = rf.data(resp.Data, req.MountConfig.AuditNonHMACResponseKeys)
		}
		if resp.Raw != nil {
			r.Raw = rf.str(string(resp.Raw))
			if summary && len(resp.Raw) > 0 {
				r.Raw = h.Hash(string(resp.Raw))
			}
		}
		if s := resp.Secret; s != nil {
			r.Secret = &Secret{LeaseID: fb(s.LeaseID), TTL: int64(s.TTL / time.Second), Renewable: s.Renewable}
		}
		if a := resp.Auth; a != nil {
			r.Auth = &RespAuth{
				ClientToken: rf.str(a.ClientToken.Reveal()),
				Accessor:    refAccessor(h, o, a.Accessor),
				DisplayName: fb(a.DisplayName),
				Policies:    fbs(boundedList(a.Policies, maxPolicies), maxField),
				Metadata:    fbm(a.Metadata),
				EntityID:    fb(a.EntityID),
				TTL:         int64(a.TTL / time.Second),
			}
		}
		if w := resp.WrapInfo; w != nil {
			r.WrapInfo = &WrapInfo{
				Token:           rf.str(w.Token),
				Accessor:        refAccessor(h, o, w.Accessor),
				TTL:             int64(w.TTL / time.Second),
				CreationPath:    fb(w.CreationPath),
				WrappedAccessor: refAccessor(h, o, w.WrappedAccessor),
			}
		}
		r.Warnings = fbs(boundedList(resp.Warnings, maxForwarded), maxMessage)
	}
	e.Response = r
	return e
}

func refAccessor(h *hasher, o entryOptions, a string) string {
	if o.hmacAccessor {
		return (&ref{h: h}).str(a)
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
		Policies:    fbs(boundedList(t.Policies, maxPolicies), maxField),
		Metadata:    fbm(t.Metadata),
		EntityID:    fb(t.EntityID),
	}
}

// refRequestOf is the request member; a request refused before any caller
// was authenticated (err set, no token, a path that needs one) shows only
// the summary of its data.
func refRequestOf(rf *ref, req *logical.Request, err error) *Request {
	data := rf
	if err != nil && req.Token == nil && !req.Unauthenticated {
		data = &ref{h: rf.h}
	}
	r := &Request{
		ID:             fb(req.ID),
		Operation:      fb(string(req.Operation)),
		Path:           fb(req.Path),
		MountType:      fb(req.MountType),
		MountAccessor:  fb(req.MountAccessor),
		ClientToken:    rf.str(req.ClientToken.Reveal()),
		WrapTTL:        int64(req.WrapTTL / time.Second),
		Data:           data.data(req.Data, req.MountConfig.AuditNonHMACRequestKeys),
		Unauthenticate: req.Unauthenticated,
	}
	if req.Connection != nil {
		r.RemoteAddress = fb(req.Connection.RemoteAddr)
	}
	if req.Headers != nil {
		r.XForwardedFor = fbs(boundedList(req.Headers.Values("X-Forwarded-For"), maxForwarded), maxField)
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
		ClientToken: sensitive.NewString(s(3)), MountType: s(4), MountAccessor: s(5),
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
		resp.Auth = &logical.Auth{ClientToken: sensitive.NewString(s(33)), Accessor: s(34), DisplayName: s(35), Policies: []string{s(36)},
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
	req, resp, authErr, respErr := entryCase(ss, variant)
	checkEntries(t, fmt.Sprint("variant ", variant), req, resp, authErr, respErr)
}

// checkEntries compares the encoder's request and response entries with
// the reference's, for each kind of device.
func checkEntries(t *testing.T, label string, req *logical.Request, resp *logical.Response, authErr, respErr error) {
	t.Helper()
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	ts := appendTime(nil, now)
	for _, opts := range []deviceConfig{
		{hmacAccessor: true},
		{hmacAccessor: false, elideListResponses: true},
		{hmacAccessor: true, logRaw: true},
	} {
		d := &device{h: newHasher(bytes.Repeat([]byte{7}, 32), opts.logRaw),
			eo: entryOptions{hmacAccessor: opts.hmacAccessor, elideListResponses: opts.elideListResponses}}
		want := refJSON(t, func(summary bool) *Entry { return refRequestEntry(now, d.h, d.eo, req, authErr, summary) })
		if got := d.appendRequestEntry(nil, ts, req, authErr); !bytes.Equal(got, want) {
			t.Fatalf("request entry (%s, %+v):\n got %s\nwant %s", label, opts, got, want)
		}
		want = refJSON(t, func(summary bool) *Entry { return refResponseEntry(now, d.h, d.eo, req, resp, respErr, summary) })
		if got := d.appendResponseEntry(nil, ts, req, resp, respErr); !bytes.Equal(got, want) {
			t.Fatalf("response entry (%s, %+v):\n got %s\nwant %s", label, opts, got, want)
		}
	}
}

// TestEncoderMatchesEncodingJSONWhenBounded: objects, arrays, metadata and
// lists over their bounds, an entry's member budget spent part way, the
// client's own "…" key, keys sorting after "…", refused anonymous
// requests and entries over maxEntry are written as the reference writes
// them.
func TestEncoderMatchesEncodingJSONWhenBounded(t *testing.T) {
	keys := func(n int, prefix string, v func(i int) any) map[string]any {
		m := make(map[string]any, n)
		for i := range n {
			m[prefix+strconv.Itoa(i)] = v(i)
		}
		return m
	}
	one := func(int) any { return "v" }
	strs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "s" + strconv.Itoa(i)
		}
		return out
	}
	smap := map[string]string{}
	for i := range 100 {
		smap["m"+strconv.Itoa(i)] = "v"
	}
	mixed := keys(100, "a", one)
	for k, v := range keys(100, "日", one) {
		mixed[k] = v
	}
	mixed["…"] = "client's own"
	mixed["\xff"] = "invalid"
	small := map[string]any{"…": "x", "a": "y", "日": "z"}
	nested := keys(20, "n", func(int) any { return keys(40, "k", func(int) any { return []any{"x", keys(3, "z", one)} }) })
	long := keys(200, strings.Repeat("l", 600), func(int) any { return strings.Repeat("v", 400) })
	big := &logical.Response{Data: keys(40, "r", func(int) any { return strings.Repeat("v", 10_000) }), Raw: bytes.Repeat([]byte("r"), 100_000)}
	token := &logical.TokenInfo{Accessor: "acc", Policies: strs(100), Metadata: smap}
	tests := []struct {
		name             string
		data             map[string]any
		token            *logical.TokenInfo
		unauth           bool
		resp             *logical.Response
		authErr, respErr error
	}{
		{"many keys", keys(100, "k", one), token, false, &logical.Response{Data: keys(100, "r", one)}, nil, nil},
		{"keys after …", mixed, token, false, nil, nil, nil},
		{"client's … shown range", small, token, false, &logical.Response{Data: small}, nil, nil},
		{"nested budget", nested, token, false, &logical.Response{Data: nested}, nil, nil},
		{"lists", map[string]any{"a": make([]any, 100), "s": strs(100), "m": smap, "st": stringer{"x", "y"}, "ty": make([]int, 100)}, token, false,
			&logical.Response{Data: map[string]any{"keys": strs(1000)}, Warnings: strs(40), Auth: &logical.Auth{Policies: strs(100), Metadata: smap}}, nil, nil},
		{"anonymous refusal", mixed, nil, false, nil, logical.ErrPermissionDenied, logical.ErrPermissionDenied},
		{"unauthenticated refusal", mixed, nil, true, nil, logical.ErrPermissionDenied, logical.ErrPermissionDenied},
		{"authenticated refusal", mixed, token, false, nil, logical.ErrPermissionDenied, logical.ErrPermissionDenied},
		{"long keys", long, token, false, &logical.Response{Data: long}, nil, nil},
		{"big response", nil, token, false, big, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []logical.Operation{logical.UpdateOperation, logical.ListOperation} {
				req := &logical.Request{ID: "r", Operation: op, Path: "p", ClientToken: sensitive.NewString("t"), Data: tt.data, Token: tt.token, Unauthenticated: tt.unauth}
				checkEntries(t, string(op), req, tt.resp, tt.authErr, tt.respErr)
			}
		})
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
	want := refJSON(t, func(summary bool) *Entry { return refRequestEntry(now, d.h, d.eo, req, nil, summary) })
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
