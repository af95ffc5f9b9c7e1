package tokenparams_test

import (
	"net/netip"
	"testing"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/cidr"
)

// Every bound-CIDR field goes through ParsePrefix, so one table covers
// token_bound_cidrs, secret_id_bound_cidrs, cert's bound_cidrs and token
// roles' bound_cidrs alike.
func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" means refused
	}{
		{"ipv4 block", "10.0.0.0/8", "10.0.0.0/8"},
		{"ipv4 block with host bits", "10.1.2.3/8", "10.0.0.0/8"},
		{"ipv4 bare address", "192.0.2.1", "192.0.2.1/32"},
		{"ipv4 /32", "192.0.2.1/32", "192.0.2.1/32"},
		{"ipv6 block", "2001:db8::/32", "2001:db8::/32"},
		{"ipv6 bare address", "2001:db8::1", "2001:db8::1/128"},
		{"ipv4-mapped bare address", "::ffff:10.0.0.1", "10.0.0.1/32"},
		{"ipv4-mapped block", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"ipv4-mapped /96 is all of ipv4", "::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"ipv4-mapped block mixing families", "::ffff:10.0.0.0/8", ""},
		{"prefix too long", "10.0.0.0/33", ""},
		{"garbage", "not-an-address", ""},
		{"empty", "", ""},
		{"only a slash", "/", ""},
		{"spaces", " 10.0.0.1", ""},
		{"zone", "fe80::1%eth0", ""},
		{"port", "10.0.0.1:80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cidr.Parse(tt.in)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("cidr.Parse(%q) = %v, want an error", tt.in, got)
			case tt.want != "" && (err != nil || got != netip.MustParsePrefix(tt.want)):
				t.Fatalf("cidr.Parse(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
			if err := tokenparams.ValidateCIDRs("token_bound_cidrs", []string{"10.0.0.0/8", tt.in}); (err == nil) != (tt.want != "") {
				t.Errorf("ValidateCIDRs(%q) = %v", tt.in, err)
			}
		})
	}
}

// An address matches a block the same way whichever way either is
// spelled: IPv4-mapped IPv6 is IPv4, in the list and in the caller's
// address, through AddrAllowed (lists as stored) and Contains (lists as
// parsed) alike.
func TestAddrAllowed(t *testing.T) {
	tests := []struct {
		cidrs  []string
		remote string
		want   bool
	}{
		{nil, "203.0.113.9", true},
		{nil, "garbage", true},
		{[]string{"127.0.0.1/32"}, "127.0.0.1", true},
		{[]string{"127.0.0.1/32"}, "127.0.0.2", false},
		{[]string{"127.0.0.1"}, "127.0.0.1", true},
		{[]string{"10.0.0.0/8"}, "10.255.0.1", true},
		{[]string{"10.0.0.0/8"}, "11.0.0.1", false},
		{[]string{"10.0.0.0/8"}, "::ffff:10.0.0.1", true},
		{[]string{"10.0.0.0/8"}, "::ffff:11.0.0.1", false},
		{[]string{"::ffff:10.0.0.0/104"}, "10.0.0.1", true},
		{[]string{"::ffff:10.0.0.0/104"}, "::ffff:10.0.0.1", true},
		{[]string{"::ffff:10.0.0.1"}, "10.0.0.1", true},
		{[]string{"::ffff:10.0.0.1"}, "10.0.0.2", false},
		{[]string{"10.0.0.1"}, "::ffff:10.0.0.1", true},
		{[]string{"10.0.0.0/8"}, "", false},
		{[]string{"10.0.0.0/8"}, "garbage", false},
		{[]string{"10.0.0.0/8"}, "10.0.0.1:443", false},
		{[]string{"2001:db8::/32"}, "2001:db8::1", true},
		{[]string{"2001:db8::/32"}, "2001:db9::1", false},
		{[]string{"2001:db8::1"}, "2001:db8::1", true},
		{[]string{"2001:db8::1"}, "fe80::1%eth0", false},
		{[]string{"::/0"}, "10.0.0.1", false}, // IPv6 blocks never hold IPv4 callers
		{[]string{"0.0.0.0/0"}, "2001:db8::1", false},
		{[]string{"garbage"}, "10.0.0.1", false},
		{[]string{""}, "10.0.0.1", false},
		{[]string{"garbage", "10.0.0.0/8"}, "10.0.0.1", true},
	}
	for _, tt := range tests {
		if got := tokenparams.AddrAllowed(tt.cidrs, tt.remote); got != tt.want {
			t.Errorf("AddrAllowed(%q, %q) = %v, want %v", tt.cidrs, tt.remote, got, tt.want)
		}
		prefixes, err := tokenparams.ParseCIDRs("token_bound_cidrs", tt.cidrs)
		if err != nil {
			continue // an unparsable list is refused when written
		}
		if got := cidr.Contains(prefixes, tt.remote); got != tt.want {
			t.Errorf("Contains(%q, %q) = %v, want %v", tt.cidrs, tt.remote, got, tt.want)
		}
	}
}

func TestParseCIDRsNamesPositionNotValue(t *testing.T) {
	_, err := tokenparams.ParseCIDRs("token_bound_cidrs", []string{"10.0.0.0/8", "s3cr3t-value"})
	if err == nil {
		t.Fatal("garbage accepted")
	}
	if got := err.Error(); got != `field "token_bound_cidrs": entry 1 is not a CIDR block or IP address` {
		t.Errorf("error = %q", got)
	}
}
