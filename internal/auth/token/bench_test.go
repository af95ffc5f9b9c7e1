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

// BenchmarkUseBatch opens and checks a batch token (a JWT-login-shaped
// one: two policies, metadata, an alias) on every use; there is no cache.
func BenchmarkUseBatch(b *testing.B) {
	for _, parent := range []string{"orphan", "child"} {
		b.Run(parent, func(b *testing.B) {
			f := newFixture(b, token.Options{})
			e := &token.Entry{Policies: []string{"ci", "default"}, Type: token.TypeBatch, Path: "auth/jwt/login", DisplayName: "jwt-repo",
				Alias: "repo:octo/app:environment:production", Meta: map[string]string{"repository": "octo/app", "ref": "refs/heads/main"}}
			if parent == "child" {
				e.ParentAccessor = f.rootE.Accessor
			}
			tok := f.create(b, e.ParentAccessor, e)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.store.Use(ctx, tok, "127.0.0.1"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(tok)), "token-bytes")
		})
	}
}

func BenchmarkCreateBatch(b *testing.B) {
	f := newFixture(b, token.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.store.Create(ctx, &token.Entry{Policies: []string{"dev", "default"}, ParentAccessor: f.rootE.Accessor, Type: token.TypeBatch}); err != nil {
			b.Fatal(err)
		}
	}
}
