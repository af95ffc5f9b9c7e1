package tokenparams_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
)

func TestParse(t *testing.T) {
	var p tokenparams.Params
	err := p.Parse(map[string]any{"token_policies": "B, a,a", "token_ttl": "10m", "token_max_ttl": 3600,
		"token_num_uses": "2", "token_bound_cidrs": []any{"10.0.0.0/8", "192.0.2.1"}, "token_no_default_policy": true})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Auth()
	if len(a.Policies) != 2 || a.Policies[0] != "a" || a.Policies[1] != "b" || a.TTL != 10*time.Minute ||
		a.MaxTTL != time.Hour || a.NumUses != 2 || len(a.BoundCIDRs) != 2 || !a.NoDefaultPolicy || !a.Renewable {
		t.Errorf("Auth() = %+v", a)
	}
	if err := p.Parse(map[string]any{"token_ttl": "1h"}); err != nil || p.TTL != time.Hour || p.NumUses != 2 {
		t.Errorf("update kept %+v, %v", p, err)
	}
	for _, bad := range []map[string]any{
		{"token_ttl": "2h"}, // above max
		{"token_bound_cidrs": "10.0.0.0/33"},
		{"token_num_uses": -1},
		{"token_type": "hybrid"},
		{"token_type": "batch"}, // p has token_num_uses 2
		{"token_type": "default-batch", "token_num_uses": 0, "token_period": "1h"},
		{"token_policies": 5},
		{"token_policies": "dev, Root"},
		{"policies": "root"},
	} {
		q := p
		if err := q.Parse(bad); err == nil {
			t.Errorf("Parse(%v) accepted", bad)
		}
	}
}

func TestParseTokenType(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want string // "" means refused
	}{
		{"unset", map[string]any{}, ""},
		{"empty is default", map[string]any{"token_type": ""}, "default"},
		{"batch", map[string]any{"token_type": "batch"}, "batch"},
		{"default-batch", map[string]any{"token_type": "default-batch"}, "default-batch"},
		{"service", map[string]any{"token_type": "service"}, "service"},
		{"default-service", map[string]any{"token_type": "default-service"}, "default-service"},
		{"batch with ttls", map[string]any{"token_type": "batch", "token_ttl": "5m", "token_explicit_max_ttl": "10m"}, "batch"},
		{"misspelt", map[string]any{"token_type": "Batch"}, ""},
		{"batch periodic", map[string]any{"token_type": "batch", "token_period": "1h"}, ""},
		{"batch use-limited", map[string]any{"token_type": "batch", "token_num_uses": 1}, ""},
		{"service use-limited", map[string]any{"token_type": "service", "token_num_uses": 1}, "service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p tokenparams.Params
			err := p.Parse(tt.in)
			switch {
			case tt.name == "unset":
				if err != nil || p.Type != "" {
					t.Fatalf("Parse(%v) = %q, %v", tt.in, p.Type, err)
				}
			case tt.want == "":
				if err == nil {
					t.Fatalf("Parse(%v) accepted, type %q", tt.in, p.Type)
				}
			case err != nil || p.Type != tt.want || p.Auth().TokenType != tt.want:
				t.Fatalf("Parse(%v) = %q (auth %q), %v; want %q", tt.in, p.Type, p.Auth().TokenType, err, tt.want)
			}
		})
	}
}

// Resolve follows Vault's table: a plain mount type decides; a default-*
// mount type yields to what the role asks.
func TestResolve(t *testing.T) {
	roles := []string{"", "default", "service", "batch", "default-service", "default-batch"}
	want := map[string][]string{ // mount -> result per role, in the order of roles
		"":                {"service", "service", "service", "batch", "service", "batch"},
		"default-service": {"service", "service", "service", "batch", "service", "batch"},
		"default-batch":   {"batch", "batch", "service", "batch", "service", "batch"},
		"service":         {"service", "service", "service", "service", "service", "service"},
		"batch":           {"batch", "batch", "batch", "batch", "batch", "batch"},
	}
	for mount, results := range want {
		for i, role := range roles {
			if got := tokenparams.Resolve(mount, role); got != results[i] {
				t.Errorf("Resolve(mount %q, role %q) = %q, want %q", mount, role, got, results[i])
			}
		}
	}
}

// Legacy names count as their current name unless both are sent, and go
// through the same checks (a batch role cannot be periodic by either name).
func TestParseAliased(t *testing.T) {
	aliases := map[string]string{"period": "token_period", "bound_cidrs": "token_bound_cidrs"}
	var p tokenparams.Params
	if err := p.ParseAliased(map[string]any{"period": "1h", "bound_cidrs": "10.0.0.0/8"}, aliases); err != nil ||
		p.Period != time.Hour || len(p.BoundCIDRs) != 1 || p.BoundCIDRs[0] != "10.0.0.0/8" {
		t.Fatalf("legacy names: %+v, %v", p, err)
	}
	data := map[string]any{"period": "1h", "token_period": "2h"}
	if err := p.ParseAliased(data, aliases); err != nil || p.Period != 2*time.Hour {
		t.Fatalf("both names: period %v, %v; want the current name's 2h", p.Period, err)
	}
	if _, ok := data["token_period"]; !ok || len(data) != 2 {
		t.Errorf("ParseAliased modified its input: %v", data)
	}
	for _, bad := range []map[string]any{
		{"token_type": "batch", "period": "1h"},
		{"bound_cidrs": "10.0.0.0/33"},
	} {
		var q tokenparams.Params
		if err := q.ParseAliased(bad, aliases); err == nil {
			t.Errorf("ParseAliased(%v) accepted", bad)
		}
	}
}
