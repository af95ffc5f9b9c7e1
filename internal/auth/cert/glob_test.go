package cert_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/cert"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"spiffe://td/ns/prod/sa/*", "spiffe://td/ns/prod/sa/api", true},
		{"spiffe://td/ns/prod/sa/*", "spiffe://td/ns/prod/sa/api/x", false},
		{"spiffe://td/ns/prod/sa/*", "spiffe://td/ns/prod/sa/", true},
		{"spiffe://td/**", "spiffe://td/ns/prod/sa/api", true},
		{"spiffe://td/**", "spiffe://td2/ns", false},
		{"*.example.org", "a.example.org", true},
		{"*.example.org", "a.b.example.org", true},
		{"*.example.org", "example.org", false},
		{"*.example.org", "a.example.org.evil", false},
		{"exact", "exact", true},
		{"exact", "Exact", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"", "", true},
		{"*", "", true},
	}
	for _, tt := range tests {
		if got := cert.GlobMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// FuzzGlobMatch: a pattern without stars matches only itself, and a
// single "*" never lets a match cross "/".
func FuzzGlobMatch(f *testing.F) {
	f.Add("spiffe://td/ns/*", "spiffe://td/ns/a/b")
	f.Add("*.example.org", "x.example.org")
	f.Add("a**b", "a/x/b")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := cert.GlobMatch(pattern, s)
		if !strings.Contains(pattern, "*") && got != (pattern == s) {
			t.Fatalf("literal %q vs %q = %v", pattern, s, got)
		}
		if !strings.Contains(pattern, "**") && !strings.Contains(pattern, "/") && strings.Contains(s, "/") && got {
			t.Fatalf("%q matched %q across a slash", pattern, s)
		}
	})
}
