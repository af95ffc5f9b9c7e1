package bolt_test

import (
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

func BenchmarkBoltGet(b *testing.B) {
	storagetest.BenchGet(b, open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{}))
}

// BenchmarkBoltPutParallel measures durable single-key writes at 1, 16 and 64
// concurrent writers with Keyward's group commit, with one transaction per
// write, and with bbolt's own db.Batch as a baseline.
func BenchmarkBoltPutParallel(b *testing.B) {
	modes := []struct {
		name string
		open func(b *testing.B) func(key string) error
	}{
		{"group-commit", func(b *testing.B) func(string) error {
			s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{})
			return func(k string) error { return s.Put(b.Context(), k, storagetest.BenchValue) }
		}},
		{"no-group-commit", func(b *testing.B) func(string) error {
			s := open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{NoGroupCommit: true})
			return func(k string) error { return s.Put(b.Context(), k, storagetest.BenchValue) }
		}},
		{"bbolt-db.Batch", func(b *testing.B) func(string) error {
			db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("k")); return err }); err != nil {
				b.Fatal(err)
			}
			return func(k string) error {
				return db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("k")).Put([]byte(k), storagetest.BenchValue) })
			}
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) { storagetest.BenchPut(b, m.open) })
	}
}

// BenchmarkBoltBatch measures one writer committing 100-key batches.
func BenchmarkBoltBatch(b *testing.B) {
	storagetest.BenchBatch(b, open(b, filepath.Join(b.TempDir(), "keyward.db"), bolt.Options{}))
}
