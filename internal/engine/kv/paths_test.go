package kv_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// Both versions answer an unknown path and a wrong operation one way each,
// tell create from update only where a write can create a secret, and
// document their fields.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		version string
		op      logical.Operation
		path    string
		want    error
	}{
		{"2", logical.ReadOperation, "nothing/x", logical.ErrUnsupportedPath},
		{"2", logical.ListOperation, "data/x", logical.ErrUnsupportedOperation},
		{"2", logical.UpdateOperation, "subkeys/x", logical.ErrUnsupportedOperation},
		{"2", logical.ReadOperation, "config/x", logical.ErrUnsupportedPath},
		{"1", logical.PatchOperation, "x", logical.ErrUnsupportedOperation},
	} {
		h := newHarness(t, tt.version)
		if _, err := h.do(tt.op, tt.path, ""); !errors.Is(err, tt.want) {
			t.Errorf("v%s %s %s: %v, want %v", tt.version, tt.op, tt.path, err, tt.want)
		}
	}
	h := newHarness(t, "2")
	if _, err := h.do(logical.UpdateOperation, "data/app", `{"data": {"k": "v"}}`); err != nil {
		t.Fatal(err)
	}
	ec := h.b.(logical.ExistenceChecker)
	for _, tt := range []struct {
		path          string
		found, exists bool
	}{
		{"data/app", true, true}, {"metadata/app", true, true}, {"data/new", true, false},
		{"data/app/", false, false}, {"data", false, false}, {"delete/app", false, false}, {"config", false, false},
	} {
		found, exists, err := ec.ExistenceCheck(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: tt.path, Storage: h.storage})
		if err != nil || found != tt.found || exists != tt.exists {
			t.Errorf("ExistenceCheck(%s) = %v %v %v, want %v %v", tt.path, found, exists, err, tt.found, tt.exists)
		}
	}
	for _, tt := range []struct {
		version, path string
		want          []string
	}{
		{"2", "data/app", []string{"data (map)", "options (map)", "version (int)"}},
		{"2", "metadata/app", []string{"max_versions (int)", "custom_metadata (keypair)", "delete_version_after (duration (sec))"}},
		{"2", "destroy/app", []string{"versions (slice)"}},
		{"2", "", []string{"subkeys/{path}", "versions of each secret"}},
		{"1", "app/db", []string{"path (string)", "ttl (duration (sec))"}},
	} {
		h := newHarness(t, tt.version)
		resp, err := h.b.(logical.Helper).Help(ctx, &logical.Request{Operation: logical.HelpOperation, Path: tt.path, MountPoint: "secret/"})
		if err != nil {
			t.Fatalf("help v%s %q: %v", tt.version, tt.path, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(resp.Raw), w) {
				t.Errorf("help v%s %q lacks %q", tt.version, tt.path, w)
			}
		}
	}
}
