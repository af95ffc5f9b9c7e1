package kv_test

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// TestTypeConfusion is T05: a secret sent in the wrong place is rejected
// with a 400 naming the field, and the value never appears in the error.
func TestTypeConfusion(t *testing.T) {
	const canary = "CANARY"
	tests := []struct {
		name    string
		version string
		op      logical.Operation
		path    string
		body    string
		field   string // must appear in the message; "" for a 200
	}{
		{name: "data string", op: update, path: "data/k", body: `{"data":"CANARY"}`, field: `"data"`},
		{name: "data list", op: update, path: "data/k", body: `{"data":["CANARY"]}`, field: `"data"`},
		{name: "data number", op: update, path: "data/k", body: `{"data":12345}`, field: `"data"`},
		{name: "nested data accepted", op: update, path: "data/k", body: `{"data":{"pw":{"x":"CANARY"}}}`},
		{name: "cas string", op: update, path: "data/k", body: `{"data":{"a":"b"},"options":{"cas":"CANARY"}}`, field: `"options.cas"`},
		{name: "cas object", op: update, path: "data/k", body: `{"data":{"a":"b"},"options":{"cas":{"x":"CANARY"}}}`, field: `"options.cas"`},
		{name: "options string", op: update, path: "data/k", body: `{"data":{"a":"b"},"options":"CANARY"}`, field: `"options"`},
		{name: "patch data string", op: patch, path: "data/k", body: `{"data":"CANARY"}`, field: `"data"`},
		{name: "patch cas string", op: patch, path: "data/k", body: `{"data":{"a":"b"},"options":{"cas":"CANARY"}}`, field: `"options.cas"`},
		{name: "version", op: read, path: "data/k", body: `{"version":"CANARY"}`, field: `"version"`},
		{name: "depth", op: read, path: "subkeys/k", body: `{"depth":"CANARY"}`, field: `"depth"`},
		{name: "versions string", op: update, path: "destroy/k", body: `{"versions":"CANARY"}`, field: `"versions"`},
		{name: "versions list", op: update, path: "delete/k", body: `{"versions":[1,"CANARY"]}`, field: `"versions"`},
		{name: "versions object", op: update, path: "undelete/k", body: `{"versions":{"CANARY":1}}`, field: `"versions"`},
		{name: "max_versions", op: update, path: "metadata/k", body: `{"max_versions":"CANARY"}`, field: `"max_versions"`},
		{name: "cas_required", op: update, path: "metadata/k", body: `{"cas_required":"CANARY"}`, field: `"cas_required"`},
		{name: "delete_version_after", op: patch, path: "metadata/k", body: `{"delete_version_after":"CANARY"}`, field: `"delete_version_after"`},
		{name: "custom_metadata string", op: update, path: "metadata/k", body: `{"custom_metadata":"CANARY"}`, field: `"custom_metadata"`},
		{name: "custom_metadata nested", op: update, path: "metadata/k", body: `{"custom_metadata":{"k":{"x":"CANARY"}}}`, field: `"custom_metadata"`},
		{name: "custom_metadata long value", op: update, path: "metadata/k", body: `{"custom_metadata":{"k":"` + strings.Repeat("CANARY", 100) + `"}}`, field: `"custom_metadata"`},
		{name: "custom_metadata unprintable", op: patch, path: "metadata/k", body: `{"custom_metadata":{"k":"CANARY\u0000"}}`, field: `"custom_metadata"`},
		{name: "config max_versions", op: update, path: "config", body: `{"max_versions":"CANARY"}`, field: `"max_versions"`},
		{name: "config delete_version_after", op: update, path: "config", body: `{"delete_version_after":"CANARY"}`, field: `"delete_version_after"`},
		{name: "v1 ttl", version: "1", op: update, path: "k", body: `{"pw":"x","ttl":"CANARY"}`, field: `"ttl"`},
		{name: "v1 lease", version: "1", op: update, path: "k", body: `{"pw":"x","lease":{"CANARY":1}}`, field: `"lease"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version := tt.version
			if version == "" {
				version = "2"
			}
			h := newHarness(t, version)
			if version == "2" {
				h.must(create, "data/k", `{"data":{"a":"b"}}`)
			}
			resp, err := h.do(tt.op, tt.path, tt.body)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("%s: %v, want success", tt.body, err)
				}
				got := secretData(t, h.read("k", 0))
				if got != `{"pw":{"x":"CANARY"}}` {
					t.Errorf("nested data stored as %s", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s = %+v, want 400", tt.body, resp)
			}
			if statusOf(err) != 400 {
				t.Errorf("status %d, want 400 (err %q)", statusOf(err), err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name field %s", err, tt.field)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("message %q echoes the value", err)
			}
		})
	}
}

// TestCanarySweep plants random secret values in every field of every
// endpoint, valid and invalid, and checks that no error or warning ever
// carries one.
func TestCanarySweep(t *testing.T) {
	c := rand.Text()
	q := func(s string) string { return strings.ReplaceAll(s, "C", c) }
	v2 := []struct {
		op   logical.Operation
		path string
		body string
	}{
		{update, "data/k", q(`{"data":{"pw":"C"}}`)},
		{update, "data/k", q(`{"data":{"pw":"C"},"options":{"cas":0}}`)},
		{update, "data/k", q(`{"data":{"pw":"C"},"options":{"cas":99}}`)},
		{update, "data/k", q(`{"data":"C"}`)},
		{update, "data/k", q(`{"C":"C"}`)},
		{update, "data/k", q(`{"data":{"pw":"C"},"options":{"cas":"C"}}`)},
		{update, "data/k", q(`{"data":{"pw":"C"},"options":{"cas":["C"]}}`)},
		{update, "data/k", q(`{"data":{"pw":"C"},"options":"C"}`)},
		{patch, "data/k", q(`{"data":{"pw":null,"C":"C"},"options":{"cas":7}}`)},
		{patch, "data/absent", q(`{"data":{"pw":"C"}}`)},
		{read, "data/k", q(`{"version":"C"}`)},
		{read, "subkeys/k", q(`{"depth":"C","version":"C"}`)},
		{update, "delete/k", q(`{"versions":"C"}`)},
		{update, "undelete/k", q(`{"versions":["C"]}`)},
		{update, "destroy/k", q(`{"versions":{"a":"C"}}`)},
		{update, "metadata/k", q(`{"custom_metadata":{"owner":"C"},"max_versions":"C"}`)},
		{update, "metadata/k", q(`{"custom_metadata":{"owner":"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"}}`)},
		{update, "metadata/k", q(`{"custom_metadata":{"owner":"C","x":7}}`)},
		{update, "metadata/k", q(`{"delete_version_after":"C","cas_required":"C"}`)},
		{update, "metadata/k", q(`{"unknown":"C"}`)},
		{patch, "metadata/absent", q(`{"custom_metadata":{"a":"C"}}`)},
		{update, "config", q(`{"max_versions":"C","cas_required":"C","delete_version_after":"C","extra":"C"}`)},
		{update, "data/", q(`{"data":{"pw":"C"}}`)},
	}
	var messages []string
	h := newHarness(t, "2")
	h.must(create, "data/k", `{"data":{"pw":"seed"}}`)
	h.must(update, "config", `{"cas_required":true}`)
	for _, r := range v2 {
		resp, err := h.do(r.op, r.path, r.body)
		if err != nil {
			messages = append(messages, err.Error())
		}
		if resp != nil {
			messages = append(messages, resp.Warnings...)
		}
	}
	// A value that cannot be encoded (only possible in process).
	_, err := h.doData(update, "data/k", map[string]any{"data": map[string]any{"pw": json.Number(c)}, "options": map[string]any{"cas": 1}})
	if err == nil {
		t.Error("invalid json.Number was accepted")
	} else {
		messages = append(messages, err.Error())
	}

	v1 := newHarness(t, "1")
	for _, b := range []string{q(`{"pw":"C","ttl":"C"}`), q(`{"pw":"C","lease":"C"}`)} {
		if _, err := v1.do(update, "k", b); err != nil {
			messages = append(messages, err.Error())
		}
	}
	if _, err := v1.doData(update, "k", map[string]any{"pw": json.Number(c)}); err != nil {
		messages = append(messages, err.Error())
	}

	if len(messages) < 20 {
		t.Fatalf("only %d messages collected; the sweep is not exercising errors", len(messages))
	}
	for _, m := range messages {
		if strings.Contains(m, c) {
			t.Errorf("message leaks a planted value: %q", m)
		}
	}
}

// TestCorruptRecordErrors checks that corrupt stored records produce
// errors that do not echo the stored bytes.
func TestCorruptRecordErrors(t *testing.T) {
	c := rand.Text()
	h := newHarness(t, "2")
	h.must(create, "data/k", `{"data":{"a":"b"}}`)
	ctx := t.Context()
	if err := h.inmem.Put(ctx, "meta/k", []byte(`{"v":"`+c)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"data/k", "metadata/k", "subkeys/k"} {
		_, err := h.do(read, path, "")
		if err == nil || strings.Contains(err.Error(), c) {
			t.Errorf("read %s of corrupt metadata: %v", path, err)
		}
	}
	v1 := newHarness(t, "1")
	if err := v1.inmem.Put(ctx, "k", []byte(c)); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.do(read, "k", ""); err == nil || strings.Contains(err.Error(), c) {
		t.Errorf("v1 read of corrupt record: %v", err)
	}
}
