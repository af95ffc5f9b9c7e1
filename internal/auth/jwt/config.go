package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Config is the mount's config (auth/<mount>/config): where signing keys
// come from and which issuer to expect. Exactly one key source is set.
type Config struct {
	OIDCDiscoveryURL   string   `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM string   `json:"oidc_discovery_ca_pem"`
	JWKSURL            string   `json:"jwks_url"`
	JWKSCAPEM          string   `json:"jwks_ca_pem"`
	JWTValidationKeys  []string `json:"jwt_validation_pubkeys"`
	BoundIssuer        string   `json:"bound_issuer"`
	JWTSupportedAlgs   []string `json:"jwt_supported_algs"`
	DefaultRole        string   `json:"default_role"`
	// AllowPrivateNetwork lets discovery and JWKS URLs reach loopback,
	// private and link-local addresses (an in-cluster issuer, tests).
	AllowPrivateNetwork bool `json:"allow_private_network"`
	// JWKSCacheTTL is how long fetched keys are used before a refetch;
	// JWKSMinRefresh the least time between two fetches caused by unknown
	// kids or stale caches.
	JWKSCacheTTL   time.Duration `json:"jwks_cache_ttl"`
	JWKSMinRefresh time.Duration `json:"jwks_min_refresh_interval"`
}

// Config defaults.
const (
	DefaultJWKSCacheTTL   = time.Hour
	DefaultJWKSMinRefresh = time.Minute
)

var configFields = configDocs.Names()

// parseConfig merges request data into c (an existing config or zero).
func parseConfig(c Config, data map[string]any) (Config, error) {
	if err := logical.UnknownFields(data, configFields...); err != nil {
		return c, err
	}
	for _, f := range []string{"oidc_client_id", "oidc_client_secret", "oidc_response_mode", "oidc_response_types", "provider_config"} {
		if v, ok := data[f]; ok && v != nil && v != "" {
			return c, logical.BadRequest("field %q: the OIDC browser flow is not supported; use role_type=jwt", f)
		}
	}
	var errs []error
	read(&errs, data, logical.Str, "oidc_discovery_url", &c.OIDCDiscoveryURL)
	read(&errs, data, logical.Str, "oidc_discovery_ca_pem", &c.OIDCDiscoveryCAPEM)
	read(&errs, data, logical.Str, "jwks_url", &c.JWKSURL)
	read(&errs, data, logical.Str, "jwks_ca_pem", &c.JWKSCAPEM)
	read(&errs, data, logical.Str, "bound_issuer", &c.BoundIssuer)
	read(&errs, data, logical.Str, "default_role", &c.DefaultRole)
	if v, ok := data["jwt_validation_pubkeys"]; ok {
		if s, isStr := v.(string); isStr {
			// One PEM string (possibly several blocks): commas are not separators.
			c.JWTValidationKeys = nil
			if s != "" {
				c.JWTValidationKeys = []string{s}
			}
		} else if l, _, err := logical.Strings(data, "jwt_validation_pubkeys"); err != nil {
			errs = append(errs, err)
		} else {
			c.JWTValidationKeys = l
		}
	}
	read(&errs, data, logical.Strings, "jwt_supported_algs", &c.JWTSupportedAlgs)
	read(&errs, data, logical.Bool, "allow_private_network", &c.AllowPrivateNetwork)
	read(&errs, data, logical.Duration, "jwks_cache_ttl", &c.JWKSCacheTTL)
	read(&errs, data, logical.Duration, "jwks_min_refresh_interval", &c.JWKSMinRefresh)
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.validate()
}

// validate checks a config without fetching anything.
func (c Config) validate() error {
	n := 0
	for _, set := range []bool{c.OIDCDiscoveryURL != "", c.JWKSURL != "", len(c.JWTValidationKeys) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return logical.BadRequest("exactly one of oidc_discovery_url, jwks_url and jwt_validation_pubkeys must be set")
	}
	if c.OIDCDiscoveryCAPEM != "" && c.OIDCDiscoveryURL == "" {
		return logical.BadRequest("oidc_discovery_ca_pem needs oidc_discovery_url")
	}
	if c.JWKSCAPEM != "" && c.JWKSURL == "" {
		return logical.BadRequest("jwks_ca_pem needs jwks_url")
	}
	for _, a := range c.JWTSupportedAlgs {
		if !slices.Contains(SupportedAlgs, a) {
			return logical.BadRequest("jwt_supported_algs: %q is not supported (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)", clip(a))
		}
	}
	for key, u := range map[string]string{"oidc_discovery_url": c.OIDCDiscoveryURL, "jwks_url": c.JWKSURL} {
		if u == "" {
			continue
		}
		if _, err := checkURL(u, policyFor(c.AllowPrivateNetwork)); err != nil {
			return logical.BadRequest("%s: %v", key, err)
		}
	}
	if c.JWKSCacheTTL < 0 || c.JWKSMinRefresh < 0 {
		return logical.BadRequest("jwks_cache_ttl and jwks_min_refresh_interval must not be negative")
	}
	if len(c.JWTValidationKeys) > 0 {
		if _, err := parsePublicKeys(c.JWTValidationKeys); err != nil {
			return logical.BadRequest("%v", err)
		}
	}
	if c.DefaultRole != "" && !validName(c.DefaultRole) {
		return logical.BadRequest("default_role: invalid role name")
	}
	return nil
}

// algs returns the algorithms tokens may use under c.
func (c Config) algs() []string {
	if len(c.JWTSupportedAlgs) == 0 {
		return SupportedAlgs
	}
	return c.JWTSupportedAlgs
}

// keySet builds the key source described by c.
func (c Config) keySet(now func() time.Time) (*keySet, error) {
	ks := &keySet{now: now, cacheTTL: c.JWKSCacheTTL, minRefresh: c.JWKSMinRefresh}
	if ks.cacheTTL == 0 {
		ks.cacheTTL = DefaultJWKSCacheTTL
	}
	if ks.minRefresh == 0 {
		ks.minRefresh = DefaultJWKSMinRefresh
	}
	switch {
	case len(c.JWTValidationKeys) > 0:
		keys, err := parsePublicKeys(c.JWTValidationKeys)
		if err != nil {
			return nil, logical.BadRequest("%v", err)
		}
		ks.static = keys
	case c.OIDCDiscoveryURL != "":
		f, err := newFetcher(c.OIDCDiscoveryCAPEM, policyFor(c.AllowPrivateNetwork))
		if err != nil {
			return nil, logical.BadRequest("oidc_discovery_ca_pem: %v", err)
		}
		ks.fetch, ks.discoveryURL = f, c.OIDCDiscoveryURL
	default:
		f, err := newFetcher(c.JWKSCAPEM, policyFor(c.AllowPrivateNetwork))
		if err != nil {
			return nil, logical.BadRequest("jwks_ca_pem: %v", err)
		}
		ks.fetch, ks.jwksURL = f, c.JWKSURL
	}
	return ks, nil
}

// view is the config as returned by a read.
func (c Config) view() map[string]any {
	return map[string]any{
		"oidc_discovery_url":        c.OIDCDiscoveryURL,
		"oidc_discovery_ca_pem":     c.OIDCDiscoveryCAPEM,
		"jwks_url":                  c.JWKSURL,
		"jwks_ca_pem":               c.JWKSCAPEM,
		"jwt_validation_pubkeys":    nonNil(c.JWTValidationKeys),
		"bound_issuer":              c.BoundIssuer,
		"jwt_supported_algs":        nonNil(c.JWTSupportedAlgs),
		"default_role":              c.DefaultRole,
		"allow_private_network":     c.AllowPrivateNetwork,
		"jwks_cache_ttl":            int64(c.JWKSCacheTTL / time.Second),
		"jwks_min_refresh_interval": int64(c.JWKSMinRefresh / time.Second),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const configKey = "config"

// loadConfig returns the stored config and its raw bytes (nil when unset).
func loadConfig(ctx context.Context, s logical.Storage) (*Config, []byte, error) {
	raw, err := s.Get(ctx, configKey)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	if raw == nil {
		return nil, nil, nil
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("decode config: %w", err)
	}
	return &c, raw, nil
}
