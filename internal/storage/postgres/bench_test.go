package postgres_test

import (
	"testing"

	"github.com/keyward/keyward/internal/storage/storagetest"
)

func BenchmarkPostgresGet(b *testing.B) {
	storagetest.BenchGet(b, open(b, pgURL))
}

// BenchmarkPostgresList lists one directory of 100 keys among 10,000, and
// the top level (one directory over all 10,000 keys).
func BenchmarkPostgresList(b *testing.B) {
	storagetest.BenchList(b, open(b, pgURL))
}

// BenchmarkPostgresPutParallel measures committed single-key writes at 1,
// 16 and 64 concurrent writers over a pool of 16 connections.
func BenchmarkPostgresPutParallel(b *testing.B) {
	storagetest.BenchPut(b, func(b *testing.B) func(string) error {
		s := open(b, adminURL+"&pool_max_conns=16")
		return func(k string) error { return s.Put(b.Context(), k, storagetest.BenchValue) }
	})
}

// BenchmarkPostgresBatch measures one writer committing 100-key batches.
func BenchmarkPostgresBatch(b *testing.B) {
	storagetest.BenchBatch(b, open(b, pgURL))
}
