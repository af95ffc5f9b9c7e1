package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
)

// entriesOf reads the request and response entries of an audit file.
func entriesOf(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %s: %v", sc.Bytes(), err)
		}
		if e["type"] == "request" || e["type"] == "response" {
			out = append(out, e)
		}
	}
	return out
}

// A mount's audit_non_hmac_*_keys leave the values under those keys
// readable, at any depth (the nearest key decides, as in Vault: inside a
// list the list's key, inside a map the map's own keys), and hash
// everything else.
func TestNonHMACKeys(t *testing.T) {
	b := newBroker(t, audit.Options{})
	p := logPath(t)
	b.enable(t, "f", "file", map[string]string{"file_path": p})
	hash := func(s string) string {
		resp, err := b.sys(t, logical.UpdateOperation, "audit-hash/f", map[string]any{"input": s})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Data["hash"].(string)
	}
	req := &logical.Request{
		ID: "r1", Operation: logical.UpdateOperation, Path: "secret/data/app", ClientToken: sensitive.NewString("kw.s.canary-token"),
		Data: map[string]any{
			"user":     "alice",
			"password": "canary-password",
			"ttl":      json.Number("30"),
			"roles":    []any{"dev", "ops"},
			"nested":   map[string]any{"user": "bob", "password": "canary-nested", "roles": []string{"x"}},
			"tags":     map[string]string{"user": "carol", "secret": "canary-tag"},
		},
		MountConfig: logical.MountConfig{
			AuditNonHMACRequestKeys:  []string{"user", "ttl", "roles"},
			AuditNonHMACResponseKeys: []string{"version"},
		},
	}
	resp := &logical.Response{Data: map[string]any{"version": 3, "value": "canary-value"}}
	if err := b.LogRequest(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.LogResponse(context.Background(), req, resp, nil); err != nil {
		t.Fatal(err)
	}
	entries := entriesOf(t, p)
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	wantReq := map[string]any{
		"user":     "alice",
		"password": hash("canary-password"),
		"ttl":      float64(30),
		"roles":    []any{"dev", "ops"},
		"nested":   map[string]any{"user": "bob", "password": hash("canary-nested"), "roles": []any{"x"}},
		"tags":     map[string]any{"user": "carol", "secret": hash("canary-tag")},
	}
	for _, e := range entries {
		got := e["request"].(map[string]any)["data"]
		if diff := cmp.Diff(wantReq, got); diff != "" {
			t.Errorf("%s entry request data (-want +got):\n%s", e["type"], diff)
		}
	}
	wantResp := map[string]any{"version": float64(3), "value": hash("canary-value")}
	if diff := cmp.Diff(wantResp, entries[1]["response"].(map[string]any)["data"]); diff != "" {
		t.Errorf("response data (-want +got):\n%s", diff)
	}
	raw, _ := os.ReadFile(p)
	if bytes.Contains(raw, []byte("canary")) {
		t.Errorf("a value outside the readable keys reached the log: %s", raw)
	}
}

// Through the Vault client: tuning a mount's audit_non_hmac_*_keys takes
// effect on that mount's entries only.
func TestNonHMACKeysTuned(t *testing.T) {
	n := nodetest.Start(t)
	vc := n.Client(t)
	p := logPath(t)
	if err := vc.Sys().EnableAuditWithOptions("f", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": p}}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Sys().Mount("other", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	err := vc.Sys().TuneMountAllowNil("secret", vault.TuneMountConfigInput{
		AuditNonHMACRequestKeys:  &[]string{"team"},
		AuditNonHMACResponseKeys: &[]string{"version"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if mc, err := vc.Sys().MountConfig("secret"); err != nil || !slices.Equal(mc.AuditNonHMACRequestKeys, []string{"team"}) {
		t.Fatalf("MountConfig(secret) = %+v, %v", mc, err)
	}
	for _, mount := range []string{"secret", "other"} {
		if _, err := vc.Logical().Write(mount+"/data/app", map[string]any{"data": map[string]any{"team": "blue", "password": "canary-" + mount}}); err != nil {
			t.Fatal(err)
		}
	}
	var tunedReq, tunedResp, otherReq bool
	for _, e := range entriesOf(t, p) {
		r := e["request"].(map[string]any)
		switch {
		case r["path"] == "secret/data/app" && e["type"] == "request":
			d := r["data"].(map[string]any)["data"].(map[string]any)
			tunedReq = d["team"] == "blue" && strings.HasPrefix(d["password"].(string), audit.HMACPrefix)
		case r["path"] == "secret/data/app":
			d := e["response"].(map[string]any)["data"].(map[string]any)
			tunedResp = d["version"] == float64(1) && strings.HasPrefix(d["created_time"].(string), audit.HMACPrefix)
		case r["path"] == "other/data/app" && e["type"] == "request":
			d := r["data"].(map[string]any)["data"].(map[string]any)
			otherReq = strings.HasPrefix(d["team"].(string), audit.HMACPrefix)
		}
	}
	if !tunedReq || !tunedResp || !otherReq {
		raw, _ := os.ReadFile(p)
		t.Errorf("readable team on secret/: %v, readable version on secret/: %v, hashed team on other/: %v\n%s", tunedReq, tunedResp, otherReq, raw)
	}
	if raw, _ := os.ReadFile(p); bytes.Contains(raw, []byte("canary-")) {
		t.Errorf("a password reached the log")
	}
}
