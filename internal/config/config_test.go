package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/sensitive"
)

func TestParse(t *testing.T) {
	cfg, err := config.Parse(`
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_cert_file = "/c.pem"
  tls_key_file = "/k.pem"
  tls_min_version = "tls13"
  trusted_proxies = ["10.0.0.0/8"]
  http_read_timeout = "5s"
  http_read_header_timeout = "2s"
  http_unauthenticated_idle_timeout = "3s"
  max_connections = 100
  max_connections_per_address = -1
}
storage "bolt" {
  path = "/var/lib/keyward"
}
api_addr = "https://k.example:8200"
log_level = "debug"
log_format = "json"
max_request_size = 1024
max_unauthenticated_request_size = 512
max_inflight_request_bytes = 4096
default_lease_ttl = "1h"
max_lease_ttl = 7200
ui = false
disable_mlock = "true"
audit {
  allow_log_raw = true
  dir = "/var/log/keyward"
}
rate_limit {
  requests_per_second = 50
  burst = 100
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:8200", TLSCertFile: "/c.pem", TLSKeyFile: "/k.pem",
		TLSMinVersion: "tls13", TrustedProxies: []string{"10.0.0.0/8"}, ReadTimeout: 5 * time.Second,
		ReadHeaderTimeout: 2 * time.Second, UnauthenticatedIdleTimeout: 3 * time.Second,
		MaxConnections: 100, MaxConnectionsPerAddress: -1}}
	want.Storage = config.Storage{Type: "bolt", Path: "/var/lib/keyward"}
	want.APIAddr = "https://k.example:8200"
	want.LogLevel, want.LogFormat = "debug", "json"
	want.MaxRequestSize = 1024
	want.MaxUnauthenticatedRequestSize, want.MaxInFlightRequestBytes = 512, 4096
	want.DefaultLeaseTTL, want.MaxLeaseTTL = time.Hour, 2*time.Hour
	want.DisableMlock = true
	want.Audit.AllowLogRaw = true
	want.Audit.Dir = "/var/log/keyward"
	want.RateLimit = config.RateLimit{RequestsPerSecond: 50, Burst: 100}
	if diff := cmp.Diff(want, cfg, revealed); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// revealed lets cmp compare secrets (the storage connection URL) by value.
var revealed = cmp.Comparer(func(a, b sensitive.String) bool { return a.Reveal() == b.Reveal() })

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // every substring must appear: all problems are reported at once
	}{
		{"syntax", `listener "tcp" {`, []string{"parse"}},
		{"unknown top-level", "bogus = 1\nalso_bogus = 2", []string{`line 1: unknown setting "bogus"`, `line 2: unknown setting "also_bogus"`}},
		{"unknown listener key", `listener "tcp" { adress = "x" }`, []string{`unknown setting "adress"`}},
		{"unknown storage key", `storage "bolt" { paht = "x" }`, []string{`unknown setting "paht"`}},
		{"bad duration", `default_lease_ttl = "forever"`, []string{"default_lease_ttl"}},
		{"bad size", `max_request_size = "big"`, []string{"max_request_size"}},
		{"bad body limits", "max_unauthenticated_request_size = \"small\"\nmax_inflight_request_bytes = \"lots\"", []string{"max_unauthenticated_request_size", "max_inflight_request_bytes"}},
		{"bad rate", "rate_limit {\n requests_per_second = \"fast\"\n burst = -1\n}", []string{"requests_per_second", "burst"}},
		{"bad login limit", "login_limits {\n failures_per_address = -2\n failures_per_user = \"x\"\n}", []string{"failures_per_address", "failures_per_user"}},
		{"bad operator access", "operator_access {\n allowed_cidrs = [\"10.0.0.0\"]\n requests = 1\n}", []string{`unknown setting "requests"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(tt.text)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.text)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) = %v, want it to mention %q", tt.text, err, w)
				}
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	cfg := config.Default()
	cfg.Listeners = []config.Listener{
		{Type: "udp", Address: "nohostport", TLSMinVersion: "ssl3"},
		{Type: "tcp", Address: "127.0.0.1:8200", TLSDisable: true,
			TrustedProxies: []string{"10.0.0.0/8", "10.0.0.0/33", "10.1.2.3/8", "not-an-ip", "0.0.0.0/0"},
			MaxConnections: -5},
	}
	cfg.Storage = config.Storage{Type: "bolt"}
	cfg.LogLevel = "loud"
	cfg.LogFormat = "xml"
	cfg.MaxRequestSize = 0
	cfg.MaxUnauthenticatedRequestSize = 1
	cfg.MaxInFlightRequestBytes = -1
	cfg.DefaultLeaseTTL = 2 * cfg.MaxLeaseTTL
	cfg.Operator.AllowedCIDRs = []string{"10.0.0.0/8", "192.0.2.1", "10.0.0.1/8", "10.0.0.0/33"}
	cfg.Audit.Dir = "var/log/keyward"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, w := range []string{"udp", "host:port", "tls_cert_file", "tls_min_version", "path is required", "log_level", "log_format", "max_request_size", "default_lease_ttl", `"10.0.0.1/8" is not a CIDR prefix (like 10.0.0.0/8) or address: host bits are set`, `"10.0.0.0/33" is not a CIDR`, "audit: dir",
		"max_unauthenticated_request_size cannot exceed", "max_inflight_request_bytes must be positive",
		`listener 1: trusted_proxies: "10.0.0.0/33"`, `listener 1: trusted_proxies: "10.1.2.3/8": host bits are set (did you mean 10.0.0.0/8?)`,
		`listener 1: trusted_proxies: "not-an-ip"`, `listener 1: trusted_proxies: "0.0.0.0/0" trusts every address`,
		"listener 1: max_connections"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), `"192.0.2.1"`) { // a bare address is its own /32, as in every CIDR list
		t.Errorf("Validate refused a bare operator address: %v", err)
	}
	none := config.Default()
	none.Storage = config.Storage{Type: "inmem"}
	if err := none.Validate(); err == nil || !strings.Contains(err.Error(), "no listener") {
		t.Errorf("Validate without listener = %v", err)
	}
}

// Booleans are booleans: a value that is not one is an error naming the
// setting, never a silent false.
func TestBooleans(t *testing.T) {
	tests := []struct {
		value string
		want  bool
		ok    bool
	}{
		{"true", true, true},
		{"false", false, true},
		{`"true"`, true, true},
		{`"FALSE"`, false, true},
		{`"1"`, true, true},
		{"1", true, true},
		{"0", false, true},
		{`"ture"`, false, false},
		{`"yes"`, false, false},
		{`""`, false, false},
		{"2", false, false},
		{"-1", false, false},
		{"1.5", false, false},
		{`["true"]`, false, false},
	}
	for _, tt := range tests {
		for _, setting := range []struct {
			name, text string
			get        func(*config.Config) bool
		}{
			{"listener: tls_disable", "listener \"tcp\" {\n address = \"127.0.0.1:1\"\n tls_disable = %s\n}", func(c *config.Config) bool { return c.Listeners[0].TLSDisable }},
			{"audit: allow_log_raw", "audit {\n allow_log_raw = %s\n}", func(c *config.Config) bool { return c.Audit.AllowLogRaw }},
			{"audit: allow_unsafe_paths", "audit {\n allow_unsafe_paths = %s\n}", func(c *config.Config) bool { return c.Audit.AllowUnsafePaths }},
			{"disable_mlock", "disable_mlock = %s", func(c *config.Config) bool { return c.DisableMlock }},
			{"ui", "ui = %s", func(c *config.Config) bool { return c.UI }},
		} {
			t.Run(setting.name+"="+tt.value, func(t *testing.T) {
				text := fmt.Sprintf(setting.text, tt.value)
				cfg, err := config.Parse(text)
				if !tt.ok {
					if err == nil || !strings.Contains(err.Error(), setting.name+": expected a boolean") {
						t.Fatalf("Parse(%q) = %v, want an error naming %s", text, err, setting.name)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse(%q): %v", text, err)
				}
				if got := setting.get(cfg); got != tt.want {
					t.Errorf("Parse(%q): %s = %v, want %v", text, setting.name, got, tt.want)
				}
			})
		}
	}
}

// ui = true is refused: there is no web UI to serve.
func TestUIRefused(t *testing.T) {
	cfg := config.Default()
	cfg.Storage = config.Storage{Type: "inmem"}
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:8200", TLSDisable: true}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate without ui: %v", err)
	}
	cfg.UI = true
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "the web UI is not built into Keyward") {
		t.Errorf("Validate with ui = true: %v, want the web UI refusal", err)
	}
}

func TestAPIAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"https://keyward.example.com:8200", true},
		{"http://127.0.0.1:8200", true},
		{"https://[::1]:8200/", true},
		{"127.0.0.1:8200", false},
		{"keyward.example.com", false},
		{"ftp://keyward.example.com", false},
		{"https://", false},
		{"https://k.example/v1", false},
		{"https://k.example?x=1", false},
		{"https://admin:hunter2@k.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			cfg := config.Default()
			cfg.Storage = config.Storage{Type: "inmem"}
			cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:8200", TLSDisable: true}}
			cfg.APIAddr = tt.addr
			err := cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate with api_addr %q = %v, want ok %v", tt.addr, err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "api_addr") || strings.Contains(err.Error(), "hunter2")) {
				t.Errorf("error %q should name api_addr and never a password", err)
			}
		})
	}
}

func TestProxyPrefixes(t *testing.T) {
	l := config.Listener{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108"}}
	got, err := l.ProxyPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128", "172.16.0.0/12"}
	var gotS []string
	for _, p := range got {
		gotS = append(gotS, p.String())
	}
	if diff := cmp.Diff(want, gotS); diff != "" {
		t.Errorf("ProxyPrefixes (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"10.0.0.1/8", "::/0", "fe80::1%eth0", "10.0.0.0/8,", ""} {
		if _, err := (config.Listener{TrustedProxies: []string{bad}}).ProxyPrefixes(); err == nil {
			t.Errorf("ProxyPrefixes(%q) succeeded", bad)
		}
	}
}

func TestLoadWithEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.hcl")
	os.WriteFile(p, []byte(`listener "tcp" {
  address = "127.0.0.1:0"
  tls_disable = true
}
storage "inmem" {}
log_level = "info"
`), 0o600)
	env := map[string]string{"KEYWARD_LOG_LEVEL": "warn", "KEYWARD_LOG_FORMAT": "json"}
	cfg, err := config.Load(p, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogLevel != "warn" || cfg.LogFormat != "json" {
		t.Errorf("env overrides not applied: %+v", cfg)
	}
	if cfg.File != p {
		t.Errorf("File = %q, want %q (audit files may never be it)", cfg.File, p)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.hcl"), nil); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`listener "tcp" { address = "127.0.0.1:8200" tls_disable = true }` + "\nstorage \"bolt\" { path = \"/x\" }")
	f.Add(`{"listener": {"tcp": {"address": "a:1"}}, "log_level": "info"}`)
	f.Add(`max_lease_ttl = "1h"`)
	f.Add("storage \"postgresql\" {\n connection_url = \"postgres://u:p@h:5432/db?sslmode=verify-full\"\n table = \"s.t\"\n ha_enabled = \"false\"\n}")
	f.Add("seal \"transit\" {\n address = \"https://t:8200\"\n token = \"x\"\n key_name = \"k\"\n disabled = true\n}")
	f.Add("seal \"pkcs11\" {\n lib = \"/x.so\"\n slot = \"0x1\"\n pin = \"1\"\n key_label = \"k\"\n generate_key = 1\n}")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := config.Parse(text)
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic on anything Parse accepted
	})
}
