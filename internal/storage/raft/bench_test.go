package raft_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPut measures acknowledged Puts (committed by a quorum and
// applied on the leader) of 256-byte values on a 1-node and a 3-node
// cluster on loopback, from 1 and from 16 concurrent clients.
func BenchmarkPut(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("nodes=%d/clients=%d", nodes, clients), func(b *testing.B) {
				c := newCluster(b, nodes)
				l := c.leader(b)
				value := make([]byte, 256)
				var n atomic.Int64
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
				if clients == 1 {
					b.SetParallelism(1)
				}
				b.ResetTimer()
				if clients == 1 {
					for b.Loop() {
						if err := l.Put(b.Context(), fmt.Sprint("k/", n.Add(1)), value); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := l.Put(b.Context(), fmt.Sprint("k/", n.Add(1)), value); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
			})
		}
	}
}
