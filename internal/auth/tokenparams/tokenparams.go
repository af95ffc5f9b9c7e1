// Package tokenparams parses and stores the token_* fields that Vault auth
// methods share (token_policies, token_ttl, token_bound_cidrs, ...) and turns
// them into a logical.Auth. It holds no secret and never checks policies:
// the core and the token store do.
package tokenparams

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// Params are the token settings of a role or user.
type Params struct {
	Policies        []string      `json:"token_policies,omitempty"`
	TTL             time.Duration `json:"token_ttl,omitempty"`
	MaxTTL          time.Duration `json:"token_max_ttl,omitempty"`
	ExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl,omitempty"`
	Period          time.Duration `json:"token_period,omitempty"`
	NumUses         int           `json:"token_num_uses,omitempty"`
	BoundCIDRs      []string      `json:"token_bound_cidrs,omitempty"`
	NoDefaultPolicy bool          `json:"token_no_default_policy,omitempty"`
	Type            string        `json:"token_type,omitempty"`
}

// Fields are the request keys Parse understands, for UnknownFields.
var Fields = []string{
	"token_policies", "policies", "token_ttl", "token_max_ttl", "token_explicit_max_ttl",
	"token_period", "token_num_uses", "token_bound_cidrs", "token_no_default_policy", "token_type",
}

// Aliases are the legacy names Parse accepts, for logical.FieldAliaser.
var Aliases = map[string]string{"policies": "token_policies"}

// Parse updates p from the token_* keys present in data (absent keys keep
// their value, so it serves both create and update). "policies" is
// accepted as Vault's deprecated alias of token_policies.
func (p *Params) Parse(data map[string]any) error {
	for _, key := range []string{"policies", "token_policies"} {
		v, ok, err := logical.Strings(data, key)
		if err != nil {
			return err
		}
		if ok {
			p.Policies = normalize(v)
			for _, name := range p.Policies {
				if err := policy.ValidName(name); err != nil {
					return logical.BadRequest("field %q: %v", key, err)
				}
			}
		}
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"token_ttl", &p.TTL}, {"token_max_ttl", &p.MaxTTL},
		{"token_explicit_max_ttl", &p.ExplicitMaxTTL}, {"token_period", &p.Period},
	}
	for _, d := range durs {
		v, ok, err := logical.Duration(data, d.key)
		if err != nil {
			return err
		}
		if ok {
			*d.dst = v
		}
	}
	if v, ok, err := logical.Int(data, "token_num_uses"); err != nil {
		return err
	} else if ok {
		if v < 0 {
			return logical.BadRequest("field %q: must not be negative", "token_num_uses")
		}
		p.NumUses = v
	}
	if v, ok, err := logical.Strings(data, "token_bound_cidrs"); err != nil {
		return err
	} else if ok {
		if err := ValidateCIDRs("token_bound_cidrs", v); err != nil {
			return err
		}
		p.BoundCIDRs = v
	}
	if v, ok, err := logical.Bool(data, "token_no_default_policy"); err != nil {
		return err
	} else if ok {
		p.NoDefaultPolicy = v
	}
	if v, ok, err := logical.Str(data, "token_type"); err != nil {
		return err
	} else if ok {
		switch v {
		case "", "default", "service", "default-service":
			p.Type = v
		default:
			return logical.BadRequest("field %q: only service tokens are supported", "token_type")
		}
	}
	if p.MaxTTL > 0 && p.TTL > p.MaxTTL {
		return logical.BadRequest("field %q: must not exceed token_max_ttl", "token_ttl")
	}
	return nil
}

// Auth returns a login Auth carrying p. The caller adds metadata, alias and
// display name.
func (p *Params) Auth() *logical.Auth {
	return &logical.Auth{
		Policies:        slices.Clone(p.Policies),
		TTL:             p.TTL,
		MaxTTL:          p.MaxTTL,
		ExplicitMaxTTL:  p.ExplicitMaxTTL,
		Period:          p.Period,
		NumUses:         p.NumUses,
		BoundCIDRs:      slices.Clone(p.BoundCIDRs),
		NoDefaultPolicy: p.NoDefaultPolicy,
		Renewable:       true,
	}
}

// Map returns p as the token_* keys of a read response.
func (p *Params) Map(into map[string]any) {
	into["token_policies"] = nonNil(p.Policies)
	into["policies"] = nonNil(p.Policies)
	into["token_ttl"] = int64(p.TTL / time.Second)
	into["token_max_ttl"] = int64(p.MaxTTL / time.Second)
	into["token_explicit_max_ttl"] = int64(p.ExplicitMaxTTL / time.Second)
	into["token_period"] = int64(p.Period / time.Second)
	into["token_num_uses"] = p.NumUses
	into["token_bound_cidrs"] = nonNil(p.BoundCIDRs)
	into["token_no_default_policy"] = p.NoDefaultPolicy
	t := p.Type
	if t == "" {
		t = "default"
	}
	into["token_type"] = t
}

// ValidateCIDRs checks that every entry is a CIDR block or a bare IP; field
// names the request key in the error.
func ValidateCIDRs(field string, cidrs []string) error {
	for _, c := range cidrs {
		if _, err := ParsePrefix(c); err != nil {
			return logical.BadRequest("field %q: invalid CIDR block", field)
		}
	}
	return nil
}

// ParsePrefix parses a CIDR block or a bare IP (as a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// AddrAllowed reports whether remote (an IP without port) lies in one of
// cidrs. An empty list allows every address; an unparsable remote address
// is allowed by no list.
func AddrAllowed(cidrs []string, remote string) bool {
	if len(cidrs) == 0 {
		return true
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, c := range cidrs {
		p, err := ParsePrefix(c)
		if err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

func normalize(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
