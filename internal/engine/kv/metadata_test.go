package kv_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
)

func TestV2Config(t *testing.T) {
	h := newHarness(t, "2")
	want := map[string]any{"max_versions": 0, "cas_required": false, "delete_version_after": "0s"}
	if got := h.must(read, "config", "").Data; !reflect.DeepEqual(got, want) {
		t.Errorf("default config = %v, want %v", got, want)
	}
	h.must(update, "config", `{"max_versions":5,"delete_version_after":"3h"}`)
	h.must(update, "config", `{"cas_required":true}`)
	want = map[string]any{"max_versions": 5, "cas_required": true, "delete_version_after": "3h0m0s"}
	if got := h.must(read, "config", "").Data; !reflect.DeepEqual(got, want) {
		t.Errorf("config = %v, want %v", got, want)
	}
	h.fails(update, "config", `{"max_versions":-1}`, 400)
	h.fails(update, "config", `{"cas_required":"maybe"}`, 400)
	if resp := h.must(update, "config", `{"max_version":3}`); resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "max_version") {
		t.Errorf("unknown field response = %+v, want a warning naming it", resp)
	}
	if _, err := h.do(del, "config", ""); !errors.Is(err, logical.ErrUnsupportedOperation) {
		t.Errorf("delete config: %v, want ErrUnsupportedOperation", err)
	}
}

func TestV2Metadata(t *testing.T) {
	h := newHarness(t, "2")
	created := h.clock.Now().Format(time.RFC3339Nano)
	if resp := h.must(create, "metadata/app", `{"max_versions":4,"cas_required":false,"delete_version_after":"1h","custom_metadata":{"owner":"team-a","tier":"1"}}`); resp != nil {
		t.Errorf("metadata write = %+v, want nil", resp)
	}
	h.clock.Add(time.Minute)
	updated := h.clock.Now().Format(time.RFC3339Nano)
	h.must(update, "data/app", `{"data":{"k":"v"}}`)

	got := h.must(read, "metadata/app", "").Data
	want := map[string]any{
		"cas_required":         false,
		"created_time":         created,
		"current_version":      1,
		"custom_metadata":      map[string]string{"owner": "team-a", "tier": "1"},
		"delete_version_after": "1h0m0s",
		"max_versions":         4,
		"oldest_version":       0,
		"updated_time":         updated,
		"versions": map[string]any{"1": map[string]any{
			"created_time":  updated,
			"deletion_time": h.clock.Now().Add(time.Hour).Format(time.RFC3339Nano),
			"destroyed":     false,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metadata read =\n%#v\nwant\n%#v", got, want)
	}
	if cm := versionMeta(t, h.read("app", 0))["custom_metadata"]; !reflect.DeepEqual(cm, want["custom_metadata"]) {
		t.Errorf("data read custom_metadata = %v", cm)
	}

	steps := []struct {
		name   string
		op     logical.Operation
		body   string
		status int
		custom any
		maxV   int
	}{
		{name: "patch merges and removes", op: patch, body: `{"custom_metadata":{"tier":null,"env":"prod"}}`, custom: map[string]string{"owner": "team-a", "env": "prod"}, maxV: 4},
		{name: "patch other field keeps custom", op: patch, body: `{"max_versions":7}`, custom: map[string]string{"owner": "team-a", "env": "prod"}, maxV: 7},
		{name: "post replaces custom", op: update, body: `{"custom_metadata":{"only":"this"}}`, custom: map[string]string{"only": "this"}, maxV: 7},
		{name: "post empty custom clears", op: update, body: `{"custom_metadata":{}}`, custom: nil, maxV: 7},
		{name: "too many keys", op: update, body: manyKeys(65), status: 400, custom: nil, maxV: 7},
		{name: "64 keys ok", op: update, body: manyKeys(64), custom: "64", maxV: 7},
		{name: "long key", op: update, body: `{"custom_metadata":{"` + strings.Repeat("k", 129) + `":"v"}}`, status: 400, custom: "64", maxV: 7},
		{name: "long value", op: patch, body: `{"custom_metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, status: 400, custom: "64", maxV: 7},
		{name: "non-string value", op: update, body: `{"custom_metadata":{"k":1}}`, status: 400, custom: "64", maxV: 7},
		{name: "null in post", op: update, body: `{"custom_metadata":{"k":null}}`, status: 400, custom: "64", maxV: 7},
		{name: "kv pairs string", op: update, body: `{"custom_metadata":"a=1,b=2"}`, custom: map[string]string{"a": "1", "b": "2"}, maxV: 7},
		{name: "bad max_versions", op: update, body: `{"max_versions":"lots"}`, status: 400, custom: map[string]string{"a": "1", "b": "2"}, maxV: 7},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.status != 0 {
				h.fails(st.op, "metadata/app", st.body, st.status)
			} else {
				h.must(st.op, "metadata/app", st.body)
			}
			got := h.must(read, "metadata/app", "").Data
			if st.custom == "64" {
				if n := len(got["custom_metadata"].(map[string]string)); n != 64 {
					t.Errorf("custom_metadata has %d keys, want 64", n)
				}
			} else if !reflect.DeepEqual(got["custom_metadata"], st.custom) {
				t.Errorf("custom_metadata = %#v, want %#v", got["custom_metadata"], st.custom)
			}
			if got["max_versions"] != st.maxV {
				t.Errorf("max_versions = %v, want %d", got["max_versions"], st.maxV)
			}
		})
	}

	h.fails(patch, "metadata/missing", `{"max_versions":1}`, 404)
	if resp := h.must(read, "metadata/missing", ""); resp != nil {
		t.Errorf("read missing metadata = %+v, want nil", resp)
	}

	// Metadata-only secret: no version to read yet.
	h.must(create, "metadata/empty", `{"max_versions":1}`)
	if resp := h.read("empty", 0); resp != nil {
		t.Errorf("read of metadata-only secret = %+v, want nil", resp)
	}
	if v := h.must(read, "metadata/empty", "").Data["current_version"]; v != 0 {
		t.Errorf("current_version = %v, want 0", v)
	}

	// Delete removes every version and the metadata.
	h.must(update, "data/app", `{"data":{"k":"v2"}}`)
	h.must(del, "metadata/app", "")
	if resp := h.must(read, "metadata/app", ""); resp != nil {
		t.Errorf("metadata after delete = %+v", resp)
	}
	for v := 1; v <= 2; v++ {
		if blob, _ := h.inmem.Get(t.Context(), kv.VersionKey("app", v)); blob != nil {
			t.Errorf("version %d blob survived metadata delete", v)
		}
	}
	w := h.must(create, "data/app", `{"data":{"fresh":"yes"},"options":{"cas":0}}`)
	if w.Data["version"] != 1 {
		t.Errorf("recreated secret version = %v, want 1", w.Data["version"])
	}
}

func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"key%d":"v"`, i)
	}
	return `{"custom_metadata":{` + strings.Join(parts, ",") + `}}`
}

func TestV2List(t *testing.T) {
	h := newHarness(t, "2")
	if resp := h.must(list, "metadata/", ""); resp != nil {
		t.Errorf("list of empty mount = %+v, want nil (404)", resp)
	}
	for _, p := range []string{"a", "dir/x", "dir/y", "dir/sub/z", "dir", "ünï cødé/k"} {
		h.must(create, "data/"+p, `{"data":{"v":"1"}}`)
	}
	h.must(create, "metadata/meta-only", `{}`)
	tests := []struct {
		path string
		want []string
	}{
		{path: "metadata/", want: []string{"a", "dir", "dir/", "meta-only", "ünï cødé/"}},
		{path: "metadata", want: []string{"a", "dir", "dir/", "meta-only", "ünï cødé/"}},
		{path: "metadata/dir/", want: []string{"sub/", "x", "y"}},
		{path: "metadata/dir", want: []string{"sub/", "x", "y"}},
		{path: "metadata/dir/sub/", want: []string{"z"}},
		{path: "metadata/nothing/", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := h.must(list, tt.path, "")
			if tt.want == nil {
				if resp != nil {
					t.Errorf("list %s = %+v, want nil", tt.path, resp)
				}
				return
			}
			if got := resp.Data["keys"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("list %s = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
	h.must(del, "metadata/dir/sub/z", "")
	if keys := h.must(list, "metadata/dir/", "").Data["keys"]; !reflect.DeepEqual(keys, []string{"x", "y"}) {
		t.Errorf("after delete, keys = %v", keys)
	}
	for _, p := range []string{"data/", "data/dir/", "config", "delete/dir/"} {
		if _, err := h.do(list, p, ""); !errors.Is(err, logical.ErrUnsupportedOperation) {
			t.Errorf("list %s: %v, want ErrUnsupportedOperation", p, err)
		}
	}
}
