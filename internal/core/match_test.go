package core

import (
	"strings"
	"testing"
)

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

// Every entry of the sys/ sudo list names a path sys/ serves: a route of
// its own, or a family a service serves (audit, leases, wrapping,
// password policies), so the list cannot drift from the routes.
func TestSysSudoPathsNameRoutes(t *testing.T) {
	b := newSysBackend(&Core{})
	delegated := map[string]bool{"audit": true, "audit-hash": true, "leases": true, "renew": true, "revoke": true,
		"revoke-prefix": true, "revoke-force": true, "wrapping": true}
	for _, entry := range sysSudoPaths {
		first, _, _ := strings.Cut(entry, "/")
		if delegated[strings.TrimSuffix(first, "*")] {
			continue
		}
		prefix, isPrefix := strings.CutSuffix(entry, "*")
		served := false
		for _, pat := range b.Routes() {
			lit, _, _ := strings.Cut(pat, "{")
			if pat == entry || (isPrefix && (strings.HasPrefix(pat, prefix) || strings.HasPrefix(prefix, lit) && lit != pat)) {
				served = true
			}
		}
		if !served {
			t.Errorf("sys/ sudo entry %q names no route", entry)
		}
	}
}
