package logical_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func TestJSONAndKeys(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	var got struct{ A int }
	if found, err := logical.GetJSON(ctx, s, "x", &got); found || err != nil {
		t.Fatalf("GetJSON on nothing = %v, %v", found, err)
	}
	if err := logical.PutJSON(ctx, s, "x", struct{ A int }{7}); err != nil {
		t.Fatal(err)
	}
	if found, err := logical.GetJSON(ctx, s, "x", &got); !found || err != nil || got.A != 7 {
		t.Fatalf("GetJSON = %v, %v, %+v", found, err, got)
	}
	if err := s.Put(ctx, "bad", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := logical.GetJSON(ctx, s, "bad", &got); err == nil {
		t.Fatal("GetJSON decoded a broken value")
	}
	k1, err := logical.LoadOrCreateKey(ctx, s, "salt", 32)
	if err != nil || len(k1) != 32 {
		t.Fatalf("LoadOrCreateKey = %x, %v", k1, err)
	}
	k2, err := logical.LoadOrCreateKey(ctx, s, "salt", 32)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second LoadOrCreateKey = %x, %v; want the stored key", k2, err)
	}
	if _, err := logical.LoadOrCreateKey(ctx, s, "salt", 16); err == nil {
		t.Fatal("LoadOrCreateKey accepted a stored key of another size")
	}
}
