package node_test

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// BenchmarkHTTPPKIIssue measures issue/ROLE through a real listener
// (HTTP, token, ACL, audit-free pipeline, pki engine, barrier, bbolt), one
// leaf key type per sub-benchmark, signed by an EC P-256 root.
func BenchmarkHTTPPKIIssue(b *testing.B) {
	n := nodetest.StartWith(b, nodetest.Options{Dir: b.TempDir()})
	do := requester(b, n.URL, n.RootToken.Reveal())
	do("POST", "sys/mounts/pki", []byte(`{"type":"pki"}`))
	do("POST", "pki/root/generate/internal", []byte(`{"common_name":"Bench Root","key_type":"ec","ttl":"8760h"}`))
	for _, kt := range []struct{ name, typ, bits string }{{"ed25519", "ed25519", "0"}, {"ec-p256", "ec", "256"}, {"rsa-2048", "rsa", "2048"}} {
		do("POST", "pki/roles/"+kt.name, []byte(fmt.Sprintf(`{"allowed_domains":"example.com","allow_subdomains":true,"key_type":%q,"key_bits":%s,"ttl":"1h"}`, kt.typ, kt.bits)))
		b.Run(kt.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do("POST", "pki/issue/"+kt.name, []byte(`{"common_name":"www.example.com"}`))
				}
			})
		})
	}
}
