package raft_test

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/storage/storagetest"
)

// BenchmarkPut measures acknowledged Puts (committed by a quorum and
// applied on the leader) on a 1-node and a 3-node cluster on loopback, at
// 1, 16 and 64 concurrent writers (storagetest.BenchPut, the body every
// backend's Put benchmark shares).
func BenchmarkPut(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			storagetest.BenchPut(b, func(b *testing.B) func(string) error {
				l := newCluster(b, nodes).leader(b)
				return func(k string) error { return l.Put(b.Context(), k, storagetest.BenchValue) }
			})
		})
	}
}
