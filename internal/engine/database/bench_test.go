package database_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/lease"
	"github.com/keyward/keyward/internal/testsvc"
)

// BenchmarkPostgresCreds measures issuing one dynamic credential against the
// real PostgreSQL: render, CREATE ROLE in a transaction, lease registration.
// It reports p50/p99 latency; the users are revoked after timing.
func BenchmarkPostgresCreds(b *testing.B) {
	admin := testsvc.Postgres(b)
	h := newHarness(b, lease.Options{})
	testsvc.DropPostgresRoles(b, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "bench")
	h.write("config/pg", map[string]any{"max_open_connections": 8})
	h.write("roles/bench", map[string]any{"db_name": "pg", "default_ttl": "1h"})
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			h.creds("bench")
			d := time.Since(start)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
	h.expireAll(2 * time.Hour)
}

// BenchmarkPostgresRevoke measures lease expiry end to end against the real
// database: b.N users expire at once and the lease manager's workers drop
// them.
func BenchmarkPostgresRevoke(b *testing.B) {
	admin := testsvc.Postgres(b)
	h := newHarness(b, lease.Options{})
	testsvc.DropPostgresRoles(b, admin, h.prefix)
	h.configurePostgres(testsvc.PostgresURL, "bench")
	h.write("config/pg", map[string]any{"max_open_connections": 8})
	h.write("roles/bench", map[string]any{"db_name": "pg", "default_ttl": "1h"})
	for range b.N {
		h.creds("bench")
	}
	b.ResetTimer()
	h.expireAll(2 * time.Hour)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "revocations/s")
}
