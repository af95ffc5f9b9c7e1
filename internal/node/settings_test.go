package node_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
)

// startConfigFile starts an unsealed node from an HCL configuration file,
// loaded as `keyward server -config` loads it, and returns its URL and
// root token.
func startConfigFile(t *testing.T, hcl string) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.hcl")
	if err := os.WriteFile(p, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Audit.Dir = t.TempDir()
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	res, err := n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n.URLs()[0], res.RootToken.Reveal()
}

// api_addr takes effect: sys/leader reports it as the leader's address
// (this server), which is what the Vault client's Sys().Leader() reads.
func TestAPIAddrInSysLeader(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{name: "set", line: `api_addr = "https://keyward.example.com:8200"`, want: "https://keyward.example.com:8200"},
		{name: "unset", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, root := startConfigFile(t, "listener \"tcp\" {\n address = \"127.0.0.1:0\"\n tls_disable = 1\n}\nstorage \"inmem\" {}\n"+tt.line+"\n")
			leader, err := vaultClient(t, url, root).Sys().Leader()
			if err != nil {
				t.Fatal(err)
			}
			if leader.LeaderAddress != tt.want || !leader.IsSelf {
				t.Errorf("sys/leader = %+v, want leader_address %q and is_self", leader, tt.want)
			}
		})
	}
}

// ui = true stops the server with a clear message instead of starting
// without the UI it asked for.
func TestUIConfigRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "server.hcl")
	os.WriteFile(p, []byte("listener \"tcp\" {\n address = \"127.0.0.1:0\"\n tls_disable = true\n}\nstorage \"inmem\" {}\nui = true\n"), 0o600)
	_, err := config.Load(p, nil)
	if err == nil || !strings.Contains(err.Error(), "the web UI is not built into Keyward") {
		t.Fatalf("Load with ui = true = %v, want the web UI refusal", err)
	}
}
