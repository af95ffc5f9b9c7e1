package core_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/watch"
)

// Events take the core's clock, so baselines' hours and weekdays can be
// tested at any time of day.
func TestEventsUseTheCoreClock(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 3, 7, 23, 15, 0, 0, time.UTC)) // a Saturday
	hub := watch.NewHub(watch.Options{Location: time.FixedZone("UTC+2", 2*3600)})
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Now: clock.Now, Events: hub})
	sub := hub.Subscribe(watch.Filter{Paths: []string{"secret/*"}})
	mustCall(t, c, root, logical.UpdateOperation, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}})
	clock.Add(time.Hour)
	mustCall(t, c, root, logical.ReadOperation, "secret/data/app", nil)
	w, r := <-sub.C(), <-sub.C()
	if !w.Time.Equal(time.Date(2026, 3, 7, 23, 15, 0, 0, time.UTC)) || !r.Time.Equal(w.Time.Add(time.Hour)) {
		t.Errorf("event times %v, %v", w.Time, r.Time)
	}
	if w.Operation != "create" || r.Operation != "read" || r.Path != "secret/data/app" || r.Mount != "secret/" {
		t.Errorf("events %+v, %+v", w, r)
	}
	b, ok := hub.Baselines().Get("name:auth/token/root")
	if !ok {
		t.Fatal("no baseline for the root token")
	}
	// 23:15 and 00:15 UTC are 01:15 and 02:15 on Sunday at UTC+2.
	if b.Hours[1] != 1 || b.Hours[2] != 1 || b.Weekdays[time.Sunday] != 2 {
		t.Errorf("hours %v weekdays %v", b.Hours, b.Weekdays)
	}
}
