package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/sensitive"
)

// transitSealBlock starts a Keyward server with a transit key "seal" and
// returns the seal block that uses it.
func transitSealBlock(t *testing.T) config.Seal {
	t.Helper()
	tr := nodetest.Start(t)
	root := tr.RootToken.Reveal()
	for _, p := range []string{"sys/mounts/transit", "transit/keys/seal"} {
		body := []byte(`{}`)
		if p == "sys/mounts/transit" {
			body = []byte(`{"type":"transit"}`)
		}
		req, _ := http.NewRequest("POST", tr.URL+"/v1/"+p, bytes.NewReader(body))
		req.Header.Set("X-Vault-Token", root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d", p, resp.StatusCode)
		}
	}
	return config.Seal{Type: "transit", Transit: &seal.TransitConfig{Address: tr.URL, Token: sensitive.NewString(root), KeyName: "seal", DisableRenewal: true}}
}

func healthOf(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url + "/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Two servers on one PostgreSQL table with ha_enabled and one transit
// seal: the second, started before the first initializes, finds the store
// initialized by itself and unseals into a standby; it takes over when the
// active one closes.
func TestPGHATransitSealedPairUnsealsItself(t *testing.T) {
	table := pgHATable(t)
	sealBlock := transitSealBlock(t)
	start := func() (*node.Node, string) {
		addr := nodetest.FreeAddr(t)
		cfg := config.Default()
		cfg.Listeners = []config.Listener{{Type: "tcp", Address: addr, TLSDisable: true}}
		cfg.APIAddr = "http://" + addr
		cfg.Storage = config.Storage{Type: "postgresql", Table: table, HAEnabled: true, ConnectionURL: sensitive.NewString(pgHAURL)}
		cfg.Audit.Dir = t.TempDir()
		cfg.Seals = []config.Seal{sealBlock}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate = %v", err)
		}
		return nodetest.StartConfig(t, cfg, &clocktest.Buffer{}), cfg.APIAddr
	}
	a, urlA := start()
	b, urlB := start()
	if code, h := healthOf(t, urlB); code != http.StatusNotImplemented || h["initialized"] != false {
		t.Fatalf("b before init: %d %v", code, h)
	}
	res, err := a.Core().Initialize(t.Context(), core.InitParams{RecoveryShares: 3, RecoveryThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RecoveryShares) != 3 || len(res.Shares) != 0 {
		t.Fatalf("Initialize returned %d recovery and %d unseal shares", len(res.RecoveryShares), len(res.Shares))
	}
	clocktest.Eventually(t, "a to unseal itself and become active", func() bool {
		code, _ := healthOf(t, urlA)
		return code == http.StatusOK
	})
	clocktest.Eventually(t, "b to unseal itself into a standby", func() bool {
		code, h := healthOf(t, urlB)
		return code == http.StatusTooManyRequests && h["standby"] == true && h["sealed"] == false
	})
	a.Close()
	clocktest.Eventually(t, "b to become active", func() bool {
		code, _ := healthOf(t, urlB)
		return code == http.StatusOK
	})
	st, err := b.Core().SealStatus(t.Context())
	if err != nil || st.Type != "transit" || !st.RecoverySeal || st.T != 2 || st.N != 3 {
		t.Fatalf("b's seal status = %+v, %v", st, err)
	}
}

// A raft cluster under one transit seal: the first node unseals itself
// after init, a second joins through the challenge and unseals itself with
// no key typed, and after a restart of both they unseal themselves again
// with the data in place.
func TestRaftTransitSealedJoinUnsealsItself(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := t.Context()
	sealBlock := transitSealBlock(t)
	cfgs := make([]*config.Config, 2)
	nodes := make([]*raftNode, 2)
	for i := range cfgs {
		id := fmt.Sprintf("n%d", i+1)
		cfgs[i] = newRaftNodeConfig(t, id, filepath.Join(t.TempDir(), id))
		cfgs[i].Seals = []config.Seal{sealBlock}
		nodes[i] = startRaftNode(t, cfgs[i], &clocktest.Buffer{})
	}
	n1, n2 := nodes[0], nodes[1]
	res, err := n1.n.Core().Initialize(ctx, core.InitParams{RecoveryShares: 1, RecoveryThreshold: 1})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	root := res.RootToken.Reveal()
	c1 := n1.client(t, root)
	waitActive(t, c1)
	if err := c1.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := c1.KVv2("secret").Put(ctx, "app", map[string]any{"v": "raft-and-transit"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	c2 := n2.client(t, "")
	if _, err := c2.Logical().Write("sys/storage/raft/join", map[string]any{"leader_api_addr": n1.url}); err != nil {
		t.Fatalf("join: %v", err)
	}
	clocktest.Eventually(t, "n2 to unseal itself and join as a voter", func() bool {
		st, err := c2.Sys().SealStatus()
		if err != nil || st.Sealed || st.Type != "transit" {
			return false
		}
		s, err := c1.Logical().Read("sys/storage/raft/configuration")
		if err != nil || s == nil {
			return false
		}
		servers, _ := s.Data["config"].(map[string]any)["servers"].([]any)
		return len(servers) == 2
	})
	c2r := n2.client(t, root)
	clocktest.Eventually(t, "n2 to read through the cluster", func() bool {
		s, err := c2r.KVv2("secret").Get(ctx, "app")
		return err == nil && s.Data["v"] == "raft-and-transit"
	})

	// Both stop; both come back and unseal themselves.
	n1.n.Close()
	n2.n.Close()
	for i, cfg := range cfgs {
		nodes[i] = startRaftNode(t, cfg, &clocktest.Buffer{})
	}
	for _, r := range nodes {
		c := r.client(t, root)
		clocktest.Eventually(t, r.id+" to unseal itself after the restart and read", func() bool {
			s, err := c.KVv2("secret").Get(ctx, "app")
			return err == nil && s.Data["v"] == "raft-and-transit"
		})
	}
}

// boltConfig is a plain-HTTP config on bolt storage in dir.
func boltConfig(t *testing.T, dir string, seals ...config.Seal) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: nodetest.FreeAddr(t), TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "bolt", Path: dir}
	cfg.Seals = seals
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	return cfg
}

// A migration whose new seal cannot be reached changes nothing: the store
// stays sealed and on Shamir, and the same share unseals it afterwards.
// Wrong keys never migrate either way.
func TestSealMigrationFailuresLeaveTheStoreAlone(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	n := nodetest.StartConfig(t, boltConfig(t, dir), &clocktest.Buffer{})
	res, err := n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	share := res.Shares[0].Reveal()
	if err := n.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	if err := n.Core().MountDefaultKV(ctx); err != nil {
		t.Fatal(err)
	}
	root := res.RootToken.Reveal()
	vc := nodetest.VaultClient(t, n.URLs()[0], root)
	if _, err := vc.KVv2("secret").Put(ctx, "keep", map[string]any{"v": "unchanged"}); err != nil {
		t.Fatal(err)
	}
	n.Close()

	// The transit block names a server that is gone.
	gone := transitSealBlock(t)
	gone.Transit.Address = "http://" + nodetest.FreeAddr(t)
	n = nodetest.StartConfig(t, boltConfig(t, dir, gone), &clocktest.Buffer{})
	if st, err := n.Core().SealStatus(ctx); err != nil || !st.Migration || st.Type != "shamir" {
		t.Fatalf("seal status = %+v, %v; want a pending migration from shamir", st, err)
	}
	wrong := bytes.Repeat([]byte{1}, len(share))
	if _, err := n.Core().SubmitUnsealShareMigrate(ctx, wrong, true); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("migrate with a wrong key = %v", err)
	}
	if _, err := n.Core().SubmitUnsealShareMigrate(ctx, share, true); err == nil {
		t.Fatal("migration to an unreachable seal succeeded")
	}
	if !n.Core().Sealed() {
		t.Fatal("a failed migration left the server unsealed")
	}
	if cfg, err := n.Core().Barrier().SealConfig(ctx); err != nil || cfg.Type != "shamir" {
		t.Fatalf("stored seal config after the failed migration = %+v, %v", cfg, err)
	}
	n.Close()

	n = nodetest.StartConfig(t, boltConfig(t, dir), &clocktest.Buffer{})
	if _, err := n.Core().SubmitUnsealShare(ctx, share); err != nil {
		t.Fatal(err)
	}
	vc = nodetest.VaultClient(t, n.URLs()[0], root)
	s, err := vc.KVv2("secret").Get(ctx, "keep")
	if err != nil || s.Data["v"] != "unchanged" {
		t.Fatalf("secret after the failed migration = %v, %v", s, err)
	}
}
