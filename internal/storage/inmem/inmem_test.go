package inmem_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(testing.TB) storage.Backend { return inmem.New() })
}

// List answers from the index exactly what storage.ListNames answers over
// all keys, for random puts and deletes and every prefix shape (empty,
// directory, part of a segment, a whole key).
func TestListIndexMatchesScan(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "ab", "", "c/"}
	randKey := func() string {
		var b strings.Builder
		for n := 1 + rng.IntN(4); n > 0; n-- {
			b.WriteString(segs[rng.IntN(len(segs))])
			if n > 1 {
				b.WriteByte('/')
			}
		}
		return b.String()
	}
	s := inmem.New()
	keys := map[string]bool{}
	for i := 0; i < 3000; i++ {
		k := randKey()
		if k == "" || storage.CheckOps([]storage.Op{{Key: k}}) != nil {
			continue
		}
		if rng.IntN(3) == 0 {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			delete(keys, k)
		} else {
			if err := s.Put(ctx, k, []byte("v")); err != nil {
				t.Fatal(err)
			}
			keys[k] = true
		}
		if i%50 != 0 {
			continue
		}
		prefixes := []string{"", "a", "a/", "a/b", "ab/", "a//", "b/ab", randKey(), randKey()}
		for k := range keys {
			prefixes = append(prefixes, k, k[:rng.IntN(len(k)+1)])
			break
		}
		for _, p := range prefixes {
			if storage.CheckKey(p) != nil {
				continue
			}
			got, err := s.List(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			want := storage.ListNames(p, maps.Keys(keys))
			if !slices.Equal(got, want) {
				t.Fatalf("after %d ops, List(%q) = %q, want %q", i, p, got, want)
			}
		}
	}
}

func BenchmarkListBesideManyKeys(b *testing.B) {
	ctx := context.Background()
	s := inmem.New()
	for i := range 100_000 {
		s.Put(ctx, fmt.Sprintf("certs/%08d", i), []byte("v"))
	}
	for i := range 3 {
		s.Put(ctx, fmt.Sprintf("issuers/%d", i), []byte("v"))
	}
	for b.Loop() {
		if names, _ := s.List(ctx, "issuers/"); len(names) != 3 {
			b.Fatal(names)
		}
	}
}
