package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
)

// A Vault-shaped migration file reads into Migration.
func TestParseMigration(t *testing.T) {
	m, err := config.ParseMigration(`
storage_source "bolt" {
  path = "/var/lib/keyward"
}
storage_destination "raft" {
  path                   = "/var/lib/keyward-raft"
  node_id                = "node-1"
  performance_multiplier = 1
  max_entry_size         = 2097152
}
cluster_addr = "https://10.0.0.5:8201"
start        = "logical/"
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	want := config.Migration{
		Source:      config.Storage{Type: "bolt", Path: "/var/lib/keyward"},
		Destination: config.Storage{Type: "raft", Path: "/var/lib/keyward-raft", NodeID: "node-1", PerformanceMultiplier: 1, MaxEntrySize: 2 << 20},
		ClusterAddr: "https://10.0.0.5:8201",
		Start:       "logical/",
	}
	if m.Source.Type != "bolt" || m.Source.Path != want.Source.Path || m.Destination.Path != want.Destination.Path || m.Destination.NodeID != "node-1" ||
		m.Destination.PerformanceMultiplier != 1 || m.Destination.MaxEntrySize != 2<<20 || m.ClusterAddr != want.ClusterAddr || m.Start != want.Start {
		t.Errorf("ParseMigration = %+v, want %+v", *m, want)
	}
	if hp, err := m.ClusterHostPort(); err != nil || hp != "10.0.0.5:8201" {
		t.Errorf("ClusterHostPort = %q, %v", hp, err)
	}
}

func TestParseMigrationPostgres(t *testing.T) {
	m, err := config.ParseMigration(`
storage_source "postgresql" {
  connection_url = "postgres://keyward:s3cr3t-pg-pw@db:5432/keyward"
  table = "keyward.store"
}
storage_destination "bolt" { path = "/data" }
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	if m.Source.ConnectionURL.Reveal() != "postgres://keyward:s3cr3t-pg-pw@db:5432/keyward" || m.Source.Table != "keyward.store" {
		t.Errorf("Source = %q %q", m.Source.ConnectionURL.Reveal(), m.Source.Table)
	}
}

// Every problem in a migration file is reported at once.
func TestMigrationErrorsTogether(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string
	}{
		{"parse", `
storage_source "bolt" { path = "/a", bogus = 1 }
storage_destination "raft" { path = "/b" }
storage_destination "raft" { path = "/c" }
colour = "blue"
`, []string{`line 2: storage "bolt": unknown setting "bogus"`, "line 4: storage_destination is already set on line 3", `line 5: unknown setting "colour"`}},
		{"validate", `
storage_source "inmem" {}
storage_destination "raft" { performance_multiplier = 11 }
start = "x"
`, []string{`storage_source "inmem"`, `storage_destination "raft": path is required`, "node_id is required",
			"performance_multiplier must be between 0 and 10", "cluster_addr is required"}},
		{"unknown type", `
storage_source "consul" { path = "/a" }
storage_destination "postgresql" {}
`, []string{`storage_source: type "consul" is not supported`, "storage_destination: storage \"postgresql\": connection_url is required"}},
		{"missing blocks", `cluster_addr = "https://0.0.0.0:8201"`, []string{"storage_source block is required", "storage_destination block is required"}},
		{"bad cluster_addr", `
storage_source "bolt" { path = "/a" }
storage_destination "raft" {
  path = "/b"
  node_id = "n1"
}
cluster_addr = "http://10.0.0.5"
`, []string{`cluster_addr "http://10.0.0.5"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := config.ParseMigration(tc.text)
			if err == nil {
				err = m.Validate()
			}
			if err == nil {
				t.Fatalf("ParseMigration + Validate succeeded, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMigrationNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "migrate.hcl")
	if err := os.WriteFile(p, []byte(`storage_source "bolt" {}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadMigration(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "path is required") {
		t.Errorf("LoadMigration = %v", err)
	}
}

// The server parses storage "raft" but refuses to serve it yet.
func TestRaftServerConfig(t *testing.T) {
	cfg, err := config.Parse(`listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = true
  cluster_address = "127.0.0.1:8201"
}
api_addr = "http://127.0.0.1:8200"
cluster_addr = "https://127.0.0.1:8201"
storage "raft" {
  path = "/data"
  node_id = "n1"
  retry_join {
    leader_api_addr = "https://10.0.0.1:8200"
    leader_ca_cert_file = "/ca.pem"
  }
  retry_join {
    leader_api_addr = "https://10.0.0.2:8200"
  }
}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	rj := cfg.Storage.RetryJoin
	if len(rj) != 2 || rj[0].LeaderCACertFile != "/ca.pem" {
		t.Errorf("retry_join = %+v", rj)
	}
	leaders := []string{rj[0].LeaderAPIAddr, rj[1].LeaderAPIAddr}
	if !slices.Contains(leaders, "https://10.0.0.1:8200") || !slices.Contains(leaders, "https://10.0.0.2:8200") {
		t.Errorf("retry_join leaders = %v", leaders)
	}
	if got := cfg.ClusterBind(); got != "127.0.0.1:8201" {
		t.Errorf("ClusterBind = %q", got)
	}

	// Everything a raft node needs is reported at once.
	if _, err := config.Parse(pgListener + `storage "raft" {
  retry_join { leader_ca_cert_file = "/x" }
}`); err == nil || !strings.Contains(err.Error(), "leader_api_addr is required") {
		t.Errorf("retry_join without a leader: %v", err)
	}
	cfg, err = config.Parse(pgListener + `storage "raft" {}`)
	if err == nil {
		err = cfg.Validate()
	}
	for _, want := range []string{"path is required", "node_id is required", "cluster_addr is required", "api_addr is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to say %q", err, want)
		}
	}
}

func FuzzParseMigration(f *testing.F) {
	f.Add(`storage_source "bolt" { path = "/a" }` + "\n" + `storage_destination "postgresql" { connection_url = "postgres://x@h/db" }`)
	f.Add(`start = "a"` + "\n" + `cluster_addr = "https://h:1"`)
	f.Fuzz(func(t *testing.T, text string) {
		m, err := config.ParseMigration(text)
		if err == nil {
			_ = m.Validate() // must not panic
		}
	})
}
