package kv_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// fuzzEndpoints are the request bodies a client controls, by endpoint.
var fuzzEndpoints = []struct {
	version string
	op      logical.Operation
	path    string
}{
	{"2", update, "data/k"},
	{"2", patch, "data/k"},
	{"2", read, "data/k"},
	{"2", read, "subkeys/k"},
	{"2", update, "metadata/k"},
	{"2", patch, "metadata/k"},
	{"2", update, "delete/k"},
	{"2", update, "undelete/k"},
	{"2", update, "destroy/k"},
	{"2", update, "config"},
	{"1", update, "k"},
}

// FuzzRequestBody sends arbitrary JSON bodies to every endpoint. Properties:
// no panic; failures are client errors (4xx), never 500; no error or warning
// echoes a string value of the body; a successful data write reads back
// exactly as sent.
func FuzzRequestBody(f *testing.F) {
	seeds := []string{
		`{"data":{"a":"b"}}`,
		`{"data":{"a":{"b":[1,2.5,null,true]}},"options":{"cas":1}}`,
		`{"data":"secret-value"}`,
		`{"data":{"a":null},"options":{"cas":"x"}}`,
		`{"options":"secret-value"}`,
		`{"version":"2","depth":"1"}`,
		`{"versions":[1,"2",3.0]}`,
		`{"versions":"1,2"}`,
		`{"max_versions":3,"cas_required":"true","delete_version_after":"1h","custom_metadata":{"a":"b","c":null}}`,
		`{"custom_metadata":"a=b,c"}`,
		`{"ttl":"1h","pw":"x"}`,
		`{"data":{"n":1e400}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		ep := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		h := newHarness(t, ep.version)
		if ep.version == "2" {
			h.must(create, "data/k", `{"data":{"a":"b","n":{"m":1}}}`)
			h.must(update, "data/k", `{"data":{"a":"c"}}`)
		}
		resp, err := h.doData(ep.op, ep.path, data)
		var msgs []string
		if err != nil {
			if code := statusOf(err); code < 400 || code >= 500 {
				t.Fatalf("%s %s %s: status %d: %v", ep.op, ep.path, raw, code, err)
			}
			msgs = append(msgs, err.Error())
		}
		if resp != nil {
			msgs = append(msgs, resp.Warnings...)
		}
		keys, values := map[string]bool{}, map[string]bool{}
		collectStrings(data, keys, values)
		for _, m := range msgs {
			for v := range values {
				if len(v) >= 4 && !keys[v] && strings.Contains(m, v) && !strings.Contains(fieldWords, v) {
					t.Fatalf("message %q echoes value %q", m, v)
				}
			}
		}
		if err == nil && ep.op == update && ep.path == "data/k" {
			got := compact(t, h.read("k", 0).Data["data"])
			if want := compact(t, data["data"]); got != want {
				t.Fatalf("read back %s, want %s", got, want)
			}
		}
	})
}

// fieldWords are words our messages contain anyway; a value equal to a
// substring of them proves nothing.
const fieldWords = `field "data" "options" "options.cas" "version" "versions" "depth" "max_versions" "cas_required" "delete_version_after" "custom_metadata" "ttl" "lease" expected a JSON object non-negative integer list of positive version numbers map of strings duration like "30m" or a number of seconds boolean keys values must be printable at most characters allowed no data provided no version number provided check-and-set parameter did not match the current version required for this call no current version of the secret to patch no metadata found at path missing data fields endpoint ignored these unrecognized parameters value cannot be encoded as unknown field fields did you mean`

func collectStrings(v any, keys, values map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			keys[k] = true
			collectStrings(e, keys, values)
		}
	case []any:
		for _, e := range t {
			collectStrings(e, keys, values)
		}
	case string:
		values[t] = true
	case json.Number:
		values[t.String()] = true
	}
}
