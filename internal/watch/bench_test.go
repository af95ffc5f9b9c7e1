package watch_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/watch"
)

// identityEvent is the i-th event of a realistic population: CI roles and
// entities reading a handful of paths under a few prefixes of two mounts,
// from a few networks, over the hours of a working day. Its strings are
// fresh, as a request's are, so a baseline keeps its own copies.
func identityEvent(id, i int, at time.Time) watch.Event {
	mount := "secret/"
	path := fmt.Sprintf("secret/data/team%d/app%d/key%d", id%50, i%4, i%20)
	if i%5 == 4 {
		mount = "database/"
		path = fmt.Sprintf("database/creds/role%d", id%30)
	}
	result, status := watch.ResultOK, 200
	if i%17 == 0 {
		result, status = watch.ResultDenied, 403
	}
	return watch.Event{Time: at.Add(time.Duration(i%10) * time.Hour), Type: watch.TypeRequest, Operation: "read",
		Mount: mount, MountType: "kv", Path: path, Result: result, Status: status,
		RemoteAddr: fmt.Sprintf("10.%d.%d.%d", id%200, i%3, 10+i%7),
		Identity: watch.Identity{EntityID: fmt.Sprintf("entity-%08d", id), Accessor: fmt.Sprintf("acc-%08d-%d", id, i%3),
			AuthMount: "auth/jwt/", AuthType: "jwt", Role: fmt.Sprintf("deploy-%d", id%40), DisplayName: "jwt-ci",
			Claims: map[string]string{"repository": fmt.Sprintf("org/repo%d", id), "environment": "production"}}}
}

// heapAfterGC is the live heap once the collector has run.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fillAggregator feeds identities identities with perIdentity events each
// (up to 20 distinct paths and 3 networks each) and returns the aggregator
// and the heap it holds.
func fillAggregator(identities, perIdentity int) (*watch.Aggregator, float64) {
	at := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	before := heapAfterGC()
	a := watch.NewAggregator(time.UTC, identities)
	for id := range identities {
		for i := range perIdentity {
			e := identityEvent(id, i, at)
			a.Add(&e)
		}
	}
	held := float64(heapAfterGC()) - float64(before)
	runtime.KeepAlive(a)
	return a, held
}

// The baselines of 10,000 identities fit in memory with room to spare:
// the heap they hold is measured, not a time, and the bound is generous
// (the figure is in docs/perf.md; at the time of writing about 2.5 KiB).
func TestBaselineMemoryOf10000Identities(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 10,000 baselines")
	}
	const identities = 10000
	a, held := fillAggregator(identities, 20)
	if a.Len() != identities {
		t.Fatalf("aggregator holds %d identities, want %d", a.Len(), identities)
	}
	per := held / identities
	t.Logf("10,000 identities' baselines hold %.1f MiB, %.0f B per identity", held/(1<<20), per)
	if per > 32<<10 {
		t.Errorf("baselines hold %.0f B per identity, want under 32 KiB", per)
	}
}

// BenchmarkBaselineMemory reports the heap held by 10,000 identities'
// baselines: typical ones (20 events over 20 paths and 3 networks each)
// and full ones, at every set's bound (MaxPaths paths, MaxNetworks
// networks), which is the most a baseline can hold.
func BenchmarkBaselineMemory(b *testing.B) {
	b.Run("typical", func(b *testing.B) {
		for b.Loop() {
			_, held := fillAggregator(10000, 20)
			b.ReportMetric(held/10000, "B/identity")
			b.ReportMetric(held/(1<<20), "MiB/10k")
		}
		b.ReportMetric(0, "ns/op")
	})
	b.Run("full", func(b *testing.B) {
		at := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
		for b.Loop() {
			before := heapAfterGC()
			a := watch.NewAggregator(time.UTC, 10000)
			for id := range 10000 {
				for i := range watch.MaxPaths {
					e := identityEvent(id, i, at)
					e.Path = fmt.Sprintf("secret/data/p%d/app/key%d", i%watch.MaxPrefixes, i)
					e.RemoteAddr = fmt.Sprintf("10.%d.%d.1", id%200, i%watch.MaxNetworks)
					a.Add(&e)
				}
			}
			held := float64(heapAfterGC()) - float64(before)
			runtime.KeepAlive(a)
			b.ReportMetric(held/10000, "B/identity")
			b.ReportMetric(held/(1<<20), "MiB/10k")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkHubEmitIngestion is the hub's event ingestion rate: events from
// 1,000 identities (so baselines are updated, created and looked up as in
// a server) into the ring, the baselines and N subscribers that each
// drain the stream, from one caller and from parallel callers (the request
// goroutines). It reports events/s and the subscribers still attached at
// the end (a subscriber too slow to keep up is dropped, never waited for).
func BenchmarkHubEmitIngestion(b *testing.B) {
	at := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	events := make([]watch.Event, 4096)
	for i := range events {
		events[i] = identityEvent(i%1000, i/1000, at)
	}
	for _, subs := range []int{0, 1, 4, 16} {
		for _, parallel := range []bool{false, true} {
			name := fmt.Sprintf("subscribers=%d", subs)
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				h := watch.NewHub(watch.Options{SubscriberBuffer: 1 << 14})
				var wg sync.WaitGroup
				var ss []*watch.Subscription
				for range subs {
					s := h.Subscribe(watch.Filter{})
					ss = append(ss, s)
					wg.Go(func() {
						for {
							select {
							case <-s.C():
							case <-s.Done():
								return
							}
						}
					})
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.RunParallel(func(pb *testing.PB) {
						i := 0
						for pb.Next() {
							h.Emit(events[i%len(events)])
							i++
						}
					})
				} else {
					for i := 0; i < b.N; i++ {
						h.Emit(events[i%len(events)])
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(h.Subscribers()), "subscribers-left")
				for _, s := range ss {
					h.Unsubscribe(s)
				}
				wg.Wait()
			})
		}
	}
}
