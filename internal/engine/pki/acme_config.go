package pki

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// acmeConfig is config/acme: whether the ACME server answers, which
// directories it serves and how it validates challenges.
type acmeConfig struct {
	Enabled                bool     `json:"enabled"`
	AllowedIssuers         []string `json:"allowed_issuers"`
	AllowedRoles           []string `json:"allowed_roles"`
	AllowRoleExtKeyUsage   bool     `json:"allow_role_ext_key_usage"`
	DefaultDirectoryPolicy string   `json:"default_directory_policy"`
	EABPolicy              string   `json:"eab_policy"`
	DNSResolver            string   `json:"dns_resolver"`
	// AllowedValidationNetworks are the non-public networks challenge
	// validation may connect to (loopback, private, link-local). Public
	// addresses are always allowed.
	AllowedValidationNetworks []string `json:"allowed_validation_networks"`
	// HTTPChallengePort and TLSChallengePort replace 80 and 443, for tests
	// whose challenge servers listen on a free loopback port.
	HTTPChallengePort int `json:"http_challenge_port"`
	TLSChallengePort  int `json:"tls_challenge_port"`
}

func defaultACMEConfig() acmeConfig {
	return acmeConfig{AllowedIssuers: []string{"*"}, AllowedRoles: []string{"*"}, DefaultDirectoryPolicy: "sign-verbatim",
		EABPolicy: "not-required", HTTPChallengePort: 80, TLSChallengePort: 443}
}

var acmeConfigFields = logical.Fields{
	{Name: "enabled", Type: logical.TypeBool, Description: "Serve the ACME directories of this mount."},
	{Name: "allowed_issuers", Type: logical.TypeSlice, Description: "Issuers ACME may use (IDs or names, * for all)."},
	{Name: "allowed_roles", Type: logical.TypeSlice, Description: "Roles ACME may use (* for all)."},
	{Name: "allow_role_ext_key_usage", Type: logical.TypeBool, Description: "Use the role's extended key usages instead of serverAuth only."},
	{Name: "default_directory_policy", Type: logical.TypeString, Description: "Policy of acme/ and issuer/REF/acme/: sign-verbatim, forbid or role:NAME."},
	{Name: "eab_policy", Type: logical.TypeString, Description: "External account binding: not-required, new-account-required or always-required."},
	{Name: "dns_resolver", Type: logical.TypeString, Description: "host:port of the DNS server used for validation (empty: the system resolver)."},
	{Name: "allowed_validation_networks", Type: logical.TypeSlice, Description: "Non-public CIDRs validation may connect to (loopback, private)."},
	{Name: "http_challenge_port", Type: logical.TypeInt, Description: "Port http-01 validation connects to (80; change only for tests)."},
	{Name: "tls_challenge_port", Type: logical.TypeInt, Description: "Port tls-alpn-01 validation connects to (443; change only for tests)."},
}

func loadACMEConfig(ctx context.Context, s logical.Storage) (acmeConfig, error) {
	c := defaultACMEConfig()
	_, err := logical.GetJSON(ctx, s, "config/acme", &c)
	return c, err
}

func (c acmeConfig) data() map[string]any {
	return map[string]any{
		"enabled": c.Enabled, "allowed_issuers": orEmpty(c.AllowedIssuers), "allowed_roles": orEmpty(c.AllowedRoles),
		"allow_role_ext_key_usage": c.AllowRoleExtKeyUsage, "default_directory_policy": c.DefaultDirectoryPolicy,
		"eab_policy": c.EABPolicy, "dns_resolver": c.DNSResolver, "allowed_validation_networks": orEmpty(c.AllowedValidationNetworks),
		"http_challenge_port": c.HTTPChallengePort, "tls_challenge_port": c.TLSChallengePort,
	}
}

func (b *backend) readACMEConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := loadACMEConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: c.data()}, nil
}

func (b *backend) writeACMEConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := acmeConfigFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	c, err := loadACMEConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	d := req.Data
	if c.Enabled, err = boolean(d, "enabled", c.Enabled); err != nil {
		return nil, err
	}
	if c.AllowRoleExtKeyUsage, err = boolean(d, "allow_role_ext_key_usage", c.AllowRoleExtKeyUsage); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*[]string{"allowed_issuers": &c.AllowedIssuers, "allowed_roles": &c.AllowedRoles,
		"allowed_validation_networks": &c.AllowedValidationNetworks} {
		if v, ok, err := logical.Strings(d, key); err != nil {
			return nil, err
		} else if ok {
			*dst = v
		}
	}
	for key, dst := range map[string]*string{"default_directory_policy": &c.DefaultDirectoryPolicy, "eab_policy": &c.EABPolicy, "dns_resolver": &c.DNSResolver} {
		if v, ok, err := logical.Str(d, key); err != nil {
			return nil, err
		} else if ok {
			*dst = v
		}
	}
	if c.HTTPChallengePort, err = integer(d, "http_challenge_port", c.HTTPChallengePort); err != nil {
		return nil, err
	}
	if c.TLSChallengePort, err = integer(d, "tls_challenge_port", c.TLSChallengePort); err != nil {
		return nil, err
	}
	if err := c.validate(ctx, req.Storage); err != nil {
		return nil, err
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/acme", c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: c.data()}, nil
}

func (c acmeConfig) validate(ctx context.Context, s logical.Storage) error {
	switch p := c.DefaultDirectoryPolicy; {
	case p == "sign-verbatim", p == "forbid":
	case strings.HasPrefix(p, "role:"):
		name := strings.TrimPrefix(p, "role:")
		r, err := loadRole(ctx, s, name)
		if err != nil {
			return err
		}
		if r == nil {
			return logical.BadRequest("default_directory_policy: unknown role %s", name)
		}
	default:
		return logical.BadRequest("default_directory_policy must be sign-verbatim, forbid or role:NAME")
	}
	if !slices.Contains([]string{"not-required", "new-account-required", "always-required"}, c.EABPolicy) {
		return logical.BadRequest("eab_policy must be not-required, new-account-required or always-required")
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			return logical.BadRequest("dns_resolver must be host:port")
		}
	}
	for _, n := range c.AllowedValidationNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			return logical.BadRequest("allowed_validation_networks: %q is not a CIDR", n)
		}
	}
	for _, p := range []int{c.HTTPChallengePort, c.TLSChallengePort} {
		if p < 1 || p > 65535 {
			return logical.BadRequest("challenge ports must be between 1 and 65535")
		}
	}
	return nil
}

// clusterConfig is config/cluster: the mount's own URL, which ACME puts
// in every URL it hands out (as Vault does; the Host header is not
// trusted for it).
type clusterConfig struct {
	Path    string `json:"path"`
	AIAPath string `json:"aia_path"`
}

var clusterFields = logical.Fields{
	{Name: "path", Type: logical.TypeString, Description: "This mount's URL, e.g. https://keyward.example:8200/v1/pki."},
	{Name: "aia_path", Type: logical.TypeString, Description: "This mount's URL for AIA (not used by ACME)."},
}

func loadCluster(ctx context.Context, s logical.Storage) (clusterConfig, error) {
	var c clusterConfig
	_, err := logical.GetJSON(ctx, s, "config/cluster", &c)
	return c, err
}

func (b *backend) readCluster(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := loadCluster(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"path": c.Path, "aia_path": c.AIAPath}}, nil
}

func (b *backend) writeCluster(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := clusterFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	c, err := loadCluster(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	for key, dst := range map[string]*string{"path": &c.Path, "aia_path": &c.AIAPath} {
		v, ok, err := logical.Str(req.Data, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		v = strings.TrimRight(v, "/")
		if v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, logical.BadRequest("%s must be an absolute http(s) URL", key)
			}
		}
		*dst = v
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/cluster", c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"path": c.Path, "aia_path": c.AIAPath}}, nil
}

// allowedNet reports whether validation may connect to a: any public
// unicast address, or one inside the configured allowed networks.
func (c acmeConfig) allowedNet(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range c.AllowedValidationNetworks {
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(a) {
			return true
		}
	}
	return a.IsGlobalUnicast() && !a.IsPrivate() && !isSpecial(a)
}

// isSpecial covers the ranges IsGlobalUnicast lets through that are
// still not the public internet (CGNAT, benchmarking, documentation,
// 6to4 relay, ULA is IsPrivate).
func isSpecial(a netip.Addr) bool {
	for _, p := range specialNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var specialNets = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32", "64:ff9b::/96", "100::/64"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()
