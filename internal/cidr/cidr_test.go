package cidr_test

import (
	"net/netip"
	"testing"

	"github.com/keyward/keyward/internal/cidr"
)

// The bound-CIDR table (Parse, through every auth method's fields) lives
// in internal/auth/tokenparams; this one covers what is cidr's own: exact
// parsing for trusted lists, and matching.
func TestParseExact(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.0.0.1/8", ""}, // host bits: a typo must not widen trust
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:10.0.0.1/104", ""},
		{"::ffff:10.0.0.0/8", ""},
		{"fe80::1%eth0", ""},
		{"", ""},
		{"10.0.0.0/33", ""},
	}
	for _, tt := range tests {
		got, err := cidr.ParseExact(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseExact(%q) = %v, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got != netip.MustParsePrefix(tt.want)):
			t.Errorf("ParseExact(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
		if tt.want != "" {
			if p, err := cidr.Parse(tt.in); err != nil || p != got {
				t.Errorf("Parse(%q) = %v, %v; ParseExact gave %v", tt.in, p, err, got)
			}
		}
	}
	if _, err := cidr.ParseExact("10.0.0.1/8"); err == nil || err.Error() != "host bits are set (did you mean 10.0.0.0/8?)" {
		t.Errorf("ParseExact error = %v", err)
	}
}

func TestContains(t *testing.T) {
	v4 := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		prefixes []netip.Prefix
		remote   string
		want     bool
	}{
		{nil, "203.0.113.9", true}, // an empty list allows every address
		{nil, "garbage", true},
		{v4, "10.1.2.3", true},
		{v4, "::ffff:10.1.2.3", true}, // a mapped client is its IPv4 address
		{v4, "11.0.0.1", false},
		{v4, "10.1.2.3:80", false}, // an address with a port is not an address
		{v4, "", false},
		{v4, "fe80::1%eth0", false},
		{[]netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}, "2001:db8::5", true},
		{[]netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}, "10.1.2.3", false},
	}
	for _, tt := range tests {
		if got := cidr.Contains(tt.prefixes, tt.remote); got != tt.want {
			t.Errorf("Contains(%v, %q) = %v, want %v", tt.prefixes, tt.remote, got, tt.want)
		}
	}
}
