package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/testsvc"
)

// A server on storage "postgresql" initializes, keeps a secret across a
// restart on the same table, and logs neither the secret nor the
// connection URL's password.
func TestPostgresStorage(t *testing.T) {
	c := testsvc.Postgres(t)
	table := "kwnode_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := c.Exec(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})

	const pw, secret = "canary-pg-Pa55-4f1d", "canary-secret-9b2e"
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "postgresql", Table: table,
		ConnectionURL: sensitive.NewString("postgres://postgres:" + pw + "@" + testsvc.PostgresAddr + "/test?sslmode=disable&pool_max_conns=4")}
	cfg.Audit.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	var logs clocktest.Buffer
	start := func() *node.Node {
		n, err := node.New(cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			t.Fatalf("node.New = %v", err)
		}
		if err := n.Start(); err != nil {
			t.Fatalf("Start = %v", err)
		}
		return n
	}
	ctx := t.Context()

	n := start()
	res, err := n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	if err := n.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatalf("Unseal = %v", err)
	}
	if err := n.Core().MountDefaultKV(ctx); err != nil {
		t.Fatal(err)
	}
	vc := nodetest.VaultClient(t, n.URLs()[0], res.RootToken.Reveal())
	if _, err := vc.KVv2("secret").Put(ctx, "ci/db", map[string]any{"password": secret}); err != nil {
		t.Fatalf("KV put = %v", err)
	}
	if st, err := vc.Sys().SealStatus(); err != nil || st.StorageType != "postgresql" {
		t.Errorf("seal-status storage_type = %+v, %v; want postgresql", st, err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	n = start()
	defer n.Close()
	if err := n.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatalf("Unseal after restart = %v", err)
	}
	vc = nodetest.VaultClient(t, n.URLs()[0], res.RootToken.Reveal())
	got, err := vc.KVv2("secret").Get(ctx, "ci/db")
	if err != nil || got.Data["password"] != secret {
		t.Fatalf("KV get after restart = %v, %v", got, err)
	}
	var raw int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE position($1::bytea IN value) > 0", []byte(secret)).Scan(&raw); err != nil || raw != 0 {
		t.Errorf("%d rows of the table hold the secret in clear (%v)", raw, err)
	}
	for _, canary := range []string{pw, secret} {
		if bytes.Contains(logs.Bytes(), []byte(canary)) {
			t.Errorf("server logs contain %q", canary)
		}
	}
}

// A database that cannot be reached stops the server before it listens,
// with an error that names the server and not the password.
func TestPostgresStorageUnreachable(t *testing.T) {
	const pw = "canary-pg-Pa55-0ff1"
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "postgresql", ConnectionURL: sensitive.NewString("postgres://keyward:" + pw + "@127.0.0.1:1/keyward?connect_timeout=5")}
	cfg.Audit.Dir = t.TempDir()
	_, err := node.New(cfg, nil)
	if err == nil {
		t.Fatal("node.New with an unreachable database = nil error")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, pw) {
		t.Errorf("node.New error = %q: want the server named, never the password", msg)
	}
}
