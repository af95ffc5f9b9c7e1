package sink_test

import (
	"strconv"
	"testing"

	"github.com/keyward/keyward/internal/watch"
)

// BenchmarkNotify is the cost Notify adds to the caller: a grouped repeat
// (no delivery), and a new alert queued to one sink (the workers deliver
// to a local receiver meanwhile).
func BenchmarkNotify(b *testing.B) {
	b.Run("repeat", func(b *testing.B) {
		h := newHarness(b)
		rcv := newReceiver(b, nil)
		h.put(b, "hook", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
		a := alert("r", watch.SeverityHigh)
		h.d.Notify(a)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			a.Count = uint64(i + 2)
			h.d.Notify(a)
		}
	})
	b.Run("new", func(b *testing.B) {
		h := newHarness(b)
		rcv := newReceiver(b, nil)
		h.put(b, "hook", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h.d.Notify(alert("n"+strconv.Itoa(i), watch.SeverityHigh))
		}
	})
}
