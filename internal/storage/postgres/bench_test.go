package postgres_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/storage"
)

var benchValue = make([]byte, 128) // about one sealed secret

func reportOps(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "writes/s")
}

// fill writes n keys spread over 100 directories and returns them.
func fill(b *testing.B, s storage.Backend, n int) []storage.Op {
	ops := make([]storage.Op, n)
	for i := range ops {
		ops[i] = storage.Op{Key: fmt.Sprintf("secret/app%03d/key%05d", i%100, i), Value: benchValue}
	}
	for i := 0; i < n; i += 1000 {
		if err := s.Batch(b.Context(), ops[i:min(i+1000, n)]); err != nil {
			b.Fatal(err)
		}
	}
	return ops
}

func BenchmarkPostgresGet(b *testing.B) {
	s := open(b, pgURL)
	const n = 10000
	ops := fill(b, s, n)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, ops[i%n].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPostgresList lists one directory of 100 keys among 10,000, and
// the top level (one directory over all 10,000 keys).
func BenchmarkPostgresList(b *testing.B) {
	s := open(b, pgURL)
	fill(b, s, 10000)
	for _, prefix := range []string{"secret/app042/", "", "secret/"} {
		b.Run(fmt.Sprintf("prefix=%q", prefix), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.List(b.Context(), prefix); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPostgresPutParallel measures committed single-key writes at 1,
// 16 and 64 concurrent writers over a pool of 16 connections.
func BenchmarkPostgresPutParallel(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b, adminURL+"&pool_max_conns=16")
			var seq atomic.Int64
			put := func() error { return s.Put(b.Context(), fmt.Sprint("k/", seq.Add(1)), benchValue) }
			if writers == 1 {
				for b.Loop() {
					if err := put(); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := put(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			reportOps(b, 1)
		})
	}
}

// BenchmarkPostgresBatch measures one writer committing 100-key batches.
func BenchmarkPostgresBatch(b *testing.B) {
	s := open(b, pgURL)
	const size = 100
	ops := make([]storage.Op, size)
	n := 0
	for b.Loop() {
		for i := range ops {
			n++
			ops[i] = storage.Op{Key: fmt.Sprint("batch/", n), Value: benchValue}
		}
		if err := s.Batch(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b, size)
}
