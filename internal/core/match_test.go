package core

import "testing"

func TestMatchPath(t *testing.T) {
	patterns := []string{"leases", "audit/*", "accessors/", "seal"}
	tests := []struct {
		rel  string
		want bool
	}{
		{"leases", true}, {"leases/", true}, {"audit", false}, {"audit/", true}, {"audit/file", true},
		{"accessors", true}, {"accessors/", true}, {"seal", true}, {"seal/", true}, {"sealx", false}, {"lease", false},
	}
	for _, tt := range tests {
		if got := matchPath(patterns, tt.rel); got != tt.want {
			t.Errorf("matchPath(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}
