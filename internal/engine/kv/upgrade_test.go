package kv_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// upgrader is what the core calls on a version 2 backend after an upgrade
// was prepared.
type upgrader interface {
	Upgrading() bool
	FinishUpgrade(ctx context.Context) error
}

// v1Secrets are written before each upgrade: nested paths, a "ttl" field
// (meaningful to version 1 only) and numbers that must stay exact.
var v1Secrets = map[string]string{
	"a":             `{"password":"p-a"}`,
	"dir/b":         `{"ttl":"1h","user":"b"}`,
	"dir/sub/c":     `{"n":12345678901234567890}`,
	"metadata/d":    `{"v":"under a v2 API word, not a v2 storage prefix"}`,
	"deep/er/e/f/g": `{"k":"v"}`,
}

func writeV1(t *testing.T, s logical.Storage) {
	t.Helper()
	h := newHarnessOn(t, "1", s, nil)
	for path, data := range v1Secrets {
		h.must(logical.UpdateOperation, path, data)
	}
}

func newV2On(t *testing.T, s logical.Storage) *harness {
	t.Helper()
	return newHarnessOn(t, "2", s, nil)
}

// checkUpgraded asserts that every v1 secret reads back as version 1 of a
// v2 secret, that nothing of version 1 is left, and that writing goes on
// at version 2.
func checkUpgraded(t *testing.T, h *harness, s *logicaltest.InmemStorage) {
	t.Helper()
	for path, want := range v1Secrets {
		resp := h.read(path, 0)
		if got := secretData(t, resp); got != want {
			t.Errorf("data/%s = %s, want %s", path, got, want)
		}
		if v := versionMeta(t, resp)["version"]; v != 1 {
			t.Errorf("data/%s version = %v, want 1", path, v)
		}
		md := h.must(logical.ReadOperation, "metadata/"+path, "")
		if md.Data["current_version"] != 1 || len(md.Data["versions"].(map[string]any)) != 1 {
			t.Errorf("metadata/%s = %v, want only version 1", path, md.Data)
		}
	}
	root, _ := s.List(context.Background(), "")
	if !slices.Equal(root, []string{"meta/", "ver/"}) {
		t.Errorf("storage root after upgrade = %q, want only meta/ and ver/", root)
	}
	if keys := h.must(logical.ListOperation, "metadata/dir/", "").Data["keys"]; compact(t, keys) != `["b","sub/"]` {
		t.Errorf("LIST metadata/dir/ = %v", keys)
	}
	w := h.must(logical.UpdateOperation, "data/a", `{"data":{"password":"p-a2"}}`)
	if w.Data["version"] != 2 {
		t.Errorf("write after upgrade made version %v, want 2", w.Data["version"])
	}
}

func TestUpgradeTurnsEachSecretIntoVersionOne(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	writeV1(t, s)
	n, err := kv.PrepareUpgrade(t.Context(), s, time.Now())
	if err != nil || n != len(v1Secrets) {
		t.Fatalf("PrepareUpgrade = %d, %v; want %d secrets", n, err, len(v1Secrets))
	}
	h := newV2On(t, s)
	up := h.b.(upgrader)
	if !up.Upgrading() {
		t.Fatal("a v2 backend over prepared storage is not upgrading")
	}
	// Until the upgrade is done, every request gets Vault's 503.
	msg := h.fails(logical.ReadOperation, "data/a", "", http.StatusServiceUnavailable)
	if !strings.Contains(msg, "Upgrading from non-versioned to versioned data") {
		t.Errorf("error while upgrading = %q", msg)
	}
	if err := up.FinishUpgrade(t.Context()); err != nil {
		t.Fatalf("FinishUpgrade: %v", err)
	}
	if up.Upgrading() {
		t.Fatal("still upgrading after FinishUpgrade")
	}
	checkUpgraded(t, h, s)
	// Finishing twice is harmless.
	if err := up.FinishUpgrade(t.Context()); err != nil {
		t.Fatalf("second FinishUpgrade: %v", err)
	}
}

func TestUpgradeOfEmptyMount(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	if n, err := kv.PrepareUpgrade(t.Context(), s, time.Now()); err != nil || n != 0 {
		t.Fatalf("PrepareUpgrade(empty) = %d, %v", n, err)
	}
	h := newV2On(t, s)
	if err := h.b.(upgrader).FinishUpgrade(t.Context()); err != nil {
		t.Fatal(err)
	}
	if root, _ := s.List(t.Context(), ""); len(root) != 0 {
		t.Errorf("storage after upgrading an empty mount = %q", root)
	}
	h.must(logical.UpdateOperation, "data/x", `{"data":{"k":"v"}}`)
}

// A version 1 secret where version 2 keeps its records would be taken for
// upgrade output (or overwritten): the upgrade is refused, nothing changes.
func TestUpgradeRefusesSecretsInVersion2KeySpace(t *testing.T) {
	for _, path := range []string{"config", "meta/x", "ver/y", "meta/deep/z"} {
		t.Run(path, func(t *testing.T) {
			s := &logicaltest.InmemStorage{}
			h := newHarnessOn(t, "1", s, s)
			h.must(logical.UpdateOperation, "ok", `{"k":"v"}`)
			h.must(logical.UpdateOperation, path, `{"k":"v"}`)
			_, err := kv.PrepareUpgrade(t.Context(), s, time.Now())
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), path) {
				t.Fatalf("PrepareUpgrade with a secret at %q = %v, want 400 naming it", path, err)
			}
			if newV2On(t, s).b.(upgrader).Upgrading() {
				t.Fatal("a refused upgrade left its marker")
			}
			if got := compact(t, h.must(logical.ReadOperation, path, "").Data); got != `{"k":"v"}` {
				t.Errorf("secret at %q after refusal = %s", path, got)
			}
		})
	}
}

// A marker left by an upgrade that never took effect (the mount table kept
// version 1) is removed by the version 1 backend, so LIST never shows it.
func TestVersion1BackendRemovesStaleMarker(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	writeV1(t, s)
	if _, err := kv.PrepareUpgrade(t.Context(), s, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, "1", s, s)
	keys := h.must(logical.ListOperation, "", "").Data["keys"].([]string)
	if slices.Contains(keys, "ver/") {
		t.Errorf("LIST after an abandoned upgrade = %q, shows the marker", keys)
	}
	if got := compact(t, h.must(logical.ReadOperation, "a", "").Data); got != v1Secrets["a"] {
		t.Errorf("v1 read after an abandoned upgrade = %s", got)
	}
}

// The upgrade is interrupted after every possible number of writes, with
// atomic batches and with ordered writes; a restart (a new backend over the
// same storage) finishes it, and every secret survives as version 1.
func TestUpgradeResumesAfterInterruptionAtEveryWrite(t *testing.T) {
	for _, kind := range []string{"batch", "ordered"} {
		t.Run(kind, func(t *testing.T) {
			for budget := 0; ; budget++ {
				inner := &logicaltest.InmemStorage{}
				writeV1(t, inner)
				c := logicaltest.NewCrashing(inner, budget)
				var s logical.Storage = c.Batching()
				if kind == "ordered" {
					s = c // no Batch method: the upgrade writes one key at a time
				}
				done := func() bool {
					if _, err := kv.PrepareUpgrade(t.Context(), s, time.Now()); err != nil {
						if !errors.Is(err, logicaltest.ErrCrash) {
							t.Fatalf("budget %d: PrepareUpgrade: %v", budget, err)
						}
						return false
					}
					err := newV2On(t, s).b.(upgrader).FinishUpgrade(t.Context())
					if err != nil && !errors.Is(err, logicaltest.ErrCrash) {
						t.Fatalf("budget %d: FinishUpgrade: %v", budget, err)
					}
					return err == nil
				}()
				if done {
					checkUpgraded(t, newV2On(t, inner), inner)
					if budget == 0 {
						t.Fatal("the upgrade wrote nothing")
					}
					return
				}
				// Restart: the mount table says v2 only if the marker
				// was written; otherwise the mount is still v1 and whole.
				if m, _ := inner.Get(t.Context(), "ver/upgrading"); m == nil {
					h := newHarnessOn(t, "1", inner, inner)
					if got := compact(t, h.must(logical.ReadOperation, "a", "").Data); got != v1Secrets["a"] {
						t.Fatalf("budget %d: v1 data changed by an upgrade that never started: %s", budget, got)
					}
					continue
				}
				h := newV2On(t, inner)
				if err := h.b.(upgrader).FinishUpgrade(t.Context()); err != nil {
					t.Fatalf("budget %d: resumed FinishUpgrade: %v", budget, err)
				}
				checkUpgraded(t, h, inner)
			}
		})
	}
}

// Cleanup (unmount, seal) stops an upgrade: FinishUpgrade after it
// converts nothing more, and a new backend over the storage resumes.
func TestCleanupStopsUpgrade(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	writeV1(t, s)
	if _, err := kv.PrepareUpgrade(t.Context(), s, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := newV2On(t, s)
	h.b.(logical.Cleaner).Cleanup(t.Context())
	if err := h.b.(upgrader).FinishUpgrade(t.Context()); err == nil {
		t.Fatal("FinishUpgrade after Cleanup succeeded")
	}
	if v, _ := s.Get(t.Context(), "a"); v == nil {
		t.Fatal("a cleaned-up backend converted a secret")
	}
	h2 := newV2On(t, s)
	if err := h2.b.(upgrader).FinishUpgrade(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkUpgraded(t, h2, s)
}
