package bolt_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
)

var benchValue = make([]byte, 128) // about one sealed secret

func reportOps(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkBoltGet(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{})
	const n = 10000
	ops := make([]storage.Op, n)
	for i := range ops {
		ops[i] = storage.Op{Key: fmt.Sprintf("secret/app%03d/key%05d", i%100, i), Value: benchValue}
	}
	if err := s.Batch(b.Context(), ops); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, ops[i%n].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// putFunc writes value at a key unique to the call.
type putFunc func(key string) error

// BenchmarkBoltPutParallel measures durable single-key writes at 1, 16 and 64
// concurrent writers with Keyward's group commit, with one transaction per
// write, and with bbolt's own db.Batch as a baseline.
func BenchmarkBoltPutParallel(b *testing.B) {
	modes := []struct {
		name string
		open func(b *testing.B) putFunc
	}{
		{"group-commit", func(b *testing.B) putFunc {
			s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{})
			return func(k string) error { return s.Put(b.Context(), k, benchValue) }
		}},
		{"no-group-commit", func(b *testing.B) putFunc {
			s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{NoGroupCommit: true})
			return func(k string) error { return s.Put(b.Context(), k, benchValue) }
		}},
		{"bbolt-db.Batch", func(b *testing.B) putFunc {
			db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("k")); return err }); err != nil {
				b.Fatal(err)
			}
			return func(k string) error {
				return db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("k")).Put([]byte(k), benchValue) })
			}
		}},
	}
	for _, m := range modes {
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", m.name, writers), func(b *testing.B) {
				put := m.open(b)
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
				reportOps(b, 1)
			})
		}
	}
}

// BenchmarkBoltBatch measures one writer committing 100-key batches.
func BenchmarkBoltBatch(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{})
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
