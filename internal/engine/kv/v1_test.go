package kv_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

func TestV1CRUD(t *testing.T) {
	h := newHarness(t, "1")
	if resp := h.must(create, "app/db", `{"user":"admin","port":5432,"nested":{"a":true}}`); resp != nil {
		t.Errorf("write = %+v, want nil (204)", resp)
	}
	resp := h.must(read, "app/db", "")
	if got, want := compact(t, resp.Data), `{"nested":{"a":true},"port":5432,"user":"admin"}`; got != want {
		t.Errorf("read = %s, want %s", got, want)
	}
	if resp.Secret != nil {
		t.Errorf("secret without ttl or mount default = %+v, want nil", resp.Secret)
	}
	h.must(update, "app/db", `{"user":"other"}`)
	if got := compact(t, h.must(read, "app/db", "").Data); got != `{"user":"other"}` {
		t.Errorf("after update read = %s", got)
	}
	h.must(create, "app/cache", `{"k":"v"}`)
	h.must(create, "top", `{"k":"v"}`)

	lists := []struct {
		path string
		want []string
	}{
		{path: "", want: []string{"app/", "top"}},
		{path: "app/", want: []string{"cache", "db"}},
		{path: "app", want: []string{"cache", "db"}},
		{path: "nothing/", want: nil},
	}
	for _, tt := range lists {
		t.Run("list "+tt.path, func(t *testing.T) {
			resp := h.must(list, tt.path, "")
			if tt.want == nil {
				if resp != nil {
					t.Errorf("list = %+v, want nil", resp)
				}
				return
			}
			if got := resp.Data["keys"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("list %q = %v, want %v", tt.path, got, tt.want)
			}
		})
	}

	h.must(del, "app/db", "")
	if resp := h.must(read, "app/db", ""); resp != nil {
		t.Errorf("read after delete = %+v, want nil", resp)
	}
	if resp := h.must(del, "app/db", ""); resp != nil {
		t.Errorf("second delete = %+v", resp)
	}

	h.fails(create, "empty", `{}`, 400)
	h.fails(create, "dir/", `{"k":"v"}`, 400)
	h.fails(create, "", `{"k":"v"}`, 400)
	h.fails(patch, "app/cache", `{"k":"v"}`, 405)
}

func TestV1TTL(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		mountTTL  time.Duration
		wantTTL   time.Duration
		wantNoTTL bool
	}{
		{name: "ttl string", body: `{"k":"v","ttl":"1h"}`, wantTTL: time.Hour},
		{name: "ttl seconds", body: `{"k":"v","ttl":90}`, wantTTL: 90 * time.Second},
		{name: "legacy lease", body: `{"k":"v","lease":"30m"}`, wantTTL: 30 * time.Minute},
		{name: "mount default", body: `{"k":"v"}`, mountTTL: 768 * time.Hour, wantTTL: 768 * time.Hour},
		{name: "ttl beats default", body: `{"k":"v","ttl":"2h"}`, mountTTL: 768 * time.Hour, wantTTL: 2 * time.Hour},
		{name: "none", body: `{"k":"v"}`, wantNoTTL: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.mount = logical.MountConfig{DefaultLeaseTTL: tt.mountTTL}
			h.must(create, "k", tt.body)
			resp := h.must(read, "k", "")
			if tt.wantNoTTL {
				if resp.Secret != nil {
					t.Errorf("Secret = %+v, want nil", resp.Secret)
				}
				return
			}
			if resp.Secret == nil || resp.Secret.TTL != tt.wantTTL || resp.Secret.LeaseID != "" || resp.Secret.Renewable {
				t.Errorf("Secret = %+v, want TTL %v, no lease id, not renewable", resp.Secret, tt.wantTTL)
			}
			if got := compact(t, resp.Data); got != compact(t, body(t, tt.body)) {
				t.Errorf("data = %s, want the stored object", got)
			}
		})
	}
	h := newHarness(t, "1")
	h.fails(create, "k", `{"k":"v","ttl":"forever"}`, 400)
	h.fails(create, "k", `{"k":"v","ttl":-5}`, 400)
}

func TestV1ExistenceCheck(t *testing.T) {
	h := newHarness(t, "1")
	h.must(create, "there", `{"k":"v"}`)
	ec := h.b.(logical.ExistenceChecker)
	for path, want := range map[string]bool{"there": true, "absent": false} {
		found, exists, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: update, Path: path, Storage: h.storage})
		if err != nil || !found || exists != want {
			t.Errorf("ExistenceCheck(%s) = %v, %v, %v; want true, %v", path, found, exists, err, want)
		}
	}
}
