// Package config reads the server's HCL configuration into plain structs,
// fills defaults and validates, reporting every problem at once. It knows
// nothing of flags and reads no environment itself: overrides come through an
// injected getenv.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/keyward/keyward/internal/cidr"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/postgres"
)

// Config is the server configuration.
type Config struct {
	Listeners []Listener
	Storage   Storage
	// Seals are the seal blocks in file order: at most one enabled, and
	// at most one disabled (the seal a migration leaves). None means
	// Shamir.
	Seals []Seal
	// APIAddr is the URL clients use to reach this server (Vault's
	// api_addr); sys/leader reports it as leader_address.
	APIAddr string
	// ClusterAddr is the https://host:port other nodes reach this node's
	// cluster port at (Vault's cluster_addr); required with raft storage.
	ClusterAddr string
	LogLevel    string // debug, info, warn, error
	LogFormat   string // text or json
	// MaxRequestSize caps request bodies in bytes (default 32 MiB).
	MaxRequestSize  int64
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	ClusterName     string
	// UI is Vault's ui setting. Keyward has no web UI, so Validate refuses
	// true rather than accept it and serve nothing.
	UI bool
	// DisableMlock turns off locking the server's memory (mlockall), as in
	// Vault: set it where swap is off or encrypted, or where the process
	// cannot get CAP_IPC_LOCK and the start-up warning is understood.
	DisableMlock bool
	Audit        Audit
	RateLimit    RateLimit
	LoginLimits  LoginLimits
	Operator     OperatorAccess
	Watch        Watch
	// File is the file Load read ("" otherwise). Audit files may never be
	// it.
	File string
	// MaxUnauthenticatedRequestSize caps the bodies of requests served
	// without a client token (logins, unwrap, unseal, ...); zero means
	// 64 KiB or MaxRequestSize if that is smaller.
	MaxUnauthenticatedRequestSize int64
	// MaxInFlightRequestBytes bounds the bytes of all request bodies held
	// at once; zero means 256 MiB or MaxRequestSize if that is larger.
	MaxInFlightRequestBytes int64
	// Now, when set, is the clock of the core, the engines that take one
	// (KV) and the lease manager. It is never read from a file: tests set
	// it to a clocktest.Clock. Nil is time.Now.
	Now func() time.Time
}

// LoginLimits is the "login_limits" block: failed logins a client address,
// and one user from any address, may make in a burst before further logins
// get 429 (0 means the default, -1 turns the limit off).
type LoginLimits struct {
	FailuresPerAddress int
	FailuresPerUser    int
}

// Watch is the "watch" block: access events and baselines (docs/watch.md).
// Zero values take the defaults: 4096 events in the ring, 256 queued per
// subscriber, 10000 identities' baselines, UTC, a flush every minute.
type Watch struct {
	// Disable turns access events off: no events, baselines or
	// sys/events/subscribe.
	Disable          bool
	RingSize         int
	SubscriberBuffer int
	MaxIdentities    int
	// MaxAccessPaths bounds the secret paths the access index keeps
	// (default 50000, the reports' read history).
	MaxAccessPaths int
	// TimeZone is an IANA name ("Europe/Berlin") for baselines' hours and
	// weekdays.
	TimeZone      string
	FlushInterval time.Duration
	// DisableDetection keeps events and baselines but runs no detectors
	// (no sys/watch/rules, alerts or canaries).
	DisableDetection bool
	// AllowSeal lets a detection rule whose contain list names "seal"
	// seal the server; without it that action fails and is reported.
	AllowSeal bool
	// SinkNetworks, when set, are the only networks alert sinks may
	// connect to (sink_networks = ["10.0.0.0/8", "127.0.0.1"]); link-local,
	// unspecified and multicast addresses are refused whatever it says.
	SinkNetworks []netip.Prefix
}

// Location is the time zone TimeZone names (UTC when unset or unknown;
// Validate reports an unknown one).
func (w Watch) Location() *time.Location {
	if w.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// OperatorAccess is the "operator_access" block: who may write to the
// unauthenticated operator endpoints (sys/unseal, sys/init,
// sys/generate-root/*).
type OperatorAccess struct {
	// AllowedCIDRs, when set, are the only client networks accepted.
	AllowedCIDRs []string
	// RequestsPerAddress is the burst one client address may send (0 means
	// the default, -1 no limit).
	RequestsPerAddress int
}

// RateLimit is the "rate_limit" block: a per-client-address quota checked
// before request bodies are read. Zero RequestsPerSecond means no limit.
type RateLimit struct {
	RequestsPerSecond float64
	Burst             int
}

// Audit is the "audit" block: where audit files may live, and switches
// that let operators enable audit settings that are refused by default.
type Audit struct {
	// Dir is the only directory audit file devices may write in. Empty
	// means the default: an "audit" directory inside the storage path
	// (bolt), or a private directory under the system temporary directory
	// (inmem, dev mode). internal/node creates it and refuses the root,
	// system directories, and directories that are or hold the storage
	// path, this file or TLS files.
	Dir string
	// AllowLogRaw lets a device set log_raw=true (secrets in clear).
	AllowLogRaw bool
	// AllowUnsafePaths lets devices use settings refused by default
	// (loose file modes, link-local sockets). Files never leave Dir.
	AllowUnsafePaths bool
}

// Listener is one "listener" block. Only "tcp" exists.
type Listener struct {
	Type          string
	Address       string
	TLSDisable    bool
	TLSCertFile   string
	TLSKeyFile    string
	TLSMinVersion string // tls12 or tls13
	// TrustedProxies are CIDRs (or single addresses) whose
	// X-Forwarded-For is honoured on this listener only.
	TrustedProxies []string
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration

	// ReadHeaderTimeout bounds reading request headers (default 10s);
	// UnauthenticatedIdleTimeout is the keep-alive of connections that
	// have not carried an authenticated request (default 10s).
	ReadHeaderTimeout          time.Duration
	UnauthenticatedIdleTimeout time.Duration
	// MaxConnections caps open connections (default 4096) and
	// MaxConnectionsPerAddress those from one peer address (default 256);
	// -1 means no cap.
	MaxConnections           int
	MaxConnectionsPerAddress int
	// ClusterAddress is the host:port the cluster port listens on
	// (Vault's cluster_address); empty means the host:port of the
	// top-level cluster_addr.
	ClusterAddress string
}

// ProxyPrefixes parses TrustedProxies. A bare address is a one-address
// prefix. A prefix with host bits set ("10.0.0.1/8") is refused rather than
// widened, and so is a /0, which would let any peer forge its address.
func (l Listener) ProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range l.TrustedProxies {
		p, err := cidr.ParseExact(s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("trusted_proxies: %q: %w", s, err))
		case p.Bits() == 0:
			errs = append(errs, fmt.Errorf("trusted_proxies: %q trusts every address, so any client could forge X-Forwarded-For", s))
		default:
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// Storage is the "storage" block.
type Storage struct {
	Type string // bolt (default), inmem, postgresql; raft only in a migration file
	Path string // for bolt and raft: the data directory

	// For postgresql, Vault's settings. ConnectionURL (connection_url,
	// overridden by KEYWARD_PG_CONNECTION_URL, then VAULT_PG_CONNECTION_URL)
	// is a postgres:// URL or key=value string; it may hold a password, so
	// it prints as [redacted]. Table is the table holding every key
	// (default keyward_store). HAEnabled (ha_enabled) makes the servers on
	// one table active and standbys behind an advisory lock; it needs
	// APIAddr, where standbys redirect clients.
	ConnectionURL sensitive.String
	Table         string
	HAEnabled     bool

	// For raft, Vault's settings: NodeID (node_id) names the node for good;
	// PerformanceMultiplier (performance_multiplier, 0 for the default) scales
	// its timeouts; MaxEntrySize (max_entry_size, 0 for 1 MiB) caps one
	// write. The server does not serve raft yet (Validate says so); only
	// `keyward operator migrate` writes it.
	NodeID                string
	PerformanceMultiplier int
	MaxEntrySize          int
	// RetryJoin are the retry_join blocks: leaders a new node keeps trying
	// to join until one accepts it.
	RetryJoin []RetryJoin
}

// RetryJoin is one retry_join block of raft storage (Vault's keys).
type RetryJoin struct {
	LeaderAPIAddr        string // leader_api_addr
	LeaderCACertFile     string // leader_ca_cert_file
	LeaderClientCertFile string // leader_client_cert_file
	LeaderClientKeyFile  string // leader_client_key_file
	LeaderTLSServerName  string // leader_tls_servername
}

// Seal is one seal block: seal "transit" { ... } or seal "pkcs11" { ... }.
// Exactly one of Transit and PKCS11 is set, as Type says.
type Seal struct {
	Type string
	// Disabled (disabled = true) marks the seal the store is migrating
	// away from.
	Disabled bool
	Transit  *seal.TransitConfig
	PKCS11   *seal.PKCS11Config
}

// ActiveSeal returns the enabled seal block, or nil (Shamir).
func (c *Config) ActiveSeal() *Seal {
	for i := range c.Seals {
		if !c.Seals[i].Disabled {
			return &c.Seals[i]
		}
	}
	return nil
}

// DisabledSeal returns the disabled seal block, or nil.
func (c *Config) DisabledSeal() *Seal {
	for i := range c.Seals {
		if c.Seals[i].Disabled {
			return &c.Seals[i]
		}
	}
	return nil
}

// storageSettings are the settings each storage type takes.
var storageSettings = map[string][]string{
	"bolt":       {"path"},
	"file":       {"path"},
	"inmem":      {"path"},
	"postgresql": {"connection_url", "table", "ha_enabled"},
	"raft":       {"path", "node_id", "performance_multiplier", "max_entry_size", "retry_join"},
}

// Default returns the defaults every field falls back to.
func Default() *Config {
	return &Config{
		LogLevel:        "info",
		LogFormat:       "text",
		MaxRequestSize:  32 << 20,
		DefaultLeaseTTL: 768 * time.Hour,
		MaxLeaseTTL:     768 * time.Hour,
		ClusterName:     "keyward",
		Storage:         Storage{Type: "bolt"},
	}
}

// Load reads and parses the file at path.
func Load(path string, getenv func(string) string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.File = path
	if abs, err := filepath.Abs(path); err == nil {
		cfg.File = abs
	}
	cfg.applyEnv(getenv)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// applyEnv applies KEYWARD_* overrides.
func (c *Config) applyEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	if v := getenv("KEYWARD_LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	if v := getenv("KEYWARD_LOG_FORMAT"); v != "" {
		c.LogFormat = v
	}
	if v := getenv("KEYWARD_API_ADDR"); v != "" {
		c.APIAddr = v
	}
	for i := range c.Seals {
		if t := c.Seals[i].Transit; t != nil {
			for _, name := range []string{"KEYWARD_TOKEN", "VAULT_TOKEN"} {
				if v := getenv(name); v != "" {
					t.Token = sensitive.NewString(v)
					break
				}
			}
		}
		if p := c.Seals[i].PKCS11; p != nil {
			for _, name := range []string{"KEYWARD_HSM_PIN", "VAULT_HSM_PIN"} {
				if v := getenv(name); v != "" {
					p.PIN = sensitive.NewString(v)
					break
				}
			}
		}
	}
	if c.Storage.Type == "postgresql" {
		for _, name := range []string{"KEYWARD_PG_CONNECTION_URL", "VAULT_PG_CONNECTION_URL"} {
			if v := getenv(name); v != "" {
				c.Storage.ConnectionURL = sensitive.NewString(v)
				break
			}
		}
	}
}

// Parse parses HCL (or JSON) configuration text over Default().
func Parse(text string) (cfg *Config, err error) {
	// The HCL library panics on some malformed input (found by FuzzParse,
	// e.g. `{"\0`); a bad file must be an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, errors.New("parse: malformed configuration")
		}
	}()
	file, err := hcl.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, errors.New("parse: top level must be an object")
	}
	cfg = Default()
	var errs []error
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		key := item.Keys[0].Token.Value().(string)
		line := item.Pos().Line
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...)))
		}
		switch key {
		case "listener":
			l := Listener{Type: "tcp"}
			if len(item.Keys) > 1 {
				l.Type = item.Keys[1].Token.Value().(string)
			}
			body, ok := block(item, "listener", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "address":
					l.Address = str(v)
				case "tls_disable":
					l.TLSDisable = boolish(v, bad, "listener: "+k)
				case "tls_cert_file":
					l.TLSCertFile = str(v)
				case "tls_key_file":
					l.TLSKeyFile = str(v)
				case "tls_min_version":
					l.TLSMinVersion = str(v)
				case "cluster_address":
					l.ClusterAddress = str(v)
				case "x_forwarded_for_authorized_addrs", "trusted_proxies":
					l.TrustedProxies = strList(v)
				case "http_read_timeout":
					l.ReadTimeout = dur(v, bad, k)
				case "http_write_timeout":
					l.WriteTimeout = dur(v, bad, k)
				case "http_idle_timeout":
					l.IdleTimeout = dur(v, bad, k)
				case "http_read_header_timeout":
					l.ReadHeaderTimeout = dur(v, bad, k)
				case "http_unauthenticated_idle_timeout":
					l.UnauthenticatedIdleTimeout = dur(v, bad, k)
				case "max_connections":
					l.MaxConnections = count(v, bad, k)
				case "max_connections_per_address":
					l.MaxConnectionsPerAddress = count(v, bad, k)
				default:
					bad("listener: unknown setting %q", k)
				}
			}
			cfg.Listeners = append(cfg.Listeners, l)
		case "audit":
			body, ok := block(item, "audit", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "allow_log_raw":
					cfg.Audit.AllowLogRaw = boolish(v, bad, "audit: "+k)
				case "allow_unsafe_paths":
					cfg.Audit.AllowUnsafePaths = boolish(v, bad, "audit: "+k)
				case "dir":
					cfg.Audit.Dir = str(v)
				default:
					bad("audit: unknown setting %q", k)
				}
			}
		case "login_limits":
			body, ok := block(item, "login_limits", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "failures_per_address":
					cfg.LoginLimits.FailuresPerAddress = limit(v, bad, "login_limits", k)
				case "failures_per_user":
					cfg.LoginLimits.FailuresPerUser = limit(v, bad, "login_limits", k)
				default:
					bad("login_limits: unknown setting %q", k)
				}
			}
		case "watch":
			body, ok := block(item, "watch", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "disable":
					cfg.Watch.Disable = boolish(v, bad, "watch: "+k)
				case "ring_size":
					cfg.Watch.RingSize = watchCount(v, bad, "watch", k)
				case "subscriber_buffer":
					cfg.Watch.SubscriberBuffer = watchCount(v, bad, "watch", k)
				case "max_identities":
					cfg.Watch.MaxIdentities = watchCount(v, bad, "watch", k)
				case "max_access_paths":
					cfg.Watch.MaxAccessPaths = watchCount(v, bad, "watch", k)
				case "time_zone":
					cfg.Watch.TimeZone = str(v)
				case "flush_interval":
					cfg.Watch.FlushInterval = dur(v, bad, "watch: "+k)
				case "disable_detection":
					cfg.Watch.DisableDetection = boolish(v, bad, "watch: "+k)
				case "allow_seal":
					cfg.Watch.AllowSeal = boolish(v, bad, "watch: "+k)
				case "sink_networks":
					for _, n := range strList(v) {
						p, err := netip.ParsePrefix(n)
						if a, aerr := netip.ParseAddr(n); err != nil && aerr == nil {
							p, err = a.Prefix(a.BitLen())
						}
						if err != nil {
							bad("watch: sink_networks: %q is not a CIDR or IP address", n)
							continue
						}
						cfg.Watch.SinkNetworks = append(cfg.Watch.SinkNetworks, p.Masked())
					}
				default:
					bad("watch: unknown setting %q", k)
				}
			}
		case "operator_access":
			body, ok := block(item, "operator_access", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "allowed_cidrs":
					cfg.Operator.AllowedCIDRs = strList(v)
				case "requests_per_address":
					cfg.Operator.RequestsPerAddress = limit(v, bad, "operator_access", k)
				default:
					bad("operator_access: unknown setting %q", k)
				}
			}
		case "rate_limit":
			body, ok := block(item, "rate_limit", bad)
			if !ok {
				continue
			}
			for k, v := range body {
				switch k {
				case "requests_per_second":
					f, err := strconv.ParseFloat(str(v), 64)
					if err != nil || f < 0 {
						bad("rate_limit: requests_per_second must be a non-negative number")
					}
					cfg.RateLimit.RequestsPerSecond = f
				case "burst":
					n, err := strconv.Atoi(str(v))
					if err != nil || n < 0 {
						bad("rate_limit: burst must be a non-negative whole number")
					}
					cfg.RateLimit.Burst = n
				default:
					bad("rate_limit: unknown setting %q", k)
				}
			}
		case "seal":
			if sl, ok := parseSeal(item, bad); ok {
				cfg.Seals = append(cfg.Seals, sl)
			}
		case "storage", "backend":
			s, ok := parseStorage(item, bad)
			if !ok {
				continue
			}
			cfg.Storage = s
		default:
			var v any
			if err := hcl.DecodeObject(&v, item.Val); err != nil {
				bad("%s: %v", key, err)
				continue
			}
			switch key {
			case "api_addr":
				cfg.APIAddr = str(v)
			case "cluster_addr":
				cfg.ClusterAddr = str(v)
			case "log_level":
				cfg.LogLevel = str(v)
			case "log_format":
				cfg.LogFormat = str(v)
			case "max_request_size":
				cfg.MaxRequestSize = size(v, bad, key)
			case "max_unauthenticated_request_size":
				cfg.MaxUnauthenticatedRequestSize = size(v, bad, key)
			case "max_inflight_request_bytes":
				cfg.MaxInFlightRequestBytes = size(v, bad, key)
			case "default_lease_ttl":
				cfg.DefaultLeaseTTL = dur(v, bad, key)
			case "max_lease_ttl":
				cfg.MaxLeaseTTL = dur(v, bad, key)
			case "cluster_name":
				cfg.ClusterName = str(v)
			case "ui":
				cfg.UI = boolish(v, bad, key)
			case "disable_mlock":
				cfg.DisableMlock = boolish(v, bad, key)
			default:
				bad("unknown setting %q", key)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// parseStorage reads a block such as storage "postgresql" { ... } (also
// storage_source and storage_destination in a migration file), reporting
// problems through bad.
func parseStorage(item *ast.ObjectItem, bad func(string, ...any)) (Storage, bool) {
	s := Storage{}
	if len(item.Keys) > 1 {
		s.Type = item.Keys[1].Token.Value().(string)
	}
	body, ok := block(item, "storage", bad)
	if !ok {
		return s, false
	}
	for k, v := range body {
		if known, ok := storageSettings[s.Type]; ok && !slices.Contains(known, k) {
			bad("storage %q: unknown setting %q (%s takes %s)", s.Type, k, s.Type, strings.Join(known, ", "))
			continue
		}
		switch k {
		case "path":
			s.Path = str(v)
		case "connection_url":
			s.ConnectionURL = sensitive.NewString(str(v))
		case "table":
			s.Table = str(v)
		case "ha_enabled":
			s.HAEnabled = boolish(v, bad, "storage: "+k)
		case "node_id":
			s.NodeID = str(v)
		case "performance_multiplier":
			s.PerformanceMultiplier = count(v, bad, "storage: "+k)
		case "max_entry_size":
			s.MaxEntrySize = int(size(v, bad, "storage: "+k))
		case "retry_join":
			s.RetryJoin = append(s.RetryJoin, parseRetryJoin(v, bad)...)
		default:
			bad("storage: unknown setting %q", k)
		}
	}
	return s, true
}

// parseSeal reads a seal block, reporting problems through bad.
func parseSeal(item *ast.ObjectItem, bad func(string, ...any)) (Seal, bool) {
	sl := Seal{}
	if len(item.Keys) > 1 {
		sl.Type = item.Keys[1].Token.Value().(string)
	}
	body, ok := block(item, "seal", bad)
	if !ok {
		return sl, false
	}
	switch sl.Type {
	case "transit":
		sl.Transit = &seal.TransitConfig{}
	case "pkcs11":
		sl.PKCS11 = &seal.PKCS11Config{}
	case "shamir":
	default:
		bad("seal: type %q is not supported (transit, pkcs11)", sl.Type)
		return sl, false
	}
	for k, v := range body {
		if k == "disabled" {
			sl.Disabled = boolish(v, bad, "seal: disabled")
			continue
		}
		t, p := sl.Transit, sl.PKCS11
		switch {
		case t != nil && k == "address":
			t.Address = str(v)
		case t != nil && k == "token":
			t.Token = sensitive.NewString(str(v))
		case t != nil && k == "key_name":
			t.KeyName = str(v)
		case t != nil && k == "mount_path":
			t.MountPath = str(v)
		case t != nil && k == "namespace":
			t.Namespace = str(v)
		case t != nil && k == "tls_ca_cert":
			t.TLSCACert = str(v)
		case t != nil && k == "tls_client_cert":
			t.TLSClientCert = str(v)
		case t != nil && k == "tls_client_key":
			t.TLSClientKey = str(v)
		case t != nil && k == "tls_server_name":
			t.TLSServerName = str(v)
		case t != nil && k == "tls_skip_verify":
			t.TLSSkipVerify = boolish(v, bad, "seal: "+k)
		case t != nil && k == "disable_renewal":
			t.DisableRenewal = boolish(v, bad, "seal: "+k)
		case p != nil && k == "lib":
			p.Lib = str(v)
		case p != nil && k == "slot":
			p.Slot = str(v)
		case p != nil && k == "token_label":
			p.TokenLabel = str(v)
		case p != nil && k == "pin":
			p.PIN = sensitive.NewString(str(v))
		case p != nil && k == "key_label":
			p.KeyLabel = str(v)
		case p != nil && k == "mechanism":
			p.Mechanism = str(v)
		case p != nil && k == "generate_key":
			p.GenerateKey = boolish(v, bad, "seal: "+k)
		default:
			bad("seal %q: unknown setting %q", sl.Type, k)
		}
	}
	return sl, true
}

// parseRetryJoin reads one or more retry_join blocks.
func parseRetryJoin(v any, bad func(string, ...any)) []RetryJoin {
	var blocks []map[string]any
	switch t := v.(type) {
	case map[string]any:
		blocks = []map[string]any{t}
	case []map[string]any:
		blocks = t
	default:
		bad("storage: retry_join must be a block")
		return nil
	}
	var out []RetryJoin
	for _, b := range blocks {
		var j RetryJoin
		for k, v := range b {
			switch k {
			case "leader_api_addr":
				j.LeaderAPIAddr = str(v)
			case "leader_ca_cert_file":
				j.LeaderCACertFile = str(v)
			case "leader_client_cert_file":
				j.LeaderClientCertFile = str(v)
			case "leader_client_key_file":
				j.LeaderClientKeyFile = str(v)
			case "leader_tls_servername":
				j.LeaderTLSServerName = str(v)
			default:
				bad("storage: retry_join: unknown setting %q", k)
			}
		}
		if j.LeaderAPIAddr == "" {
			bad("storage: retry_join: leader_api_addr is required")
		}
		out = append(out, j)
	}
	return out
}

// ClusterBind returns the host:port the cluster port listens on: the
// first listener's cluster_address, else cluster_addr's host:port.
func (c *Config) ClusterBind() string {
	for _, l := range c.Listeners {
		if l.ClusterAddress != "" {
			return l.ClusterAddress
		}
	}
	hp, _ := clusterHostPort(c.ClusterAddr)
	return hp
}

// ClusterAdvertise returns cluster_addr's host:port, which peers dial.
func (c *Config) ClusterAdvertise() (string, error) { return clusterHostPort(c.ClusterAddr) }

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Listeners) == 0 {
		errs = append(errs, errors.New("no listener block: add listener \"tcp\" { address = \"127.0.0.1:8200\" }"))
	}
	for i, l := range c.Listeners {
		if l.Type != "tcp" {
			errs = append(errs, fmt.Errorf("listener %d: type %q is not supported (only tcp)", i, l.Type))
		}
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			errs = append(errs, fmt.Errorf("listener %d: address %q must be host:port", i, l.Address))
		}
		if !l.TLSDisable && (l.TLSCertFile == "" || l.TLSKeyFile == "") {
			errs = append(errs, fmt.Errorf("listener %d: tls_cert_file and tls_key_file are required unless tls_disable = true", i))
		}
		switch l.TLSMinVersion {
		case "", "tls12", "tls13":
		default:
			errs = append(errs, fmt.Errorf("listener %d: tls_min_version must be tls12 or tls13", i))
		}
		if _, err := l.ProxyPrefixes(); err != nil {
			each := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				each = j.Unwrap()
			}
			for _, e := range each {
				errs = append(errs, fmt.Errorf("listener %d: %w", i, e))
			}
		}
		if l.MaxConnections < -1 || l.MaxConnectionsPerAddress < -1 {
			errs = append(errs, fmt.Errorf("listener %d: max_connections and max_connections_per_address must be positive, or -1 for no cap", i))
		}
	}
	for _, block := range c.Operator.AllowedCIDRs {
		if _, err := cidr.ParseExact(block); err != nil {
			errs = append(errs, fmt.Errorf("operator_access: allowed_cidrs: %q is not a CIDR prefix (like 10.0.0.0/8) or address: %w", block, err))
		}
	}
	switch c.Storage.Type {
	case "bolt", "file":
		if c.Storage.Path == "" {
			errs = append(errs, errors.New("storage: path is required for bolt storage"))
		}
	case "inmem":
	case "postgresql":
		errs = append(errs, c.Storage.validatePostgres()...)
		if c.Storage.HAEnabled && c.APIAddr == "" {
			errs = append(errs, errors.New(`api_addr is required with storage "postgresql" and ha_enabled = true: the URL a standby redirects clients to when this node is active`))
		}
	case "raft":
		if c.Storage.Path == "" {
			errs = append(errs, errors.New(`storage "raft": path is required`))
		}
		if c.Storage.NodeID == "" {
			errs = append(errs, errors.New(`storage "raft": node_id is required (it names this node in the cluster for good)`))
		}
		if c.Storage.PerformanceMultiplier < 0 || c.Storage.PerformanceMultiplier > 10 {
			errs = append(errs, errors.New(`storage "raft": performance_multiplier must be between 0 and 10`))
		}
		if c.Storage.MaxEntrySize < 0 {
			errs = append(errs, errors.New(`storage "raft": max_entry_size must not be negative`))
		}
		if c.ClusterAddr == "" {
			errs = append(errs, errors.New(`cluster_addr is required with raft storage: the https://host:port other nodes reach this node's cluster port at`))
		} else if _, err := clusterHostPort(c.ClusterAddr); err != nil {
			errs = append(errs, err)
		}
		if c.APIAddr == "" {
			errs = append(errs, errors.New(`api_addr is required with raft storage: the URL other nodes and redirected clients reach this node's API at`))
		}
	default:
		errs = append(errs, fmt.Errorf("storage: type %q is not supported (bolt, inmem, postgresql, raft)", c.Storage.Type))
	}
	if d := c.Audit.Dir; d != "" {
		switch {
		case !filepath.IsAbs(d):
			errs = append(errs, fmt.Errorf("audit: dir %q must be an absolute path", d))
		case filepath.Clean(d) == "/":
			errs = append(errs, errors.New("audit: dir must not be /"))
		case c.Storage.Path != "" && filepath.Clean(d) == filepath.Clean(c.Storage.Path):
			errs = append(errs, errors.New("audit: dir must not be the storage path: use a dedicated directory"))
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error", "trace":
	default:
		errs = append(errs, fmt.Errorf("log_level %q must be debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json", "standard":
	default:
		errs = append(errs, fmt.Errorf("log_format %q must be text or json", c.LogFormat))
	}
	if c.MaxRequestSize <= 0 {
		errs = append(errs, errors.New("max_request_size must be positive"))
	}
	switch {
	case c.MaxUnauthenticatedRequestSize < 0:
		errs = append(errs, errors.New("max_unauthenticated_request_size must be positive"))
	case c.MaxUnauthenticatedRequestSize > c.MaxRequestSize:
		errs = append(errs, errors.New("max_unauthenticated_request_size cannot exceed max_request_size"))
	}
	switch {
	case c.MaxInFlightRequestBytes < 0:
		errs = append(errs, errors.New("max_inflight_request_bytes must be positive"))
	case c.MaxInFlightRequestBytes > 0 && c.MaxInFlightRequestBytes < c.MaxRequestSize:
		errs = append(errs, errors.New("max_inflight_request_bytes cannot be less than max_request_size (a body of the maximum size could never be read)"))
	}
	if c.DefaultLeaseTTL > c.MaxLeaseTTL {
		errs = append(errs, errors.New("default_lease_ttl cannot exceed max_lease_ttl"))
	}
	if c.Watch.TimeZone != "" {
		if _, err := time.LoadLocation(c.Watch.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("watch: time_zone %q is not a known time zone", c.Watch.TimeZone))
		}
	}
	if c.Watch.FlushInterval < 0 {
		errs = append(errs, errors.New("watch: flush_interval must not be negative"))
	}
	if c.APIAddr != "" {
		if err := checkAPIAddr(c.APIAddr); err != nil {
			errs = append(errs, err)
		}
	}
	if c.UI {
		errs = append(errs, errors.New("ui = true: the web UI is not built into Keyward; remove the setting or set ui = false"))
	}
	errs = append(errs, c.validateSeals()...)
	return errors.Join(errs...)
}

// validateSeals checks the seal blocks: at most one enabled and one
// disabled, of different types, each valid.
func (c *Config) validateSeals() []error {
	var errs []error
	enabled, disabled := 0, 0
	for _, sl := range c.Seals {
		if sl.Disabled {
			disabled++
		} else {
			enabled++
		}
		switch {
		case sl.Type == "shamir":
			// seal "shamir" { disabled = true } names nothing to unwrap.
			if sl.Disabled {
				errs = append(errs, errors.New(`seal "shamir": to migrate from Shamir, add only the new seal block and unseal with migrate=true`))
			}
		case sl.Transit != nil:
			if err := sl.Transit.Validate(); err != nil {
				errs = append(errs, err)
			}
		case sl.PKCS11 != nil:
			if !seal.PKCS11Supported {
				errs = append(errs, errors.New(`seal "pkcs11": this keyward binary was built without cgo (CGO_ENABLED=0) and cannot load a PKCS#11 module; use a build with cgo`))
			} else if err := sl.PKCS11.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if enabled > 1 {
		errs = append(errs, errors.New("seal: more than one enabled seal block (mark the one being migrated away from disabled = true)"))
	}
	if disabled > 1 {
		errs = append(errs, errors.New("seal: more than one disabled seal block"))
	}
	if a, d := c.ActiveSeal(), c.DisabledSeal(); a != nil && d != nil && a.Type == d.Type {
		errs = append(errs, fmt.Errorf("seal: the enabled and the disabled seal blocks are both %q", a.Type))
	}
	return errs
}

// validatePostgres checks a storage "postgresql" block.
func (s Storage) validatePostgres() []error {
	var errs []error
	if s.ConnectionURL.Empty() {
		errs = append(errs, errors.New(`storage "postgresql": connection_url is required (or set KEYWARD_PG_CONNECTION_URL)`))
	} else if err := postgres.CheckConnectionURL(s.ConnectionURL); err != nil {
		errs = append(errs, fmt.Errorf(`storage "postgresql": %w`, err))
	}
	if s.Table != "" {
		if err := postgres.CheckTable(s.Table); err != nil {
			errs = append(errs, fmt.Errorf(`storage "postgresql": %w`, err))
		}
	}
	return errs
}

// checkAPIAddr accepts what Vault's api_addr holds: the full http or https
// URL clients should use to reach this server, such as
// "https://keyward.example.com:8200".
func checkAPIAddr(addr string) error {
	u, err := url.Parse(addr)
	if err == nil && u.User != nil {
		return errors.New("api_addr must not hold a user name or password")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("api_addr %q must be a URL such as https://keyward.example.com:8200 (scheme http or https, a host, nothing after it)", addr)
	}
	return nil
}

// block decodes the body of a block such as listener "tcp" { ... },
// reporting a malformed body through bad.
func block(item *ast.ObjectItem, name string, bad func(string, ...any)) (map[string]any, bool) {
	var body map[string]any
	if err := hcl.DecodeObject(&body, item.Val); err != nil {
		bad("%s: %v", name, err)
		return nil, false
	}
	return flatten(body), true
}

// flatten turns HCL's list-of-maps decoding into one map.
func flatten(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if l, ok := v.([]map[string]any); ok && len(l) == 1 {
			out[k] = l[0]
			continue
		}
		out[k] = v
	}
	return out
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// limit reads a burst size: a whole number, or -1 for no limit.
func limit(v any, bad func(string, ...any), blockName, key string) int {
	n, err := strconv.Atoi(str(v))
	if err != nil || n < -1 {
		bad("%s: %s must be a whole number (-1 for no limit)", blockName, key)
	}
	return n
}

// watchCount reads a whole number (0 keeps the default).
func watchCount(v any, bad func(string, ...any), blockName, key string) int {
	n, err := strconv.Atoi(str(v))
	if err != nil || n < 0 || n > 1<<24 {
		bad("%s: %s must be a whole number from 0 to %d", blockName, key, 1<<24)
	}
	return n
}

func strList(v any) []string {
	switch t := v.(type) {
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, str(e))
		}
		return out
	case string:
		var out []string
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// boolish reads a boolean as Vault configs write it: true or false, the
// strings strconv.ParseBool accepts ("true", "1", "f", ...), or 0 and 1
// (tls_disable = 1). Anything else is reported through bad: a typo such as
// "ture" or "yes" must not silently mean false.
func boolish(v any, bad func(string, ...any), key string) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(t)); err == nil {
			return b
		}
	case int:
		if t == 0 || t == 1 {
			return t == 1
		}
	case int64:
		if t == 0 || t == 1 {
			return t == 1
		}
	}
	bad("%s: expected a boolean (true or false)", key)
	return false
}

// count parses a whole number that may be -1 ("no cap").
func count(v any, bad func(string, ...any), key string) int {
	n, err := strconv.Atoi(str(v))
	if err != nil {
		bad("%s: expected a whole number", key)
	}
	return n
}

// size parses a byte count.
func size(v any, bad func(string, ...any), key string) int64 {
	n, err := strconv.ParseInt(str(v), 10, 64)
	if err != nil {
		bad("%s: expected a number of bytes", key)
	}
	return n
}

func dur(v any, bad func(string, ...any), key string) time.Duration {
	switch t := v.(type) {
	case int:
		return time.Duration(t) * time.Second
	case string:
		if n, err := strconv.Atoi(t); err == nil {
			return time.Duration(n) * time.Second
		}
		d, err := time.ParseDuration(t)
		if err != nil {
			bad("%s: expected a duration like \"30s\"", key)
		}
		return d
	}
	bad("%s: expected a duration", key)
	return 0
}
