package config_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
)

const sealBase = `
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = true
}
storage "inmem" {}
`

func TestSealBlocks(t *testing.T) {
	cfg, err := config.Parse(sealBase + `
seal "transit" {
  address = "https://transit.example.com:8200"
  token = "file-token-canary"
  key_name = "autounseal"
  mount_path = "transit/"
  namespace = "ns1"
  tls_server_name = "transit.example.com"
  tls_skip_verify = "false"
  disable_renewal = "true"
  disabled = true
}
seal "pkcs11" {
  lib = "/usr/lib/softhsm/libsofthsm2.so"
  slot = "0"
  pin = "1234-canary"
  key_label = "keyward"
  mechanism = "0x1087"
  generate_key = "true"
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, d := cfg.ActiveSeal(), cfg.DisabledSeal()
	if a == nil || a.Type != "pkcs11" || a.PKCS11.KeyLabel != "keyward" || !a.PKCS11.GenerateKey || a.PKCS11.PIN.Reveal() != "1234-canary" {
		t.Fatalf("active seal = %+v", a)
	}
	if d == nil || d.Type != "transit" || d.Transit.KeyName != "autounseal" || !d.Transit.DisableRenewal || d.Transit.Namespace != "ns1" {
		t.Fatalf("disabled seal = %+v", d)
	}
	raw, _ := json.Marshal(cfg.Sanitized())
	if strings.Contains(string(raw), "canary") {
		t.Fatalf("sanitized config holds a seal secret: %s", raw)
	}
	if !strings.Contains(string(raw), `"type":"pkcs11"`) {
		t.Fatalf("sanitized config does not list the seal: %s", raw)
	}
}

func TestSealTokenFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/server.hcl"
	writeFile(t, p, sealBase+`
seal "transit" {
  address = "http://127.0.0.1:8201"
  key_name = "k"
}
`)
	env := map[string]string{"VAULT_TOKEN": "from-vault-env", "KEYWARD_TOKEN": "from-keyward-env"}
	cfg, err := config.Load(p, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ActiveSeal().Transit.Token.Reveal(); got != "from-keyward-env" {
		t.Errorf("token = %q, want KEYWARD_TOKEN's", got)
	}
	if _, err := config.Load(p, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "token is required") {
		t.Errorf("Load without a token = %v", err)
	}
}

func TestSealBlocksRefused(t *testing.T) {
	for _, tc := range []struct{ name, hcl, want string }{
		{"two enabled", `seal "transit" {
  address = "http://a:1"
  token = "t"
  key_name = "k"
}
seal "pkcs11" {
  lib = "/x.so"
  slot = "0"
  pin = "1"
  key_label = "k"
}`, "more than one enabled"},
		{"unknown type", `seal "awskms" {}`, "not supported"},
		{"unknown key", `seal "transit" {
  adress = "http://a:1"
}`, `unknown setting "adress"`},
		{"bad mechanism", `seal "pkcs11" {
  lib = "/x.so"
  slot = "0"
  pin = "1"
  key_label = "k"
  mechanism = "CKM_RSA_PKCS"
}`, "mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(sealBase + tc.hcl)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
