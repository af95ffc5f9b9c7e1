// Package nodetest starts real Keyward servers for tests: in-memory or bbolt
// storage, initialized, unsealed, KV v2 at secret/, listening on a random
// loopback port. It is for tests only and never used by the binary.
package nodetest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/sensitive"

	vault "github.com/hashicorp/vault/api"
)

// Node is a started test server.
type Node struct {
	*node.Node
	URL       string
	RootToken sensitive.String
	// Shares are the unseal shares (one in the default setup).
	Shares [][]byte
	// Logs holds everything the server logged, for canary sweeps.
	Logs *clocktest.Buffer
}

// Options tunes Start.
type Options struct {
	// Dir, when set, puts bbolt storage in this directory instead of memory.
	Dir string
	// Shares and Threshold for init (default 1/1).
	Shares, Threshold int
	// Sealed leaves the server initialized but sealed.
	Sealed bool
	// Uninitialized leaves the server uninitialized (and sealed).
	Uninitialized bool
	// Reopen uses an already initialized store in Dir, unsealing it with
	// these shares instead of initializing.
	Reopen [][]byte
	// AuditDir is the server's audit directory. Unset, it is the node's
	// default ("audit" inside Dir) with bbolt storage, and the system
	// temporary directory with in-memory storage, so tests may put audit
	// files in t.TempDir().
	AuditDir string
	// Configure, when set, edits the configuration before the server is
	// built (the watch block, say).
	Configure func(*config.Config)
	// Now, when set, is the core's clock (a clocktest.Clock's Now).
	Now func() time.Time
}

// Start starts a server with default options; it fails the test on error
// and closes the server at cleanup.
func Start(t testing.TB) *Node { return StartWith(t, Options{}) }

// StartWith starts a server with opts.
func StartWith(t testing.TB, opts Options) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "inmem"}
	if opts.Dir != "" {
		cfg.Storage = config.Storage{Type: "bolt", Path: opts.Dir}
	}
	cfg.Audit.Dir = opts.AuditDir
	if cfg.Audit.Dir == "" && opts.Dir == "" {
		cfg.Audit.Dir = os.TempDir()
	}
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	logs := &clocktest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Now != nil {
		cfg.Now = opts.Now
	}
	n, err := node.New(cfg, logger)
	if err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	tn := &Node{Node: n, Logs: logs}
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	if opts.Reopen != nil {
		tn.Shares = opts.Reopen
		if err := n.Core().Unseal(ctx, wrapShares(opts.Reopen)); err != nil {
			t.Fatalf("nodetest: unseal reopened store: %v", err)
		}
	} else if !opts.Uninitialized {
		if opts.Shares == 0 {
			opts.Shares, opts.Threshold = 1, 1
		}
		res, err := n.Core().Initialize(ctx, core.InitParams{Shares: opts.Shares, Threshold: opts.Threshold})
		if err != nil {
			t.Fatalf("nodetest: init: %v", err)
		}
		tn.Shares = make([][]byte, len(res.Shares))
		for i, s := range res.Shares {
			tn.Shares[i] = s.Reveal() // tests submit the shares themselves
		}
		tn.RootToken = res.RootToken
		if !opts.Sealed {
			if err := n.Core().Unseal(ctx, res.Shares[:opts.Threshold]); err != nil {
				t.Fatalf("nodetest: unseal: %v", err)
			}
			if err := n.Core().MountDefaultKV(ctx); err != nil {
				t.Fatalf("nodetest: mount secret/: %v", err)
			}
		}
	}
	if err := n.Start(); err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	tn.URL = n.URLs()[0]
	return tn
}

// VaultClient returns the official Vault Go client for the server at addr,
// holding token, with retries off so a test sees every answer as it is.
func VaultClient(t testing.TB, addr, token string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// Client returns the official Vault Go client for n, holding its root token.
func (n *Node) Client(t testing.TB) *vault.Client {
	t.Helper()
	return VaultClient(t, n.URL, n.RootToken.Reveal())
}

// wrapShares holds shares given as bytes in sensitive.Bytes.
func wrapShares(shares [][]byte) []sensitive.Bytes {
	out := make([]sensitive.Bytes, len(shares))
	for i, s := range shares {
		out[i] = sensitive.NewBytes(s)
	}
	return out
}

// FreeAddr returns a loopback host:port nobody listens on now (for
// settings such as api_addr that must be known before listening).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// RaftConfig is the configuration of one raft node id with its data in
// dir: a plain-HTTP API and a cluster port on free loopback ports, and
// performance_multiplier 1 (the tightest timeouts).
func RaftConfig(t testing.TB, id, dir string) *config.Config {
	t.Helper()
	api, cl := FreeAddr(t), FreeAddr(t)
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: api, TLSDisable: true}}
	cfg.APIAddr = "http://" + api
	cfg.ClusterAddr = "https://" + cl
	cfg.Storage = config.Storage{Type: "raft", Path: dir, NodeID: id, PerformanceMultiplier: 1}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	return cfg
}

// StartConfig builds and starts a server from cfg, logging everything
// (JSON, debug) to logs; it closes the server at cleanup and prints the
// logs if the test failed. The server is left as it starts: sealed.
func StartConfig(t testing.TB, cfg *config.Config, logs *clocktest.Buffer) *node.Node {
	t.Helper()
	name := cfg.Storage.NodeID
	if name == "" {
		name = cfg.APIAddr
	}
	n, err := node.New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("node.New(%s) = %v", name, err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("Start(%s) = %v", name, err)
	}
	t.Cleanup(func() {
		n.Close()
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, logs.String())
		}
	})
	return n
}
