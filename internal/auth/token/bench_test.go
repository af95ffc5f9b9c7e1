package token_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/auth/token"
)

func BenchmarkUse(b *testing.B) {
	f := newFixture(b, token.Options{})
	tok := f.create(b, "", &token.Entry{Policies: []string{"dev"}, BoundCIDRs: []string{"127.0.0.0/8"}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUseParallel(b *testing.B) {
	f := newFixture(b, token.Options{})
	tok := f.create(b, "", &token.Entry{Policies: []string{"dev"}})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUseInvalid(b *testing.B) {
	f := newFixture(b, token.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.store.Use(ctx, "kws_this-token-does-not-exist", "127.0.0.1"); err == nil {
			b.Fatal("unknown token accepted")
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	f := newFixture(b, token.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.store.Create(ctx, &token.Entry{Policies: []string{"dev", "default"}, ParentAccessor: f.rootE.Accessor}); err != nil {
			b.Fatal(err)
		}
	}
}
