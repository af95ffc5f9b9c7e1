package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// raftNode is one in-process node of a test cluster.
type raftNode struct {
	id   string
	cfg  *config.Config
	n    *node.Node
	url  string
	logs *clocktest.Buffer
}

func newRaftNodeConfig(t testing.TB, id, dir string) *config.Config {
	return nodetest.RaftConfig(t, id, dir)
}

func startRaftNode(t testing.TB, cfg *config.Config, logs *clocktest.Buffer) *raftNode {
	t.Helper()
	n := nodetest.StartConfig(t, cfg, logs)
	return &raftNode{id: cfg.Storage.NodeID, cfg: cfg, n: n, url: cfg.APIAddr, logs: logs}
}

func (r *raftNode) client(t testing.TB, token string) *vault.Client {
	return nodetest.VaultClient(t, r.url, token)
}

func unsealHTTP(t testing.TB, c *vault.Client, shares []string) {
	t.Helper()
	for _, s := range shares {
		st, err := c.Sys().Unseal(s)
		if err != nil {
			t.Fatalf("unseal: %v", err)
		}
		if !st.Sealed {
			return
		}
	}
	t.Fatal("still sealed after every share")
}

// TestRaftClusterInProcess: three nodes on raft storage form a cluster
// through the join challenge; standbys forward reads and writes to the
// active node; a step-down moves the active role; a removed node cannot
// come back with its old data.
func TestRaftClusterInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := t.Context()
	canary := "canary-" + rand.Text()
	var nodes []*raftNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startRaftNode(t, newRaftNodeConfig(t, id, filepath.Join(t.TempDir(), id)), &clocktest.Buffer{}))
	}
	n1 := nodes[0]
	res, err := n1.n.Core().Initialize(ctx, core.InitParams{Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	var shares []string
	for _, s := range res.Shares {
		shares = append(shares, base64.StdEncoding.EncodeToString(s.Reveal()))
	}
	root := res.RootToken.Reveal()
	c1 := n1.client(t, root)
	unsealHTTP(t, c1, shares[:2])
	waitActive(t, c1)
	if err := c1.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := c1.Logical().Write("sys/storage/raft/autopilot/configuration", map[string]any{"server_stabilization_time": "1s"}); err != nil {
		t.Fatalf("autopilot config: %v", err)
	}
	if _, err := c1.KVv2("secret").Put(ctx, "app", map[string]any{"v": "one"}); err != nil {
		t.Fatalf("put: %v", err)
	}

	for _, r := range nodes[1:] {
		c := r.client(t, "")
		s, err := c.Logical().Write("sys/storage/raft/join", map[string]any{"leader_api_addr": n1.url})
		if err != nil {
			t.Fatalf("join %s: %v", r.id, err)
		}
		if s == nil {
			// Raw body {"joined":true}: the Go client returns nil data.
			t.Logf("join %s: ok", r.id)
		}
		st, err := c.Sys().SealStatus()
		if err != nil || !st.Initialized || !st.Sealed || st.T != 2 {
			t.Fatalf("seal status of a joining node = %+v, %v; want initialized, sealed, t=2", st, err)
		}
		unsealHTTP(t, c, shares[1:])
	}
	clocktest.Eventually(t, "three voters", func() bool {
		s, err := c1.Logical().Read("sys/storage/raft/configuration")
		if err != nil || s == nil {
			return false
		}
		servers, _ := s.Data["config"].(map[string]any)["servers"].([]any)
		voters := 0
		for _, v := range servers {
			if v.(map[string]any)["voter"] == true {
				voters++
			}
		}
		return voters == 3
	})

	// Standbys forward: a read and a write through n2 and n3.
	for _, r := range nodes[1:] {
		c := r.client(t, root)
		clocktest.Eventually(t, r.id+" to read through the active node", func() bool {
			s, err := c.KVv2("secret").Get(ctx, "app")
			return err == nil && s.Data["v"] == "one"
		})
		if _, err := c.KVv2("secret").Put(ctx, "from-"+r.id, map[string]any{"v": r.id, "canary": canary}); err != nil {
			t.Fatalf("put through %s: %v", r.id, err)
		}
		h, err := c.Sys().Health()
		if err != nil || !h.Standby {
			t.Fatalf("health of %s = %+v, %v; want standby", r.id, h, err)
		}
		l, err := c.Sys().Leader()
		if err != nil || l.IsSelf || l.LeaderAddress != n1.url || !l.HAEnabled {
			t.Fatalf("leader seen from %s = %+v, %v", r.id, l, err)
		}
	}
	for _, id := range []string{"n2", "n3"} {
		s, err := c1.KVv2("secret").Get(ctx, "from-"+id)
		if err != nil || s.Data["v"] != id {
			t.Fatalf("write forwarded by %s reads back on the active node as %v, %v", id, s, err)
		}
	}
	clocktest.Eventually(t, "ha-status to list three nodes", func() bool {
		s, err := c1.Logical().Read("sys/ha-status")
		if err != nil || s == nil {
			return false
		}
		ns, _ := s.Data["nodes"].([]any)
		return len(ns) == 3
	})

	// Step down: another node becomes active, and every node still serves.
	if err := c1.Sys().StepDown(); err != nil {
		t.Fatalf("step-down: %v", err)
	}
	var active *raftNode
	clocktest.Eventually(t, "another node to become active", func() bool {
		for _, r := range nodes[1:] {
			l, err := r.client(t, root).Sys().Leader()
			if err == nil && l.IsSelf {
				active = r
				return true
			}
		}
		return false
	})
	for _, r := range nodes {
		c := r.client(t, root)
		clocktest.Eventually(t, r.id+" to serve after the step-down", func() bool {
			s, err := c.KVv2("secret").Get(ctx, "from-n2")
			return err == nil && s.Data["v"] == "n2"
		})
	}

	// Remove a standby that is not active: its old data cannot rejoin.
	var gone *raftNode
	for _, r := range nodes {
		if r != active {
			gone = r
			break
		}
	}
	ca := active.client(t, root)
	if _, err := ca.Logical().Write("sys/storage/raft/remove-peer", map[string]any{"server_id": gone.id}); err != nil {
		t.Fatalf("remove-peer: %v", err)
	}
	gone.n.Close()
	back := startRaftNode(t, gone.cfg, &clocktest.Buffer{})
	err = func() error {
		for _, s := range shares[:2] {
			if _, err := back.client(t, "").Sys().Unseal(s); err != nil {
				return err
			}
		}
		return nil
	}()
	switch {
	case err != nil && strings.Contains(err.Error(), "removed"):
		// Its state machine had applied its removal: it refuses itself.
	case err != nil:
		t.Fatalf("unsealing a removed node with its old data = %v, want it refused as removed or shut out", err)
	default:
		// It left before applying its removal, so it unseals, but every
		// member refuses its certificate: it never rejoins or serves
		// (each read waits out its search for a leader).
		for range 3 {
			s, err := ca.Logical().Read("sys/storage/raft/configuration")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range s.Data["config"].(map[string]any)["servers"].([]any) {
				if v.(map[string]any)["node_id"] == gone.id {
					t.Fatalf("the removed node %s is back in the configuration", gone.id)
				}
			}
			if _, err := back.client(t, root).KVv2("secret").Get(ctx, "from-n2"); err == nil {
				t.Fatal("the removed node served a read")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if _, err := back.client(t, "").Logical().Write("sys/storage/raft/join", map[string]any{"leader_api_addr": active.url}); err == nil || !strings.Contains(err.Error(), "already holds raft data") {
		t.Fatalf("join of a removed node with its old data = %v, want it refused", err)
	}
	// A secret forwarded by standbys and replicated to every node is in
	// no node's log, nor are the root token and the unseal shares.
	for _, r := range append(nodes, back) {
		for _, planted := range append([]string{canary, root}, shares...) {
			if strings.Contains(r.logs.String(), planted) {
				t.Errorf("%s's log holds a planted secret", r.id)
			}
		}
	}
}

// TestRaftEntryTooLarge: a write bigger than max_entry_size is the
// client's error, 413, and nothing is written.
func TestRaftEntryTooLarge(t *testing.T) {
	cfg := newRaftNodeConfig(t, "big", filepath.Join(t.TempDir(), "big"))
	cfg.Storage.MaxEntrySize = 64 << 10
	r := startRaftNode(t, cfg, &clocktest.Buffer{})
	res, err := r.n.Core().Initialize(t.Context(), core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := r.client(t, res.RootToken.Reveal())
	unsealHTTP(t, c, []string{base64.StdEncoding.EncodeToString(res.Shares[0].Reveal())})
	waitActive(t, c)
	if err := c.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.KVv2("secret").Put(t.Context(), "big", map[string]any{"v": strings.Repeat("x", 100<<10)})
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 413 {
		t.Fatalf("a write over max_entry_size = %v, want 413", err)
	}
	if _, err := c.KVv2("secret").Get(t.Context(), "big"); err == nil {
		t.Fatal("the refused write was stored")
	}
	if _, err := c.KVv2("secret").Put(t.Context(), "small", map[string]any{"v": "ok"}); err != nil {
		t.Fatalf("a small write after the refusal: %v", err)
	}
}

// waitActive waits for c's node to report itself the active node.
func waitActive(t testing.TB, c *vault.Client) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := c.Sys().Leader()
		if err == nil && l.IsSelf {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("node never became active")
}

// oneRaftNode starts, initializes and unseals a one-node raft cluster.
func oneRaftNode(t testing.TB, id string) (r *raftNode, root string, shares []string) {
	t.Helper()
	r = startRaftNode(t, newRaftNodeConfig(t, id, filepath.Join(t.TempDir(), id)), &clocktest.Buffer{})
	res, err := r.n.Core().Initialize(t.Context(), core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	shares = []string{base64.StdEncoding.EncodeToString(res.Shares[0].Reveal())}
	root = res.RootToken.Reveal()
	c := r.client(t, root)
	unsealHTTP(t, c, shares)
	waitActive(t, c)
	if err := c.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	return r, root, shares
}

// TestRaftSnapshotRestore (issue 14): rotate the keyring, snapshot, rotate
// again, write, restore: every secret and policy of the snapshot reads,
// also after a restart; a snapshot of another cluster is refused unless
// forced, and forced it seals the node for that cluster's keys; a stream
// cut midway restores nothing.
func TestRaftSnapshotRestore(t *testing.T) {
	ctx := t.Context()
	r, root, shares := oneRaftNode(t, "s1")
	c := r.client(t, root)
	kv := c.KVv2("secret")
	if _, err := kv.Put(ctx, "before", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicy("p-before", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "rotated", map[string]any{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := c.Sys().RaftSnapshot(&snap); err != nil {
		t.Fatalf("RaftSnapshot = %v", err)
	}
	if err := c.Sys().Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "after", map[string]any{"v": "3"}); err != nil {
		t.Fatal(err)
	}

	// A cut stream restores nothing.
	cut := snap.Bytes()[:snap.Len()/2]
	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(cut), false); err == nil || !strings.Contains(err.Error(), "corrupt or truncated") {
		t.Fatalf("restore of a cut snapshot = %v", err)
	}
	if s, err := kv.Get(ctx, "after"); err != nil || s.Data["v"] != "3" {
		t.Fatalf("after a refused restore: %v, %v", s, err)
	}

	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(snap.Bytes()), false); err != nil {
		t.Fatalf("RaftSnapshotRestore = %v", err)
	}
	check := func(c *vault.Client) {
		t.Helper()
		kv := c.KVv2("secret")
		for k, want := range map[string]string{"before": "1", "rotated": "2"} {
			var s *vault.KVSecret
			var err error
			clocktest.Eventually(t, k+" to read after the restore", func() bool {
				s, err = kv.Get(ctx, k)
				return err == nil
			})
			if s.Data["v"] != want {
				t.Fatalf("%s = %v after the restore, want %s", k, s.Data["v"], want)
			}
		}
		if _, err := kv.Get(ctx, "after"); err == nil {
			t.Fatal("a secret written after the snapshot survived its restore")
		}
		if p, err := c.Sys().GetPolicy("p-before"); err != nil || p == "" {
			t.Fatalf("policy after the restore = %q, %v", p, err)
		}
	}
	check(c)
	if _, err := kv.Put(ctx, "post-restore", map[string]any{"v": "4"}); err != nil {
		t.Fatalf("write after the restore: %v", err)
	}
	// The keyring was stored whole again: a restart unseals and reads all.
	r.n.Close()
	r = startRaftNode(t, r.cfg, &clocktest.Buffer{})
	c = r.client(t, root)
	unsealHTTP(t, c, shares)
	waitActive(t, c)
	check(c)
	if s, err := c.KVv2("secret").Get(ctx, "post-restore"); err != nil || s.Data["v"] != "4" {
		t.Fatalf("post-restore after a restart = %v, %v", s, err)
	}

	// Another cluster's snapshot: refused, then forced.
	o, oroot, oshares := oneRaftNode(t, "other")
	oc := o.client(t, oroot)
	if _, err := oc.KVv2("secret").Put(ctx, "theirs", map[string]any{"v": "x"}); err != nil {
		t.Fatal(err)
	}
	var foreign bytes.Buffer
	if err := oc.Sys().RaftSnapshot(&foreign); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(foreign.Bytes()), false); err == nil || !strings.Contains(err.Error(), "not this cluster") {
		t.Fatalf("restore of another cluster's snapshot = %v", err)
	}
	check(c)
	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(foreign.Bytes()), true); err != nil {
		t.Fatalf("forced restore = %v", err)
	}
	clocktest.Eventually(t, "the node to seal after a forced restore", func() bool {
		st, err := c.Sys().SealStatus()
		return err == nil && st.Sealed
	})
	unsealHTTP(t, c, oshares)
	waitActive(t, c)
	c.SetToken(oroot)
	if s, err := c.KVv2("secret").Get(ctx, "theirs"); err != nil || s.Data["v"] != "x" {
		t.Fatalf("the other cluster's secret after a forced restore = %v, %v", s, err)
	}
}

// TestRaftAutomatedSnapshots: a snapshot-auto configuration writes
// snapshots on its schedule into its directory (0600, complete streams
// that restore), keeps the newest retain, and reports its runs; bad
// configurations are refused with every problem named.
func TestRaftAutomatedSnapshots(t *testing.T) {
	defer node.SetMinAutoSnapshotInterval(time.Second)()
	r, root, _ := oneRaftNode(t, "auto")
	c := r.client(t, root)
	dir := filepath.Join(t.TempDir(), "snaps")
	if _, err := c.Logical().Write("sys/storage/raft/snapshot-auto/config/bad", map[string]any{
		"interval": "1ms", "retain": 0, "storage_type": "aws-s3", "path_prefix": "relative",
	}); err == nil || !strings.Contains(err.Error(), "interval must be at least") || !strings.Contains(err.Error(), "retain") ||
		!strings.Contains(err.Error(), "storage_type") || !strings.Contains(err.Error(), "path_prefix") {
		t.Fatalf("bad config = %v", err)
	}
	if _, err := c.Logical().Write("sys/storage/raft/snapshot-auto/config/hourly", map[string]any{
		"interval": "1s", "retain": 2, "storage_type": "local", "path_prefix": dir, "file_prefix": "kw",
	}); err != nil {
		t.Fatalf("config: %v", err)
	}
	if _, err := c.KVv2("secret").Put(t.Context(), "k", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	var files []os.DirEntry
	runs := map[string]bool{}
	clocktest.Eventually(t, "three automated snapshots, two kept", func() bool {
		s, err := c.Logical().Read("sys/storage/raft/snapshot-auto/status/hourly")
		if err != nil || s == nil {
			return false
		}
		if u, _ := s.Data["last_snapshot_url"].(string); u != "" {
			runs[u] = true
		}
		files, _ = os.ReadDir(dir)
		return len(runs) >= 3 && len(files) == 2
	})
	for _, f := range files {
		fi, err := f.Info()
		if err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(f.Name(), "kw-") {
			t.Fatalf("snapshot file %s: %v %v", f.Name(), fi.Mode(), err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, files[1].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(b), false); err != nil {
		t.Fatalf("restore of an automated snapshot: %v", err)
	}
	s, err := c.Logical().List("sys/storage/raft/snapshot-auto/config")
	if err != nil || s == nil || len(s.Data["keys"].([]any)) != 1 {
		t.Fatalf("list = %v, %v", s, err)
	}
	if _, err := c.Logical().Delete("sys/storage/raft/snapshot-auto/config/hourly"); err != nil {
		t.Fatal(err)
	}
}
