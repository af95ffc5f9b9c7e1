package core_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// startOn initializes and unseals a core over s and returns it with its
// root token and unseal shares.
func startOn(t *testing.T, s *faulty.Backend) (*core.Core, string, []sensitive.Bytes) {
	t.Helper()
	c, err := core.New(core.Config{Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	res, err := c.Initialize(context.Background(), core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(context.Background(), res.Shares); err != nil {
		t.Fatal(err)
	}
	return c, res.RootToken.Reveal(), res.Shares
}

func statusOf(err error) int {
	code, _, _ := logical.StatusOf(err)
	return code
}

// eventually polls cond until it holds or 20 s pass. It asserts an
// outcome, never a duration.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var upgradeSecrets = map[string]string{"a": "1", "dir/b": "2", "dir/sub/c": "3", "d": "4"}

func kvVersionOf(t *testing.T, c *core.Core, root string) string {
	t.Helper()
	info := mustCall(t, c, root, logical.ReadOperation, "sys/mounts/kv1", nil)
	return info.Data["options"].(map[string]string)["version"]
}

// checkKVv2 asserts every secret reads as version 1 through the v2 API.
func checkKVv2(t *testing.T, c *core.Core, root string) {
	t.Helper()
	for p, v := range upgradeSecrets {
		resp := mustCall(t, c, root, logical.ReadOperation, "kv1/data/"+p, nil)
		data, _ := resp.Data["data"].(map[string]any)
		md, _ := resp.Data["metadata"].(map[string]any)
		if data["v"] != v || md["version"] != 1 {
			t.Fatalf("kv1/data/%s = %v, want v=%s at version 1", p, resp.Data, v)
		}
	}
}

// The upgrade is interrupted by a failing disk after every few bytes of
// writes, from the first write on. Whatever the point, nothing is lost:
// either the mount stays version 1 with all its data, or it is version 2,
// answers 503 while unfinished, and a second tune or a restart finishes it.
func TestKVUpgradeSurvivesInterruptionAnywhere(t *testing.T) {
	for budget, i := int64(0), 0; ; budget, i = budget+48, i+1 {
		fb := faulty.New(inmem.New())
		c, root, shares := startOn(t, fb)
		mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv1", map[string]any{"type": "kv"})
		for p, v := range upgradeSecrets {
			mustCall(t, c, root, logical.UpdateOperation, "kv1/"+p, map[string]any{"v": v})
		}
		fb.FailAfter(budget, syscall.EIO)
		_, err := call(t, c, root, logical.UpdateOperation, "sys/mounts/kv1/tune", map[string]any{"options": map[string]any{"version": "2"}})
		fb.Recover()
		if err == nil {
			if budget == 0 {
				t.Fatal("the upgrade wrote nothing")
			}
			checkKVv2(t, c, root)
			return
		}
		if kvVersionOf(t, c, root) == "1" {
			for p, v := range upgradeSecrets {
				if got := mustCall(t, c, root, logical.ReadOperation, "kv1/"+p, nil); got.Data["v"] != v {
					t.Fatalf("budget %d: v1 secret %s = %v after a refused upgrade", budget, p, got.Data)
				}
			}
			continue
		}
		if _, err := call(t, c, root, logical.ReadOperation, "kv1/data/a", nil); statusOf(err) != http.StatusServiceUnavailable ||
			!strings.Contains(err.Error(), "Upgrading from non-versioned to versioned data") {
			t.Fatalf("budget %d: read during an unfinished upgrade = %v, want Vault's 503", budget, err)
		}
		if i%2 == 0 {
			// Asking again finishes it.
			mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv1/tune", map[string]any{"options": map[string]any{"version": "2"}})
		} else {
			// A restart finishes it in the background.
			c.Seal()
			if err := c.Unseal(context.Background(), shares); err != nil {
				t.Fatal(err)
			}
			eventually(t, fmt.Sprintf("budget %d: upgrade resumed at unseal", budget), func() bool {
				_, err := call(t, c, root, logical.ReadOperation, "kv1/data/a", nil)
				return statusOf(err) != http.StatusServiceUnavailable
			})
		}
		checkKVv2(t, c, root)
	}
}

func TestKVVersionTuneRules(t *testing.T) {
	c, root := newCore(t, nil)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv1", map[string]any{"type": "kv"})
	mustCall(t, c, root, logical.UpdateOperation, "kv1/meta/x", map[string]any{"v": "in the v2 key space"})
	cases := []struct {
		name, path, version string
		status              int
		msg                 string
	}{
		{"downgrade", "sys/mounts/secret/tune", "1", http.StatusBadRequest, "cannot downgrade mount from version 2"},
		{"bad version", "sys/mounts/secret/tune", "3", http.StatusBadRequest, "options.version must be 1 or 2"},
		{"colliding v1 data", "sys/mounts/kv1/tune", "2", http.StatusBadRequest, `"meta/x"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, c, root, logical.UpdateOperation, tc.path, map[string]any{"options": map[string]any{"version": tc.version}})
			if statusOf(err) != tc.status || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("tune version %s at %s = %v, want %d %q", tc.version, tc.path, err, tc.status, tc.msg)
			}
		})
	}
	if v := kvVersionOf(t, c, root); v != "1" {
		t.Fatalf("kv1 version after a refused upgrade = %q", v)
	}
	if got := mustCall(t, c, root, logical.ReadOperation, "kv1/meta/x", nil); got.Data["v"] != "in the v2 key space" {
		t.Fatalf("v1 data after a refused upgrade = %v", got.Data)
	}
	// The same version again, or an upgrade of a v2 mount, changes nothing.
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/secret/tune", map[string]any{"options": map[string]any{"version": "2"}})
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/kv1/tune", map[string]any{"options": map[string]any{"version": "1"}})
}
