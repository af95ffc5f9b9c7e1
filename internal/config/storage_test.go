package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
)

const pgListener = "listener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n"

// A Vault storage "postgresql" block reads into Storage unchanged.
func TestPostgresStorage(t *testing.T) {
	cfg, err := config.Parse(pgListener + `
storage "postgresql" {
  connection_url = "postgres://keyward:s3cr3t-pg-pw@db.internal:5432/keyward?sslmode=verify-full"
  table          = "keyward.store"
  ha_enabled     = "false"
}`)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Storage
	if s.Type != "postgresql" || s.Table != "keyward.store" || s.HAEnabled ||
		s.ConnectionURL.Reveal() != "postgres://keyward:s3cr3t-pg-pw@db.internal:5432/keyward?sslmode=verify-full" {
		t.Errorf("Storage = %q %q %v %q", s.Type, s.Table, s.HAEnabled, s.ConnectionURL.Reveal())
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	// The password shows nowhere the configuration is printed or reported.
	raw, err := json.Marshal(cfg.Sanitized())
	if err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg), "sanitized": string(raw)} {
		if strings.Contains(out, "s3cr3t-pg-pw") {
			t.Errorf("%s of the configuration shows the connection URL's password", what)
		}
	}
	if !strings.Contains(string(raw), `"type":"postgresql"`) {
		t.Errorf("sanitized storage = %s, want type postgresql", raw)
	}
}

// connection_url comes from KEYWARD_PG_CONNECTION_URL, then Vault's
// VAULT_PG_CONNECTION_URL, then the file; neither applies to other types.
func TestPostgresConnectionURLFromEnv(t *testing.T) {
	tests := []struct {
		name, storage string
		env           map[string]string
		want          string
	}{
		{"file", `storage "postgresql" { connection_url = "postgres://file/db" }`, nil, "postgres://file/db"},
		{"vault env", `storage "postgresql" { connection_url = "postgres://file/db" }`,
			map[string]string{"VAULT_PG_CONNECTION_URL": "postgres://vault/db"}, "postgres://vault/db"},
		{"keyward env first", `storage "postgresql" {}`,
			map[string]string{"VAULT_PG_CONNECTION_URL": "postgres://vault/db", "KEYWARD_PG_CONNECTION_URL": "postgres://keyward/db"}, "postgres://keyward/db"},
		{"not for bolt", `storage "bolt" { path = "/var/lib/keyward" }`,
			map[string]string{"KEYWARD_PG_CONNECTION_URL": "postgres://keyward/db"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k.hcl")
			if err := os.WriteFile(p, []byte(pgListener+tc.storage), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if got := cfg.Storage.ConnectionURL.Reveal(); got != tc.want {
				t.Errorf("connection_url = %q, want %q", got, tc.want)
			}
		})
	}
}

// ha_enabled = true is active/standby on one table; with the api_addr a
// standby redirects to, it validates.
func TestPostgresHAStorage(t *testing.T) {
	cfg, err := config.Parse(pgListener + `api_addr = "https://kw1.internal:8200"
storage "postgresql" {
  connection_url = "postgres://keyward@db.internal:5432/keyward?sslmode=verify-full"
  ha_enabled     = "true"
}`)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Storage.HAEnabled {
		t.Error("HAEnabled = false, want true")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

// Every problem of a postgresql block is reported with the others, and
// none repeats the connection URL.
func TestPostgresStorageErrors(t *testing.T) {
	tests := []struct {
		name, block string
		want        []string
	}{
		{"no url", `{ table = "t" }`, []string{"connection_url is required"}},
		{"bad url", `{ connection_url = "postgres://u:s3cr3t-pg-pw@[::1/x" }`, []string{"connection_url is not a PostgreSQL connection string"}},
		{"not a url", `{ connection_url = "s3cr3t-pg-pw" }`, []string{"connection_url is not a PostgreSQL connection string"}},
		{"bad table", `{ connection_url = "postgres://h/db", table = "Store; DROP" }`, []string{`table "Store; DROP" must be a lower-case identifier`}},
		{"ha without api_addr", `{ connection_url = "postgres://h/db", ha_enabled = true }`, []string{"api_addr is required", "ha_enabled = true"}},
		{"all at once", `{ table = "a.b.c", ha_enabled = "true" }`, []string{"connection_url is required", `table "a.b.c"`, "api_addr is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(pgListener + "log_level = \"loud\"\nstorage \"postgresql\" " + tc.block)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			err = cfg.Validate()
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range append(tc.want, "log_level") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-pg-pw") {
				t.Errorf("Validate error repeats the connection URL: %v", err)
			}
		})
	}
}

// A setting of another storage type is an error naming what the type
// takes, and ha_enabled is a boolean.
func TestStorageSettingsPerType(t *testing.T) {
	tests := []struct{ text, want string }{
		{`storage "bolt" { connection_url = "postgres://h/db" }`, `storage "bolt": unknown setting "connection_url" (bolt takes path)`},
		{`storage "postgresql" { path = "/var/lib/keyward" }`, `storage "postgresql": unknown setting "path" (postgresql takes connection_url, table, ha_enabled)`},
		{`storage "postgresql" { ha_enabled = "maybe" }`, "storage: ha_enabled: expected a boolean"},
	}
	for _, tc := range tests {
		_, err := config.Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.text, err, tc.want)
		}
	}
}
