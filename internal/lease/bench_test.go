package lease_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/lease"
)

// BenchmarkRegister measures registering (and persisting) one lease.
func BenchmarkRegister(b *testing.B) {
	f := newFixture(b, lease.Options{})
	b.ResetTimer()
	for i := range b.N {
		f.register(b, "acc", fmt.Sprint(i), time.Hour, time.Hour)
	}
}

// BenchmarkExpiry measures the scheduler and workers: b.N leases come due
// at once and are revoked through an in-memory engine.
func BenchmarkExpiry(b *testing.B) {
	f := newFixture(b, lease.Options{})
	for i := range b.N {
		f.register(b, "acc", fmt.Sprint(i), time.Duration(1+i%60)*time.Second, time.Hour)
	}
	b.ResetTimer()
	f.advance(time.Hour)
	clocktest.Eventually(b, "all revoked", func() bool { total, _, _ := f.m.Counts(); return total == 0 })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leases/s")
}
