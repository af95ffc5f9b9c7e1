package audit_test

import (
	"context"
	"fmt"
	"github.com/keyward/keyward/internal/audit"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// BenchmarkKV measures KV v2 writes and reads through the real HTTP
// pipeline, with no audit device and with one file device (group fsync).
func BenchmarkKV(b *testing.B) {
	for _, dev := range []string{"none", "file"} {
		for _, op := range []string{"write", "read"} {
			b.Run(dev+"/"+op, func(b *testing.B) {
				n := nodetest.Start(b)
				c := client(b, n)
				if dev == "file" {
					enableFile(b, c, "file", logPath(b), nil)
				}
				ctx := context.Background()
				for i := range 64 {
					if err := kvPut(c, fmt.Sprintf("k%d", i), map[string]any{"v": "value"}); err != nil {
						b.Fatal(err)
					}
				}
				var ctr atomic.Int64
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						path := fmt.Sprintf("k%d", ctr.Add(1)%64)
						var err error
						if op == "write" {
							err = kvPut(c, path, map[string]any{"v": "value", "n": "1"})
						} else {
							_, err = c.Read(ctx, "secret/data/"+path, nil)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkEntry measures building and writing one request/response pair
// to a file device.
func BenchmarkEntry(b *testing.B) {
	br := newBroker(b, auditOptions())
	br.enable(b, "file", "file", map[string]string{"file_path": logPath(b)})
	b.ResetTimer()
	for b.Loop() {
		br.traffic(b, 1)
	}
}

func auditOptions() audit.Options { return audit.Options{} }
