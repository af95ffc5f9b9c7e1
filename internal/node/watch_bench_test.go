package node_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

// BenchmarkKVReadEvents compares KV reads through a real listener with
// access events off, on, and on with a subscriber draining the stream
// (docs/watch.md has the figures).
func BenchmarkKVReadEvents(b *testing.B) {
	for _, mode := range []string{"off", "on", "on+subscriber"} {
		n := nodetest.StartWith(b, nodetest.Options{Configure: func(c *config.Config) {
			c.Watch.Disable = mode == "off"
			c.Watch.SubscriberBuffer = 1 << 16
		}})
		if mode == "on+subscriber" {
			sub := n.Watch().Subscribe(watch.Filter{Paths: []string{"secret/*"}})
			go func() {
				for {
					select {
					case <-sub.C():
					case <-sub.Done():
						return
					}
				}
			}()
		}
		do := requester(b, n.URL, n.RootToken.Reveal())
		body := []byte(`{"data":{"user":"svc","password":"0123456789abcdef0123456789abcdef"}}`)
		for i := 0; i < 100; i++ {
			do("PUT", fmt.Sprintf("secret/data/bench/k%d", i), body)
		}
		b.Run("events-"+mode, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					do("GET", fmt.Sprintf("secret/data/bench/k%d", i%100), nil)
					i++
				}
			})
		})
		n.Close()
	}
}

// BenchmarkKVReadEventsInterleaved runs the same reads against a node
// with events off, one with events on and detection off, and one with
// events and the detectors on (the defaults), alternating in rounds of 8
// parallel clients, so load from elsewhere on the machine falls on all
// alike. It reports each side's time per read and each "on" side as a
// percentage of off's throughput.
func BenchmarkKVReadEventsInterleaved(b *testing.B) {
	type side struct {
		do    func(method, path string, body []byte)
		spent time.Duration
		reads int
	}
	var sides [3]*side
	for i, mode := range []string{"off", "on", "detect"} {
		n := nodetest.StartWith(b, nodetest.Options{Configure: func(c *config.Config) {
			c.Watch.Disable = mode == "off"
			c.Watch.DisableDetection = mode == "on"
		}})
		do := requester(b, n.URL, n.RootToken.Reveal())
		for k := 0; k < 100; k++ {
			do("PUT", fmt.Sprintf("secret/data/bench/k%d", k), []byte(`{"data":{"password":"0123456789abcdef"}}`))
		}
		sides[i] = &side{do: do}
	}
	const clients, perClient = 8, 50
	round := func(s *side) {
		start := time.Now()
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < perClient; k++ {
					s.do("GET", fmt.Sprintf("secret/data/bench/k%d", (c*perClient+k)%100), nil)
				}
			}()
		}
		wg.Wait()
		s.spent += time.Since(start)
		s.reads += clients * perClient
	}
	for i := 0; b.Loop(); i++ {
		// Rotate which side goes first, so none always follows another.
		for k := 0; k < len(sides); k++ {
			round(sides[(i+k)%len(sides)])
		}
	}
	perRead := func(s *side) float64 { return float64(s.spent.Nanoseconds()) / float64(s.reads) }
	off, on, det := perRead(sides[0]), perRead(sides[1]), perRead(sides[2])
	b.ReportMetric(off, "off-ns/read")
	b.ReportMetric(on, "on-ns/read")
	b.ReportMetric(det, "detect-ns/read")
	b.ReportMetric(100*off/on, "on/off-%")
	b.ReportMetric(100*off/det, "detect/off-%")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHubEmit is the cost of one event in the hub: ring, baseline and
// one matching subscriber.
func BenchmarkHubEmit(b *testing.B) {
	h := watch.NewHub(watch.Options{SubscriberBuffer: 1 << 16})
	sub := h.Subscribe(watch.Filter{})
	defer h.Unsubscribe(sub)
	go func() {
		for {
			select {
			case <-sub.C():
			case <-sub.Done():
				return
			}
		}
	}()
	e := watch.Event{Type: watch.TypeRequest, Path: "secret/data/bench/k1", Mount: "secret/", Operation: "read",
		RemoteAddr: "10.0.0.1", Result: watch.ResultOK, Status: 200,
		Identity: watch.Identity{Accessor: "acc", DisplayName: "root", AuthMount: "auth/token/"}}
	b.ReportAllocs()
	for b.Loop() {
		h.Emit(e)
	}
}
