package config_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
)

// Sanitized reports the running settings under Vault's key names (and
// Keyward's blocks under their HCL names), durations as Vault's JSON has
// them.
func TestSanitized(t *testing.T) {
	cfg, err := config.Parse(`
api_addr = "https://vault.example:8200"
default_lease_ttl = "1h"
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_cert_file = "/etc/keyward/cert.pem"
  tls_key_file = "/etc/keyward/key.pem"
  trusted_proxies = ["10.0.0.0/8"]
}
storage "bolt" { path = "/var/lib/keyward" }
operator_access { allowed_cidrs = ["192.0.2.0/24"] }
`)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sanitized()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["api_addr"] != "https://vault.example:8200" || got["default_lease_ttl"] != float64(time.Hour) || got["log_level"] != "info" {
		t.Errorf("top level: %s", raw)
	}
	ls := got["listeners"].([]any)
	l := ls[0].(map[string]any)
	lc := l["config"].(map[string]any)
	if l["type"] != "tcp" || lc["address"] != "127.0.0.1:8200" || lc["tls_key_file"] != "/etc/keyward/key.pem" || len(lc["x_forwarded_for_authorized_addrs"].([]any)) != 1 {
		t.Errorf("listener: %v", l)
	}
	if st := got["storage"].(map[string]any); st["type"] != "bolt" {
		t.Errorf("storage: %v", st)
	}
	if op := got["operator_access"].(map[string]any); len(op["allowed_cidrs"].([]any)) != 1 {
		t.Errorf("operator_access: %v", op)
	}
	if seals := got["seals"].([]any); seals[0].(map[string]any)["type"] != "shamir" {
		t.Errorf("seals: %v", seals)
	}
}
