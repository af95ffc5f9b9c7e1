package node_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// BenchmarkTransitHTTP measures transit encrypt and decrypt through a real
// listener (HTTP, token, ACL, transit, barrier, in-memory storage): one
// 1 KiB item per request, and batch_input of 1,000 items of 1 KiB. ns/op
// is per request; items/s is reported for the batches. bench/transit.sh
// measures the same over loopback against OpenBao too (docs/perf.md).
func BenchmarkTransitHTTP(b *testing.B) {
	n := nodetest.Start(b)
	c := n.Client(b)
	if err := c.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Logical().Write("transit/keys/bench", nil); err != nil {
		b.Fatal(err)
	}
	do := requester(b, n.URL, n.RootToken.Reveal())
	for _, size := range []int{1, 1000} {
		items := make([]map[string]any, size)
		for i := range items {
			pt := make([]byte, 1024)
			rand.Read(pt)
			items[i] = map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}
		}
		enc := map[string]any{"batch_input": items}
		if size == 1 {
			enc = items[0]
		}
		s, err := c.Logical().Write("transit/encrypt/bench", enc)
		if err != nil {
			b.Fatal(err)
		}
		dec := map[string]any{"ciphertext": s.Data["ciphertext"]}
		if size > 1 {
			var cts []map[string]any
			for _, r := range s.Data["batch_results"].([]any) {
				cts = append(cts, map[string]any{"ciphertext": r.(map[string]any)["ciphertext"]})
			}
			dec = map[string]any{"batch_input": cts}
		}
		encBody, _ := json.Marshal(enc)
		decBody, _ := json.Marshal(dec)
		name := "1KiB"
		if size > 1 {
			name = "batch1000x1KiB"
		}
		for _, op := range []struct {
			name, path string
			body       []byte
		}{{"encrypt", "transit/encrypt/bench", encBody}, {"decrypt", "transit/decrypt/bench", decBody}} {
			b.Run(op.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(size * 1024))
				b.SetParallelism(8) // 8 x GOMAXPROCS clients: 16 on this 2-core machine
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do("POST", op.path, op.body)
					}
				})
				if size > 1 {
					b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "items/s")
				}
			})
		}
	}
}
