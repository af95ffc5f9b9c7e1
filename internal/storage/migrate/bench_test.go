package migrate_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/migrate"
	"github.com/keyward/keyward/internal/storage/postgres"
	"github.com/keyward/keyward/internal/testsvc"
)

// BenchmarkCopyBoltToPostgres copies 10,000 keys of 256-byte values (a
// store's typical shape: short paths, small sealed entries) from a bolt
// file to a fresh PostgreSQL table per iteration, and reports keys/s.
func BenchmarkCopyBoltToPostgres(b *testing.B) {
	const keys = 10_000
	admin := testsvc.Postgres(b)
	src, err := bolt.Open(filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	value := make([]byte, 256)
	rand.Read(value)
	for i := range keys {
		if err := src.Put(b.Context(), fmt.Sprintf("logical/%02d/data/app-%05d", i%50, i), value); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		b.StopTimer()
		table := "kwbench_" + strings.ToLower(rand.Text()[:12])
		dst, err := postgres.Open(b.Context(), sensitive.NewString(testsvc.PostgresAdminURL), postgres.Options{Table: table})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := migrate.Copy(b.Context(), dst, src, migrate.Options{})
		b.StopTimer()
		if err != nil || n != keys {
			b.Fatalf("Copy = %d, %v", n, err)
		}
		dst.Close()
		if _, err := admin.Exec(context.Background(), "DROP TABLE "+table); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(keys*b.N)/b.Elapsed().Seconds(), "keys/s")
}
