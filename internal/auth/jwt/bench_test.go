package jwt_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward/api"
)

// BenchmarkLogin measures a JWT login in the backend with a cached JWKS:
// header checks, RSA-2048 signature check, claims, role binding.
func BenchmarkLogin(b *testing.B) {
	f := newFixture(b, 0)
	f.roles()
	tok := f.sign(ghMain(f.is.URL))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.login("gh-prod", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginParallel is BenchmarkLogin from GOMAXPROCS goroutines.
func BenchmarkLoginParallel(b *testing.B) {
	f := newFixture(b, 0)
	f.roles()
	tok := f.sign(ghMain(f.is.URL))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.login("gh-prod", tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoginHTTP is a full login through a real server: HTTP, core,
// backend, token creation in the encrypted store.
func BenchmarkLoginHTTP(b *testing.B) {
	s := startServer(b)
	tok := s.token(b, "app")
	c, err := api.New(api.Config{Address: s.n.URL})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		sec, err := c.Write(ctx, "auth/jwt/login", map[string]any{"role": "app", "jwt": tok})
		if err != nil || sec.Auth == nil {
			b.Fatal(err)
		}
	}
}
