package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/watch"
)

func ev(key, path string, at time.Time) watch.Event {
	return watch.Event{Time: at, Type: watch.TypeRequest, Path: path, Mount: "secret/", Result: watch.ResultOK,
		Status: 200, RemoteAddr: "10.1.2.3", Identity: watch.Identity{EntityID: key, Accessor: "acc-" + key}}
}

func TestRingKeepsNewestWithoutAllocating(t *testing.T) {
	r := watch.NewRing(3)
	for i := 1; i <= 5; i++ {
		e := watch.Event{Seq: uint64(i)}
		r.Add(&e)
	}
	var got []uint64
	for _, e := range r.Snapshot() {
		got = append(got, e.Seq)
	}
	if fmt.Sprint(got) != "[3 4 5]" {
		t.Errorf("ring holds %v, want [3 4 5]", got)
	}
	e := watch.Event{Seq: 9, Path: "secret/data/x"}
	if n := testing.AllocsPerRun(100, func() { r.Add(&e) }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
	r.Reset()
	if len(r.Snapshot()) != 0 {
		t.Error("Reset left events")
	}
}

func TestMatchPath(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"secret/data/a/*", "secret/data/a/x", true},
		{"secret/data/a/*", "secret/data/a", false},
		{"secret/data/a*", "secret/data/ab", true},
		{"secret/data/a", "secret/data/a", true},
		{"secret/data/a", "secret/data/a/b", false},
		{"secret/+/a", "secret/data/a", true},
		{"secret/+/a", "secret/data/b", false},
		{"secret/+", "secret/data", true},
		{"secret/+", "secret/data/x", false},
		{"secret/+/*", "secret/data/x/y", true},
		{"+", "sys", true},
		{"*", "anything/at/all", true},
	} {
		if got := watch.MatchPath(c.pattern, c.path); got != c.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestBaselineCountsInTimeZone(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	a := watch.NewAggregator(loc, 10)
	// Monday 2026-12-07 03:30 UTC is Sunday 22:30 at UTC-5.
	at := time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC)
	a.Add(ptr(ev("e1", "secret/data/ci/db", at)))
	f := ev("e1", "secret/data/ci/api", at.Add(10*time.Second))
	f.Result, f.RemoteAddr = watch.ResultDenied, "2001:db8:1:2:3:4:5:6"
	a.Add(&f)
	anon := ev("", "secret/data/anon", at)
	anon.Identity = watch.Identity{}
	a.Add(&anon) // anonymous: no baseline
	b, ok := a.Get("entity:e1")
	if !ok || a.Len() != 1 {
		t.Fatalf("baselines: %d, e1 found %v", a.Len(), ok)
	}
	if b.Hours[22] != 2 || b.Weekdays[time.Sunday] != 2 {
		t.Errorf("hours %v weekdays %v", b.Hours, b.Weekdays)
	}
	if b.Prefixes["secret/data/ci"] != 2 || len(b.Paths) != 2 {
		t.Errorf("paths %v prefixes %v", b.Paths, b.Prefixes)
	}
	if b.Networks["10.1.2.0/24"] != 1 || b.Networks["2001:db8:1:2::/64"] != 1 {
		t.Errorf("networks %v", b.Networks)
	}
	if b.Requests != 2 || b.Failures != 1 || b.Denied != 1 || b.FailureRate() != 0.5 || b.PeakPerMinute != 2 {
		t.Errorf("counts %+v", b)
	}
}

func ptr[T any](v T) *T { return &v }

func TestBaselineBounds(t *testing.T) {
	a := watch.NewAggregator(nil, 10)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range watch.MaxPaths + 10 {
		e := ev("e", fmt.Sprintf("secret/data/ci/p%d", i), at)
		e.RemoteAddr = fmt.Sprintf("10.%d.0.1", i%40)
		a.Add(&e)
	}
	b, _ := a.Get("entity:e")
	if len(b.Paths) != watch.MaxPaths || len(b.Networks) != watch.MaxNetworks {
		t.Errorf("kept %d paths, %d networks", len(b.Paths), len(b.Networks))
	}
	// 10 paths past the cap; networks 32-39 of each block of 40 events
	// (6 whole blocks in 266 events).
	if want := uint64(10 + 6*8); b.Overflow != want {
		t.Errorf("overflow %d, want %d", b.Overflow, want)
	}
}

func TestAggregatorEvictsLeastRecentAndPersists(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	a := watch.NewAggregator(nil, 2)
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	a.Add(ptr(ev("a", "secret/data/x", at)))
	a.Add(ptr(ev("b", "secret/data/x", at.Add(time.Minute))))
	if err := a.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	a.Add(ptr(ev("a", "secret/data/y", at.Add(2*time.Minute))))
	a.Add(ptr(ev("c", "secret/data/x", at.Add(3*time.Minute)))) // evicts b
	if _, ok := a.Get("entity:b"); ok || a.Evicted() != 1 {
		t.Errorf("b kept (evicted %d)", a.Evicted())
	}
	if err := a.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.List(ctx, watch.BaselinePrefix)
	if len(keys) != 2 {
		t.Errorf("stored %v, want 2 baselines", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "entity") || strings.Contains(k, "a") && len(k) < 8 {
			t.Errorf("storage key %q names the identity", k)
		}
	}
	b := watch.NewAggregator(nil, 1) // a smaller cap keeps the most recent
	if _, err := b.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get("entity:c"); !ok || b.Len() != 1 {
		t.Errorf("load kept %d, c present %v", b.Len(), ok)
	}
	full := watch.NewAggregator(nil, 5)
	if _, err := full.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, _ := full.Get("entity:a"); got.Paths["secret/data/y"] != 1 || got.Requests != 2 {
		t.Errorf("reloaded a = %+v", got)
	}
}

func TestHubDropsSlowSubscriberWithoutBlocking(t *testing.T) {
	h := watch.NewHub(watch.Options{SubscriberBuffer: 2})
	slow := h.Subscribe(watch.Filter{})
	other := h.Subscribe(watch.Filter{Paths: []string{"nothing/*"}})
	for range 1000 { // would block forever if Emit waited
		h.Emit(ev("e", "secret/data/x", time.Now()))
	}
	<-slow.Done()
	if slow.Reason() != "subscriber too slow" || h.Subscribers() != 1 {
		t.Errorf("reason %q, %d subscribers", slow.Reason(), h.Subscribers())
	}
	select {
	case <-other.Done():
		t.Error("a subscriber whose filter matched nothing was dropped")
	default:
	}
	if n := len(slow.C()); n != 2 {
		t.Errorf("slow subscriber queued %d", n)
	}
	if err := h.Detach(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-other.Done()
}

func TestEventJSONIsTheAllowlist(t *testing.T) {
	raw, _ := json.Marshal(watch.Event{Identity: watch.Identity{Claims: map[string]string{"repository": "o/r"}}})
	var m map[string]any
	json.Unmarshal(raw, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for _, k := range keys {
		switch k {
		case "seq", "time", "type", "identity", "operation", "path", "result", "status":
		default:
			t.Errorf("unexpected field %q", k)
		}
	}
}

// FuzzFilter: a path filter never panics, and a pattern without globs
// matches by prefix (with *) or exactly (without).
func FuzzFilter(f *testing.F) {
	f.Add("secret/data/*", "secret/data/x", "request")
	f.Add("secret/+/x", "secret/a/x", "login")
	f.Add("a*,b", "b", "")
	f.Fuzz(func(t *testing.T, pattern, path, types string) {
		fl, err := watch.ParseFilter(pattern, types)
		if err != nil {
			return
		}
		fl.Match(&watch.Event{Path: path, Type: watch.TypeRequest})
		if strings.ContainsAny(pattern, "+*,") || strings.TrimSpace(pattern) != pattern {
			return
		}
		if watch.MatchPath(pattern+"*", path) != strings.HasPrefix(path, pattern) {
			t.Errorf("MatchPath(%q*, %q) is not a prefix match", pattern, path)
		}
		if watch.MatchPath(pattern, path) != (pattern == path) {
			t.Errorf("MatchPath(%q, %q) is not an exact match", pattern, path)
		}
	})
}

// An unreadable baseline (a value from another keyring after a snapshot
// restore, or garbage) is skipped, and deleted at the next flush.
func TestLoadSkipsUnreadableBaselines(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	a := watch.NewAggregator(nil, 5)
	a.Add(ptr(ev("good", "secret/data/x", time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))))
	if err := a.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, watch.BaselinePrefix+"garbage", []byte("{not json"))
	s.Put(ctx, watch.BaselinePrefix+"misfiled", []byte(`{"key":"entity:other"}`))
	b := watch.NewAggregator(nil, 5)
	skipped, err := b.Load(ctx, s)
	if err != nil || skipped != 2 || b.Len() != 1 {
		t.Fatalf("Load = %d skipped, %v; %d loaded", skipped, err, b.Len())
	}
	if err := b.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.List(ctx, watch.BaselinePrefix); len(keys) != 1 {
		t.Errorf("after flush: %v", keys)
	}
}
