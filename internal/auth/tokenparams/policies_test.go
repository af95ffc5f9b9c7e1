package tokenparams_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/tokenparams"
)

func TestRolePolicies(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string // nil means refused
	}{
		{"sorted and deduplicated", []string{"b", "a", "b"}, []string{"a", "b"}},
		{"trimmed and lower-cased", []string{" Dev ", "ADMIN"}, []string{"admin", "dev"}},
		{"empties dropped", []string{"", " ", "dev"}, []string{"dev"}},
		{"nothing", nil, []string{}},
		{"root", []string{"dev", "root"}, nil},
		{"root by case and space", []string{" Root "}, nil},
		{"kelvin sign is not k", []string{"\u212Aey"}, nil},
		{"fullwidth", []string{"ａdmin"}, nil},
		{"semicolon", []string{"dev;admin"}, nil},
		{"comma inside a list element", []string{"dev,admin"}, nil},
		{"leading dot", []string{".dev"}, nil},
		{"cyrillic look-alike of root", []string{"r\u043e\u043et"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenparams.RolePolicies("token_policies", tt.in)
			switch {
			case tt.want == nil && err == nil:
				t.Fatalf("RolePolicies(%q) = %q, want an error", tt.in, got)
			case tt.want != nil && (err != nil || !slices.Equal(got, tt.want)):
				t.Fatalf("RolePolicies(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			case err != nil && !strings.HasPrefix(err.Error(), `field "token_policies": `):
				t.Fatalf("RolePolicies(%q) error %q does not name the field", tt.in, err)
			}
		})
	}
}

// NormalizePolicies folds what RolePolicies folds but judges nothing;
// ValidatePolicies judges names as given.
func TestNormalizeAndValidatePolicies(t *testing.T) {
	if got := tokenparams.NormalizePolicies([]string{" Admin ", "ops", "admin", ""}); !slices.Equal(got, []string{"admin", "ops"}) {
		t.Errorf("NormalizePolicies = %q", got)
	}
	for _, bad := range []string{" root", "Root", "", "a b"} {
		if err := tokenparams.ValidatePolicies("policies", []string{"dev", bad}); err == nil || !strings.Contains(err.Error(), "position 1") {
			t.Errorf("ValidatePolicies(%q) = %v, want a refusal at position 1", bad, err)
		}
	}
	if err := tokenparams.ValidatePolicies("policies", []string{"dev", "root"}); err != nil {
		t.Errorf("ValidatePolicies refused valid names: %v", err)
	}
}
