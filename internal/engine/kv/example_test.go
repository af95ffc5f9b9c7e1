package kv_test

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// A KV v2 mount: write a secret with check-and-set, then read it back.
func ExampleFactory() {
	ctx := context.Background()
	storage := &logicaltest.InmemStorage{}
	b, err := kv.Factory(ctx, &logical.BackendConfig{Options: map[string]string{"version": "2"}, Storage: storage})
	if err != nil {
		panic(err)
	}
	write := &logical.Request{
		Operation: logical.CreateOperation,
		Path:      "data/ci/deploy",
		Data: map[string]any{
			"data":    map[string]any{"token": "example-only"},
			"options": map[string]any{"cas": 0},
		},
		Storage: storage,
	}
	resp, err := b.HandleRequest(ctx, write)
	if err != nil {
		panic(err)
	}
	fmt.Println("version", resp.Data["version"])

	resp, err = b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "data/ci/deploy", Storage: storage})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Data["data"])
	// Output:
	// version 1
	// map[token:example-only]
}
