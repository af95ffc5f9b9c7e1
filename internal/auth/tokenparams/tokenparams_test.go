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
		{"token_type": "batch"},
		{"token_policies": 5},
	} {
		q := p
		if err := q.Parse(bad); err == nil {
			t.Errorf("Parse(%v) accepted", bad)
		}
	}
}

func TestAddrAllowed(t *testing.T) {
	tests := []struct {
		cidrs  []string
		remote string
		want   bool
	}{
		{nil, "203.0.113.9", true},
		{[]string{"127.0.0.1/32"}, "127.0.0.1", true},
		{[]string{"127.0.0.1/32"}, "127.0.0.2", false},
		{[]string{"127.0.0.1"}, "127.0.0.1", true},
		{[]string{"10.0.0.0/8"}, "::ffff:10.1.2.3", true},
		{[]string{"10.0.0.0/8"}, "", false},
		{[]string{"10.0.0.0/8"}, "garbage", false},
		{[]string{"2001:db8::/32"}, "2001:db8::1", true},
	}
	for _, tt := range tests {
		if got := tokenparams.AddrAllowed(tt.cidrs, tt.remote); got != tt.want {
			t.Errorf("AddrAllowed(%v, %q) = %v, want %v", tt.cidrs, tt.remote, got, tt.want)
		}
	}
}
