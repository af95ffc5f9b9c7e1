package kv_test

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// BenchmarkRead reads the latest version of a typical secret: a handful of
// fields, several versions, some custom metadata.
func BenchmarkRead(b *testing.B) {
	h := newHarness(b, "2")
	h.must(update, "metadata/ci/app/db", `{"custom_metadata":{"owner":"team-a","env":"prod"}}`)
	for i := range 5 {
		h.must(update, "data/ci/app/db", fmt.Sprintf(`{"data":{"username":"app","password":"s3cr3t-%d","host":"db.internal","port":5432,"sslmode":"require"}}`, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.doData(read, "data/ci/app/db", map[string]any{})
		if err != nil || resp == nil {
			b.Fatalf("read: %v", err)
		}
	}
}

// BenchmarkWrite writes new versions of one secret; past ten versions every
// write also prunes the oldest.
func BenchmarkWrite(b *testing.B) {
	h := newHarness(b, "2")
	data := map[string]any{"data": map[string]any{
		"username": "app", "password": "s3cr3t", "host": "db.internal", "sslmode": "require",
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.doData(update, "data/ci/app/db", data); err != nil {
			b.Fatalf("write: %v", err)
		}
	}
}

// BenchmarkReadV1 reads a KV v1 secret.
func BenchmarkReadV1(b *testing.B) {
	h := newHarness(b, "1")
	h.must(update, "ci/app/db", `{"username":"app","password":"s3cr3t","host":"db.internal","port":5432}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.doData(logical.ReadOperation, "ci/app/db", map[string]any{}); err != nil {
			b.Fatal(err)
		}
	}
}
