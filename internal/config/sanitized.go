package config

// Sanitized returns the configuration as sys/config/state/sanitized reports
// it, in Vault's shape (its key names, durations in nanoseconds as Vault's
// JSON has them) plus Keyward's own blocks under their HCL names. It holds
// nothing secret: the one secret setting today, the postgresql storage's
// connection_url, is left out (as Vault leaves it out), and so is every
// seal setting (the transit token, the HSM PIN): seals show type and state.
func (c *Config) Sanitized() map[string]any {
	listeners := make([]any, 0, len(c.Listeners))
	for _, l := range c.Listeners {
		conf := map[string]any{
			"address":                           l.Address,
			"tls_disable":                       l.TLSDisable,
			"tls_cert_file":                     l.TLSCertFile,
			"tls_key_file":                      l.TLSKeyFile,
			"tls_min_version":                   l.TLSMinVersion,
			"x_forwarded_for_authorized_addrs":  nonNil(l.TrustedProxies),
			"http_read_timeout":                 l.ReadTimeout.String(),
			"http_write_timeout":                l.WriteTimeout.String(),
			"http_idle_timeout":                 l.IdleTimeout.String(),
			"http_read_header_timeout":          l.ReadHeaderTimeout.String(),
			"http_unauthenticated_idle_timeout": l.UnauthenticatedIdleTimeout.String(),
			"max_connections":                   l.MaxConnections,
			"max_connections_per_address":       l.MaxConnectionsPerAddress,
		}
		listeners = append(listeners, map[string]any{"type": l.Type, "config": conf})
	}
	return map[string]any{
		"api_addr":                         c.APIAddr,
		"cluster_name":                     c.ClusterName,
		"default_lease_ttl":                int64(c.DefaultLeaseTTL),
		"max_lease_ttl":                    int64(c.MaxLeaseTTL),
		"disable_mlock":                    c.DisableMlock,
		"enable_ui":                        c.UI,
		"log_level":                        c.LogLevel,
		"log_format":                       c.LogFormat,
		"listeners":                        listeners,
		"storage":                          map[string]any{"type": c.Storage.Type, "redirect_addr": c.APIAddr, "cluster_addr": c.ClusterAddr, "disable_clustering": c.Storage.Type != "raft" && !c.Storage.HAEnabled},
		"seals":                            c.sanitizedSeals(),
		"max_request_size":                 c.MaxRequestSize,
		"max_unauthenticated_request_size": c.MaxUnauthenticatedRequestSize,
		"max_inflight_request_bytes":       c.MaxInFlightRequestBytes,
		"audit": map[string]any{
			"dir":                c.Audit.Dir,
			"allow_log_raw":      c.Audit.AllowLogRaw,
			"allow_unsafe_paths": c.Audit.AllowUnsafePaths,
		},
		"rate_limit": map[string]any{"requests_per_second": c.RateLimit.RequestsPerSecond, "burst": c.RateLimit.Burst},
		"login_limits": map[string]any{
			"failures_per_address": c.LoginLimits.FailuresPerAddress,
			"failures_per_user":    c.LoginLimits.FailuresPerUser,
		},
		"operator_access": map[string]any{
			"allowed_cidrs":        nonNil(c.Operator.AllowedCIDRs),
			"requests_per_address": c.Operator.RequestsPerAddress,
		},
	}
}

// sanitizedSeals lists the seal blocks by type and state only: a transit
// token, an HSM PIN and the other settings are never reported.
func (c *Config) sanitizedSeals() []any {
	if len(c.Seals) == 0 {
		return []any{map[string]any{"type": "shamir", "disabled": false}}
	}
	out := make([]any, 0, len(c.Seals))
	for _, sl := range c.Seals {
		out = append(out, map[string]any{"type": sl.Type, "disabled": sl.Disabled})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
