package transit

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func write(t *testing.T, b *backend, s logical.Storage, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data, Storage: s})
}

func latest(t *testing.T, s logical.Storage, name string) int {
	t.Helper()
	k, err := loadKey(context.Background(), s, name)
	if err != nil || k == nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return k.LatestVersion
}

// auto_rotate_period on an injected clock: nothing rotates before the
// period, the key rotates once it has passed (counted from the latest
// version, so a manual rotate restarts it), keys without a period never
// rotate, and the loop, poked, does the same work in the background.
func TestAutoRotate(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(testNow())
	s := &logicaltest.InmemStorage{}
	b := newBackend(clock.Now)
	b.view = s
	if _, err := write(t, b, s, "keys/auto", map[string]any{"auto_rotate_period": "2h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := write(t, b, s, "keys/still", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := write(t, b, s, "keys/short", map[string]any{"auto_rotate_period": "30m"}); err == nil {
		t.Fatal("auto_rotate_period under an hour accepted")
	}
	if wait := b.rotateDue(ctx); wait != maxRotateWait || latest(t, s, "auto") != 1 {
		t.Fatalf("at creation: wait %v, latest %d", wait, latest(t, s, "auto"))
	}
	clock.Add(2*time.Hour - time.Second)
	if wait := b.rotateDue(ctx); wait != time.Second || latest(t, s, "auto") != 1 {
		t.Fatalf("a second early: wait %v, latest %d", wait, latest(t, s, "auto"))
	}
	clock.Add(time.Second)
	b.rotateDue(ctx)
	if latest(t, s, "auto") != 2 || latest(t, s, "still") != 1 {
		t.Fatalf("after the period: auto v%d, still v%d", latest(t, s, "auto"), latest(t, s, "still"))
	}
	b.rotateDue(ctx)
	if latest(t, s, "auto") != 2 {
		t.Fatal("rotated twice in one period")
	}
	// A manual rotate an hour later restarts the period.
	clock.Add(time.Hour)
	if _, err := write(t, b, s, "keys/auto/rotate", nil); err != nil {
		t.Fatal(err)
	}
	clock.Add(90 * time.Minute)
	b.rotateDue(ctx)
	if latest(t, s, "auto") != 3 {
		t.Fatalf("rotated before the period after a manual rotate: v%d", latest(t, s, "auto"))
	}
	// Turning the period off stops rotation.
	if _, err := write(t, b, s, "keys/auto/config", map[string]any{"auto_rotate_period": 0}); err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Hour)
	b.rotateDue(ctx)
	if latest(t, s, "auto") != 3 {
		t.Fatal("rotated with the period off")
	}
	resp, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "keys/auto", Storage: s})
	if err != nil || resp.Data["auto_rotate_period"] != int64(0) {
		t.Fatalf("read: %v %v", resp, err)
	}

	// The loop: started, poked by a config change, rotates a due key.
	if _, err := write(t, b, s, "keys/auto/config", map[string]any{"auto_rotate_period": "1h"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	b.kick = make(chan struct{}, 1)
	b.wg.Add(1)
	go b.rotationLoop()
	defer b.Cleanup(ctx)
	clocktest.Eventually(t, "the loop rotates the due key", func() bool { return latest(t, s, "auto") == 4 })
}

// A backend without storage in its config (unit tests) starts no loop,
// and Cleanup returns.
func TestFactoryWithoutStorage(t *testing.T) {
	be, err := Factory(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	be.(logical.Cleaner).Cleanup(context.Background())
}
