package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// BenchmarkHTTP measures whole requests through a real listener: HTTP,
// token check, ACL, KV engine, barrier and storage (in memory, or bbolt with
// -bench-bolt semantics via the Dir option below).
func BenchmarkHTTP(b *testing.B) {
	for _, store := range []string{"inmem", "bolt"} {
		opts := nodetest.Options{}
		if store == "bolt" {
			opts.Dir = b.TempDir()
		}
		n := nodetest.StartWith(b, opts)
		tok := n.RootToken.Reveal()
		do := requester(b, n.URL, tok)
		body := []byte(`{"data":{"user":"svc","password":"0123456789abcdef0123456789abcdef"}}`)
		for i := 0; i < 100; i++ {
			do("PUT", fmt.Sprintf("secret/data/bench/k%d", i), body)
		}
		b.Run(store+"/kv-read", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					do("GET", fmt.Sprintf("secret/data/bench/k%d", i%100), nil)
					i++
				}
			})
		})
		b.Run(store+"/kv-write", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					do("PUT", fmt.Sprintf("secret/data/bench/k%d", i%100), body)
					i++
				}
			})
		})
		b.Run(store+"/token-create", func(b *testing.B) {
			b.SetParallelism(8)
			tb := []byte(`{"policies":["default"],"ttl":"10m"}`)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do("POST", "auth/token/create", tb)
				}
			})
		})
		n.Close()
	}
}

// BenchmarkHTTPRaft is BenchmarkHTTP's KV workloads on a one-node raft
// cluster (log and state machine fsynced on every commit).
func BenchmarkHTTPRaft(b *testing.B) {
	r, root, _ := oneRaftNode(b, "bench")
	do := requester(b, r.url, root)
	body := []byte(`{"data":{"user":"svc","password":"0123456789abcdef0123456789abcdef"}}`)
	for i := 0; i < 100; i++ {
		do("PUT", fmt.Sprintf("secret/data/bench/k%d", i), body)
	}
	b.Run("kv-read", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				do("GET", fmt.Sprintf("secret/data/bench/k%d", i%100), nil)
			}
		})
	})
	b.Run("kv-write", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				do("PUT", fmt.Sprintf("secret/data/bench/k%d", i%100), body)
			}
		})
	})
}

// requester returns a function sending one request to the server at url
// with token, failing the benchmark on a transport error or a status of
// 300 or more.
func requester(b *testing.B, url, token string) func(method, path string, body []byte) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return func(method, path string, body []byte) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, url+"/v1/"+path, rd)
		req.Header.Set("X-Vault-Token", token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			b.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
}
