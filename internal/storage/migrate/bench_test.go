package migrate_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/migrate"
	"github.com/keyward/keyward/internal/storage/postgres"
	"github.com/keyward/keyward/internal/storage/raft"
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

// BenchmarkCopyBoltToRaft copies the same 10,000 keys into a fresh
// one-node raft store per iteration (batches sized to its entry limit).
func BenchmarkCopyBoltToRaft(b *testing.B) {
	const keys = 10_000
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
	ca, err := raft.NewCA("bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Issue("n1", time.Hour, net.IPv4(127, 0, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		dst, err := raft.Open(raft.Config{Dir: b.TempDir(), NodeID: "n1", BindAddr: "127.0.0.1:0",
			TLS: raft.NodeTLS(ca.Pool(), cert), PerformanceMultiplier: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := dst.Bootstrap(); err != nil {
			b.Fatal(err)
		}
		clocktest.Eventually(b, "the node to lead", dst.IsLeader)
		b.StartTimer()
		n, err := migrate.Copy(b.Context(), dst, src, migrate.Options{MaxBatchBytes: raft.DefaultMaxEntrySize})
		b.StopTimer()
		if err != nil || n != keys {
			b.Fatalf("Copy = %d, %v", n, err)
		}
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(keys*b.N)/b.Elapsed().Seconds(), "keys/s")
}
