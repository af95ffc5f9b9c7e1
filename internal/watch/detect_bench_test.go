package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

type memStorage map[string][]byte

func (m memStorage) Get(_ context.Context, k string) ([]byte, error) { return m[k], nil }
func (m memStorage) Put(_ context.Context, k string, v []byte) error {
	m[k] = v
	return nil
}
func (m memStorage) Delete(_ context.Context, k string) error {
	delete(m, k)
	return nil
}
func (m memStorage) List(_ context.Context, prefix string) ([]string, error) { return nil, nil }

var _ logical.Storage = memStorage{}

// BenchmarkDetect is the detectors' cost of one KV read by a root token
// (which matches root-token and counts into its open alert).
func BenchmarkDetect(b *testing.B) {
	en := NewEngine(EngineOptions{})
	en.Attach(context.Background(), memStorage{})
	defer en.Detach()
	en.attached.Store(false) // process by hand
	paths := make([]string, 100)
	for i := range paths {
		paths[i] = fmt.Sprintf("secret/data/bench/k%d", i)
	}
	t0 := time.Unix(1e9, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o := observed{e: Event{Type: TypeRequest, Path: paths[i%100], Mount: "secret/", Operation: "read", Time: t0.Add(time.Duration(i) * time.Millisecond),
			RemoteAddr: "10.0.0.1", Result: ResultOK, Status: 200,
			Identity: Identity{Accessor: "acc", DisplayName: "root", AuthMount: "auth/token/", Root: true}}, prior: Prior{Requests: 5, Prefix: 1}}
		en.process(&o)
		i++
	}
}
