package tokenparams

import (
	"net/netip"

	"github.com/keyward/keyward/internal/cidr"
	"github.com/keyward/keyward/internal/logical"
)

// ParseCIDRs parses every entry of cidrs with cidr.Parse, the one parser of
// address blocks; nil for an empty list. field names the request key in the
// error, which gives the entry's position, never its text.
func ParseCIDRs(field string, cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, c := range cidrs {
		p, err := cidr.Parse(c)
		if err != nil {
			return nil, logical.BadRequest("field %q: entry %d is not a CIDR block or IP address", field, i)
		}
		out = append(out, p)
	}
	return out, nil
}

// ValidateCIDRs checks that every entry is a CIDR block or a bare IP (see
// cidr.Parse); field names the request key in the error.
func ValidateCIDRs(field string, cidrs []string) error {
	_, err := ParseCIDRs(field, cidrs)
	return err
}

// AddrAllowed reports whether remote lies in one of cidrs (see cidr.Contains).
// An empty list allows every address; an entry that does not parse allows
// none.
func AddrAllowed(cidrs []string, remote string) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if p, err := cidr.Parse(c); err == nil && cidr.Contains([]netip.Prefix{p}, remote) {
			return true
		}
	}
	return false
}
