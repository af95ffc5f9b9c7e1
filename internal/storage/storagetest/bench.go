package storagetest

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/storage"
)

// The benchmark bodies every backend runs, so that figures in docs/perf.md
// compare like with like: a backend's Benchmark functions open their store
// and call these.

// BenchValue is what the benchmarks write: about one sealed secret.
var BenchValue = make([]byte, 128)

// Fill writes n keys spread over 100 directories, in batches of 1,000, and
// returns them.
func Fill(b *testing.B, s storage.Backend, n int) []storage.Op {
	b.Helper()
	ops := make([]storage.Op, n)
	for i := range ops {
		ops[i] = storage.Op{Key: fmt.Sprintf("secret/app%03d/key%05d", i%100, i), Value: BenchValue}
	}
	for i := 0; i < n; i += 1000 {
		if err := s.Batch(b.Context(), ops[i:min(i+1000, n)]); err != nil {
			b.Fatal(err)
		}
	}
	return ops
}

// BenchGet reads the keys of a store holding 10,000, one after another.
func BenchGet(b *testing.B, s storage.Backend) {
	const n = 10000
	ops := Fill(b, s, n)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, ops[i%n].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchList lists one directory of 100 keys among 10,000, and the top
// level (one directory over all 10,000 keys).
func BenchList(b *testing.B, s storage.Backend) {
	Fill(b, s, 10000)
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

// BenchPut measures put (a write of BenchValue at a key unique to the
// call) at 1, 16 and 64 concurrent writers, each in a sub-benchmark with
// a store of its own from open, and reports writes/s.
func BenchPut(b *testing.B, open func(b *testing.B) func(key string) error) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			put := open(b)
			var seq atomic.Int64
			if writers == 1 {
				for b.Loop() {
					if err := put(fmt.Sprint("k/", seq.Add(1))); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := put(fmt.Sprint("k/", seq.Add(1))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			ReportWrites(b, 1)
		})
	}
}

// BenchBatch measures one writer committing 100-key batches.
func BenchBatch(b *testing.B, s storage.Backend) {
	const size = 100
	ops := make([]storage.Op, size)
	n := 0
	for b.Loop() {
		for i := range ops {
			n++
			ops[i] = storage.Op{Key: fmt.Sprint("batch/", n), Value: BenchValue}
		}
		if err := s.Batch(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
	ReportWrites(b, size)
}

// ReportWrites reports perOp writes per iteration as writes/s.
func ReportWrites(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "writes/s")
}
