package node

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
)

// withSanitizedConfig serves sys/config/state/sanitized (sudo, as every
// sys/config path): the running configuration in Vault's shape. It holds no
// secret to strip: the configuration names TLS keys by path, never their
// contents, and holds no token or password.
func withSanitizedConfig(cfg *config.Config, cc *core.Config, _ *slog.Logger) error {
	data := sanitizedConfig(cfg)
	cc.SysServices = append(cc.SysServices, core.SysService{
		Prefix:  "config/state/",
		Storage: "sys/config-state/", // unused: the snapshot is built at start
		Factory: func(context.Context, logical.Storage, *slog.Logger) (logical.Backend, error) {
			return sanitizedBackend{data}, nil
		},
	})
	return nil
}

type sanitizedBackend struct{ data map[string]any }

func (b sanitizedBackend) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Path != "config/state/sanitized" {
		return nil, logical.Errorf(http.StatusNotFound, "unsupported path %q", "sys/"+req.Path)
	}
	if req.Operation != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	return &logical.Response{Data: b.data}, nil
}

// sanitizedConfig renders cfg the way Vault's sys/config/state/sanitized
// does: top-level settings, listeners with their config, storage by type.
func sanitizedConfig(cfg *config.Config) map[string]any {
	secs := func(d time.Duration) int64 { return int64(d / time.Second) }
	listeners := make([]any, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		listeners = append(listeners, map[string]any{
			"type": l.Type,
			"config": map[string]any{
				"address":                           l.Address,
				"tls_disable":                       l.TLSDisable,
				"tls_cert_file":                     l.TLSCertFile,
				"tls_key_file":                      l.TLSKeyFile,
				"tls_min_version":                   l.TLSMinVersion,
				"x_forwarded_for_authorized_addrs":  l.TrustedProxies,
				"http_read_timeout":                 secs(l.ReadTimeout),
				"http_write_timeout":                secs(l.WriteTimeout),
				"http_idle_timeout":                 secs(l.IdleTimeout),
				"http_read_header_timeout":          secs(l.ReadHeaderTimeout),
				"http_unauthenticated_idle_timeout": secs(l.UnauthenticatedIdleTimeout),
				"max_connections":                   l.MaxConnections,
				"max_connections_per_address":       l.MaxConnectionsPerAddress,
			},
		})
	}
	return map[string]any{
		"api_addr":                         cfg.APIAddr,
		"cluster_name":                     cfg.ClusterName,
		"default_lease_ttl":                secs(cfg.DefaultLeaseTTL),
		"max_lease_ttl":                    secs(cfg.MaxLeaseTTL),
		"disable_mlock":                    cfg.DisableMlock,
		"log_level":                        cfg.LogLevel,
		"log_format":                       cfg.LogFormat,
		"ui":                               cfg.UI,
		"max_request_size":                 cfg.MaxRequestSize,
		"max_unauthenticated_request_size": cfg.MaxUnauthenticatedRequestSize,
		"max_inflight_request_bytes":       cfg.MaxInFlightRequestBytes,
		"listeners":                        listeners,
		"storage":                          map[string]any{"type": cfg.Storage.Type, "path": cfg.Storage.Path},
		"audit": map[string]any{"dir": cfg.Audit.Dir, "allow_log_raw": cfg.Audit.AllowLogRaw,
			"allow_unsafe_paths": cfg.Audit.AllowUnsafePaths},
		"rate_limit":      map[string]any{"requests_per_second": cfg.RateLimit.RequestsPerSecond, "burst": cfg.RateLimit.Burst},
		"login_limits":    map[string]any{"failures_per_address": cfg.LoginLimits.FailuresPerAddress, "failures_per_user": cfg.LoginLimits.FailuresPerUser},
		"operator_access": map[string]any{"allowed_cidrs": cfg.Operator.AllowedCIDRs, "requests_per_address": cfg.Operator.RequestsPerAddress},
	}
}
