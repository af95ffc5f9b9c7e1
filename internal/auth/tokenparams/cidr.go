package tokenparams

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// ParsePrefix parses one bound-CIDR entry, the one parser behind every
// bound-CIDR field (token_bound_cidrs, secret_id_bound_cidrs, cert's and
// token roles' bound_cidrs, and the token store's own check). An entry is a
// CIDR block or a bare address, which stands for itself (a /32 or /128).
// The block is masked ("10.1.2.3/8" is 10.0.0.0/8). An IPv4-mapped IPv6
// entry ("::ffff:10.0.0.0/104", "::ffff:10.0.0.1") is the IPv4 block it
// maps, so it matches the IPv4 clients it names exactly as the IPv4
// spelling does; a mapped block shorter than /96 mixes IPv4 and IPv6 and is
// refused. Empty strings, zones and anything else are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an address with a zone is not a CIDR block")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("the block mixes IPv4 and IPv6")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// ParseCIDRs parses every entry of cidrs with ParsePrefix; nil for an empty
// list. field names the request key in the error, which gives the entry's
// position, never its text.
func ParseCIDRs(field string, cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			return nil, logical.BadRequest("field %q: entry %d is not a CIDR block or IP address", field, i)
		}
		out = append(out, p)
	}
	return out, nil
}

// ValidateCIDRs checks that every entry is a CIDR block or a bare IP (see
// ParsePrefix); field names the request key in the error.
func ValidateCIDRs(field string, cidrs []string) error {
	_, err := ParseCIDRs(field, cidrs)
	return err
}

// Contains reports whether remote (an IP without port) lies in one of
// prefixes, which come from ParsePrefix. An empty list allows every
// address; an unparsable remote address (or one with a zone) is allowed by
// no list. An IPv4-mapped remote address is taken as the IPv4 address.
func Contains(prefixes []netip.Prefix, remote string) bool {
	if len(prefixes) == 0 {
		return true
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AddrAllowed reports whether remote lies in one of cidrs (see Contains).
// An empty list allows every address; an entry that does not parse allows
// none.
func AddrAllowed(cidrs []string, remote string) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if p, err := ParsePrefix(c); err == nil && Contains([]netip.Prefix{p}, remote) {
			return true
		}
	}
	return false
}
