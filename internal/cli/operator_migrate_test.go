package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/testsvc"
)

// runCLI runs keyward in-process and returns its exit code and output.
func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes text to a new file in dir and returns its path.
func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// migrateStore starts a bolt-backed server in dir (three shares, threshold
// two), writes a KV secret holding value, and stops it. It returns the
// shares and the root token.
func migrateStore(t *testing.T, dir, value string) ([][]byte, string) {
	t.Helper()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, Shares: 3, Threshold: 2})
	if _, err := n.Client(t).KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": value}); err != nil {
		t.Fatalf("kv put = %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("close = %v", err)
	}
	return n.Shares, n.RootToken.Reveal()
}

// readSecret checks that the server at url serves the secret.
func readSecret(t *testing.T, url, token, want string) {
	t.Helper()
	sec, err := nodetest.VaultClient(t, url, token).KVv2("secret").Get(t.Context(), "app/db")
	if err != nil {
		t.Fatalf("kv get on the migrated store = %v", err)
	}
	if got := sec.Data["password"]; got != want {
		t.Errorf("kv get on the migrated store = %v, want the written value", got)
	}
}

// pgTable returns a PostgreSQL table name of the test's own, dropped at
// cleanup (or skips, or fails in CI, when PostgreSQL is down).
func pgTable(t *testing.T) string {
	t.Helper()
	admin := testsvc.Postgres(t)
	name := "kwmigrate_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// The whole path: a bolt server's store, copied to PostgreSQL, is served by
// a server on PostgreSQL unsealed with the same shares; and the refusals
// around it (a running server, a non-empty destination).
func TestMigrateBoltToPostgres(t *testing.T) {
	table := pgTable(t)
	dir := t.TempDir()
	value := "canary-" + rand.Text()
	file := writeFile(t, t.TempDir(), "migrate.hcl", fmt.Sprintf(`
storage_source "bolt" {
  path = %q
}
storage_destination "postgresql" {
  connection_url = %q
  table          = %q
}
`, dir, testsvc.PostgresAdminURL, table))

	// While the server runs, it holds the bolt file: migrate refuses.
	running := nodetest.StartWith(t, nodetest.Options{Dir: dir, Shares: 3, Threshold: 2})
	if _, err := running.Client(t).KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": value}); err != nil {
		t.Fatalf("kv put = %v", err)
	}
	code, _, stderr := runCLI(t, "operator", "migrate", "-config", file)
	if code != 1 || !strings.Contains(stderr, "keyward: error: migrate: storage_source: ") ||
		!strings.Contains(stderr, "locked by another process") || !strings.Contains(stderr, "keyward: hint: a server is still running on") {
		t.Fatalf("migrate with a running server = %d\n%s", code, stderr)
	}
	if err := running.Close(); err != nil {
		t.Fatal(err)
	}
	shares, token := running.Shares, running.RootToken.Reveal()

	code, stdout, stderr := runCLI(t, "operator", "migrate", "-config", file)
	if code != 0 || !strings.HasPrefix(stdout, "Copied ") || !strings.Contains(stdout, "postgresql table "+table) {
		t.Fatalf("migrate = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, value) {
		t.Errorf("migrate output holds the secret value")
	}

	// A server on the PostgreSQL store unseals with the same shares.
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "postgresql", ConnectionURL: sensitive.NewString(testsvc.PostgresAdminURL), Table: table}
	cfg.Audit.Dir = t.TempDir()
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Core().Unseal(t.Context(), []sensitive.Bytes{sensitive.NewBytes(shares[0]), sensitive.NewBytes(shares[2])}); err != nil {
		t.Fatalf("unseal the migrated store = %v", err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	readSecret(t, n.URLs()[0], token, value)

	// The destination now holds a store: a second run refuses it.
	code, _, stderr = runCLI(t, "operator", "migrate", "-config", file)
	if code != 1 || !strings.Contains(stderr, "destination storage is not empty") || !strings.Contains(stderr, "keyward: hint:") {
		t.Errorf("second migrate = %d\n%s", code, stderr)
	}
}

// bolt → raft → bolt gives back the same store, key by key, and a server on
// the result unseals and serves the secret.
func TestMigrateBoltRaftRoundTrip(t *testing.T) {
	root := t.TempDir()
	boltA, raftDir, boltB := filepath.Join(root, "a"), filepath.Join(root, "raft"), filepath.Join(root, "b")
	value := "canary-" + rand.Text()
	shares, token := migrateStore(t, boltA, value)
	clusterAddr := nodetest.FreeAddr(t)

	toRaft := writeFile(t, root, "to-raft.hcl", fmt.Sprintf(`
storage_source "bolt" { path = %q }
storage_destination "raft" {
  path                   = %q
  node_id                = "node-1"
  performance_multiplier = 1
}
cluster_addr = "https://%s"
`, boltA, raftDir, clusterAddr))
	if code, stdout, stderr := runCLI(t, "operator", "migrate", "-config", toRaft); code != 0 {
		t.Fatalf("migrate bolt → raft = %d\n%s%s", code, stdout, stderr)
	}
	toBolt := writeFile(t, root, "to-bolt.hcl", fmt.Sprintf(`
storage_source "raft" {
  path                   = %q
  node_id                = "node-1"
  performance_multiplier = 1
}
storage_destination "bolt" { path = %q }
`, raftDir, boltB))
	code, stdout, stderr := runCLI(t, "operator", "migrate", "-config", toBolt)
	if code != 0 {
		t.Fatalf("migrate raft → bolt = %d\n%s%s", code, stdout, stderr)
	}

	if _, err := os.Stat(filepath.Join(boltB, node.MarkerFile)); err != nil {
		t.Errorf("the bolt destination has no initialized marker: %v", err)
	}
	a, b := dumpBolt(t, boltA), dumpBolt(t, boltB)
	if len(a) == 0 {
		t.Fatal("the source store is empty")
	}
	if want := fmt.Sprintf("Copied %d keys from raft %s to bolt", len(a), raftDir); !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout = %q, want it to start %q", stdout, want)
	}
	for k, v := range a {
		if w, ok := b[k]; !ok {
			t.Errorf("key %q lost in the round trip", k)
		} else if !bytes.Equal(v, w) {
			t.Errorf("key %q changed in the round trip", k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("key %q appeared in the round trip", k)
		}
	}
	n := nodetest.StartWith(t, nodetest.Options{Dir: boltB, Reopen: shares[:2]})
	readSecret(t, n.URL, token, value)

	// The raft store serves too: the server gives it a cluster CA (the
	// migration left none) and the same shares unseal it.
	api := nodetest.FreeAddr(t)
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: api, TLSDisable: true}}
	cfg.APIAddr, cfg.ClusterAddr = "http://"+api, "https://"+clusterAddr
	cfg.Storage = config.Storage{Type: "raft", Path: raftDir, NodeID: "node-1", PerformanceMultiplier: 1}
	rn, err := node.New(cfg, nil)
	if err != nil {
		t.Fatalf("serve the migrated raft store: %v", err)
	}
	defer rn.Close()
	if err := rn.Start(); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := rn.Core().SubmitUnsealShare(t.Context(), sh); err != nil {
			t.Fatalf("unseal the migrated raft store: %v", err)
		}
	}
	if rn.Core().Sealed() {
		t.Fatal("the migrated raft store is still sealed")
	}
	clocktest.Eventually(t, "the migrated raft node to become active", func() bool {
		_, self, ok := rn.Core().Leader(t.Context())
		return ok && self && !rn.Core().Standby()
	})
	readSecret(t, "http://"+api, token, value)
}

// dumpBolt reads every key of the bolt store in dir.
func dumpBolt(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	s, err := bolt.Open(filepath.Join(dir, node.DBFile), bolt.Options{Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string][]byte{}
	var walk func(string)
	walk = func(prefix string) {
		names, err := s.List(t.Context(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "/") {
				walk(prefix + name)
				continue
			}
			v, err := s.Get(t.Context(), prefix+name)
			if err != nil {
				t.Fatal(err)
			}
			out[prefix+name] = v
		}
	}
	walk("")
	return out
}

var _ storage.Backend = (*bolt.Store)(nil)

// Bad migration files and flags are refused before any store is touched,
// with every problem reported together.
func TestMigrateRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		file string // "" for no -config
		code int
		want []string
	}{
		{"no config", "", 2, []string{"keyward: error: -config is required"}},
		{"unknown type and errors together", `
storage_source "consul" { address = "127.0.0.1:8500" }
storage_destination "inmem" {}
`, 1, []string{`storage_source: type "consul" is not supported (bolt, postgresql, raft)`, `storage_destination "inmem"`}},
		{"raft destination without cluster_addr or node_id", fmt.Sprintf(`
storage_source "bolt" { path = %q }
storage_destination "raft" { path = %q }
`, filepath.Join(dir, "a"), filepath.Join(dir, "r")), 1, []string{"node_id is required", "cluster_addr is required"}},
		{"same store", fmt.Sprintf(`
storage_source "bolt" { path = %q }
storage_destination "file" { path = "%s/" }
`, dir, dir), 1, []string{"source and destination are the same storage"}},
		{"missing source", fmt.Sprintf(`
storage_source "bolt" { path = %q }
storage_destination "bolt" { path = %q }
`, filepath.Join(dir, "none"), filepath.Join(dir, "dst")), 1, []string{"storage_source", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"operator", "migrate"}
			if tc.file != "" {
				args = append(args, "-config", writeFile(t, t.TempDir(), "m.hcl", tc.file))
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code || stdout != "" {
				t.Errorf("migrate = %d, stdout %q, want %d and nothing", code, stdout, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q\ndoes not contain %q", stderr, w)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "dst")); err == nil {
		t.Errorf("a refused migration created the destination")
	}
}

// -start copies from a key on and allows a destination already holding
// keys; the flag wins over start in the file.
func TestMigrateStart(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	migrateStore(t, src, "v")
	file := writeFile(t, root, "m.hcl", fmt.Sprintf(`
storage_source "bolt" { path = %q }
storage_destination "bolt" { path = %q }
start = "zzz"
`, src, dst))
	code, stdout, stderr := runCLI(t, "operator", "migrate", "-config", file)
	if code != 0 || !strings.HasPrefix(stdout, "Copied 0 keys") {
		t.Fatalf("migrate with start past every key = %d\n%s%s", code, stdout, stderr)
	}
	all := len(dumpBolt(t, src))
	code, stdout, stderr = runCLI(t, "operator", "migrate", "-config", file, "-start", "logical/")
	if code != 0 {
		t.Fatalf("migrate -start logical/ = %d\n%s%s", code, stdout, stderr)
	}
	var part int
	if _, err := fmt.Sscanf(stdout, "Copied %d keys", &part); err != nil || part == 0 || part >= all {
		t.Fatalf("migrate -start logical/ printed %q; the store has %d keys", stdout, all)
	}
	for k := range dumpBolt(t, dst) {
		if k < "logical/" {
			t.Errorf("key %q before the start key was copied", k)
		}
	}
	// Resuming from the beginning fills in the rest over what is there.
	if code, stdout, stderr = runCLI(t, "operator", "migrate", "-config", file, "-start", "\x01"); code != 0 || !strings.HasPrefix(stdout, fmt.Sprintf("Copied %d keys", all)) {
		t.Fatalf("migrate -start \\x01 = %d\n%s%s", code, stdout, stderr)
	}
	if got := len(dumpBolt(t, dst)); got != all {
		t.Errorf("destination holds %d keys, source %d", got, all)
	}
}
