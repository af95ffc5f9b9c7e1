package watch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/watch"
)

func read(key, path string, at time.Time) *watch.Event {
	e := ev(key, path, at)
	e.Operation, e.MountType = "read", "kv"
	return &e
}

func TestIsSecretRead(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		edit func(*watch.Event)
		want bool
	}{
		{"kv v2 data", func(e *watch.Event) { e.Path = "secret/data/app/db" }, true},
		{"kv v1 secret", func(e *watch.Event) { e.Path = "secret/app/db" }, true},
		{"metadata", func(e *watch.Event) { e.Path = "secret/metadata/app/db" }, false},
		{"config", func(e *watch.Event) { e.Path = "secret/config" }, false},
		{"subkeys", func(e *watch.Event) { e.Path = "secret/subkeys/app" }, false},
		{"list", func(e *watch.Event) { e.Operation = "list" }, false},
		{"write", func(e *watch.Event) { e.Operation = "update" }, false},
		{"denied", func(e *watch.Event) { e.Result, e.Status = watch.ResultDenied, 403 }, false},
		{"missing", func(e *watch.Event) { e.Result, e.Status = watch.ResultError, 404 }, false},
		{"database creds", func(e *watch.Event) { e.Mount, e.MountType, e.Path = "db/", "database", "db/creds/ro" }, true},
		{"database static creds", func(e *watch.Event) { e.Mount, e.MountType, e.Path = "db/", "database", "db/static-creds/app" }, true},
		{"database role", func(e *watch.Event) { e.Mount, e.MountType, e.Path = "db/", "database", "db/roles/ro" }, false},
		{"transit", func(e *watch.Event) { e.Mount, e.MountType, e.Path = "transit/", "transit", "transit/keys/k" }, false},
		{"folder", func(e *watch.Event) { e.Path = "secret/data/app/" }, false},
	} {
		e := read("e", "secret/data/x", at)
		c.edit(e)
		if got := watch.IsSecretRead(e); got != c.want {
			t.Errorf("%s: IsSecretRead(%+v) = %v, want %v", c.name, e, got, c.want)
		}
	}
}

func TestAccessIndexCountsAndBounds(t *testing.T) {
	x := watch.NewAccessIndex(2)
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	x.Add(read("a", "secret/data/one", at))
	x.Add(read("b", "secret/data/one", at.Add(time.Hour)))
	x.Add(read("a", "secret/data/one", at.Add(2*time.Hour)))
	meta := read("a", "secret/metadata/one", at)
	meta.Path = "secret/metadata/one"
	x.Add(meta)
	got, ok := x.Get("secret/data/one")
	if !ok || got.Reads != 3 || len(got.Readers) != 2 || got.Readers["entity:a"].Reads != 2 ||
		!got.Readers["entity:a"].First.Equal(at) || !got.Readers["entity:a"].Last.Equal(at.Add(2*time.Hour)) ||
		!got.Last.Equal(at.Add(2*time.Hour)) {
		t.Errorf("record = %+v", got)
	}
	x.Add(read("a", "secret/data/two", at.Add(3*time.Hour)))
	x.Add(read("a", "secret/data/one", at.Add(4*time.Hour))) // one is now the most recent
	x.Add(read("a", "secret/data/three", at.Add(5*time.Hour)))
	if _, ok := x.Get("secret/data/two"); ok || x.Len() != 2 || x.Evicted() != 1 {
		t.Errorf("the least recently read path was kept (len %d, evicted %d)", x.Len(), x.Evicted())
	}
	// Readers per path are bounded: the one seen least recently goes.
	y := watch.NewAccessIndex(10)
	for i := range watch.MaxReaders + 3 {
		y.Add(read(fmt.Sprintf("r%02d", i), "secret/data/busy", at.Add(time.Duration(i)*time.Minute)))
	}
	busy, _ := y.Get("secret/data/busy")
	if len(busy.Readers) != watch.MaxReaders || busy.ReadersDropped != 3 || busy.Reads != uint64(watch.MaxReaders+3) {
		t.Errorf("busy: %d readers, %d dropped, %d reads", len(busy.Readers), busy.ReadersDropped, busy.Reads)
	}
	if _, kept := busy.Readers["entity:r00"]; kept {
		t.Error("the oldest reader was kept")
	}
	if !y.Since().Equal(at) {
		t.Errorf("since = %v", y.Since())
	}
}

func TestAccessIndexPersists(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	x := watch.NewAccessIndex(10)
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	x.Add(read("a", "secret/data/one", at))
	x.Add(read("b", "secret/data/two", at.Add(time.Hour)))
	if err := x.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.List(ctx, watch.AccessPrefix)
	for _, k := range keys {
		if strings.Contains(k, "secret") || strings.Contains(k, "one") {
			t.Errorf("storage key %q names the path", k)
		}
	}
	s.Put(ctx, watch.AccessPrefix+"garbage", []byte("{"))
	y := watch.NewAccessIndex(1) // a smaller cap keeps the most recent
	skipped, err := y.Load(ctx, s)
	if err != nil || skipped != 1 || y.Len() != 1 {
		t.Fatalf("Load = %d, %v; len %d", skipped, err, y.Len())
	}
	if _, ok := y.Get("secret/data/two"); !ok {
		t.Error("the most recent path was not kept")
	}
	if !y.Since().Equal(at) {
		t.Errorf("since after load = %v, want %v", y.Since(), at)
	}
	if err := y.Flush(ctx, s); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.List(ctx, watch.AccessPrefix); len(keys) != 1 {
		t.Errorf("after flush: %v", keys)
	}
	y.Reset()
	if y.Len() != 0 || !y.Since().IsZero() {
		t.Error("Reset left records")
	}
}

// BenchmarkAccessIndexAdd is the index's share of one secret read's
// event (a known path and reader, the common case).
func BenchmarkAccessIndexAdd(b *testing.B) {
	x := watch.NewAccessIndex(0)
	e := read("e", "secret/data/bench/k1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b.ReportAllocs()
	for b.Loop() {
		x.Add(e)
	}
}
