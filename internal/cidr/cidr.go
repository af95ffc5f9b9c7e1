// Package cidr is Keyward's one parser of address blocks: every bound-CIDR
// field of the auth methods (token_bound_cidrs, secret_id_bound_cidrs,
// cert's and token roles' bound_cidrs), the operator endpoints' allowed
// CIDRs and a listener's trusted proxies parse their entries here, so an
// IPv4-mapped address or a bare address means the same thing everywhere. It
// imports only the standard library.
package cidr

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Parse parses one entry: a CIDR block or a bare address, which stands for
// itself (a /32 or /128). The block is masked ("10.1.2.3/8" is
// 10.0.0.0/8). An IPv4-mapped IPv6 entry ("::ffff:10.0.0.0/104",
// "::ffff:10.0.0.1") is the IPv4 block it maps, so it matches the IPv4
// clients it names exactly as the IPv4 spelling does; a mapped block shorter
// than /96 mixes IPv4 and IPv6 and is refused. Empty strings, zones and
// anything else are refused.
func Parse(s string) (netip.Prefix, error) {
	p, err := parse(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// ParseExact is Parse for lists where a typo must not widen what is
// trusted: an entry with host bits set ("10.0.0.1/8") is refused rather
// than masked, and the error says which block was probably meant.
func ParseExact(s string) (netip.Prefix, error) {
	p, err := parse(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("host bits are set (did you mean %s?)", p.Masked())
	}
	return p, nil
}

// parse is Parse without the masking.
func parse(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, errors.New("not a CIDR block")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR block")
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
	return p, nil
}

// Contains reports whether remote (an IP without port) lies in one of
// prefixes, which come from Parse. An empty list allows every address; an
// unparsable remote address (or one with a zone) is allowed by no list. An
// IPv4-mapped remote address is taken as the IPv4 address.
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
