package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// raftNode is one in-process node on raft storage (as in internal/node's
// cluster tests).
type raftNode struct {
	id   string
	url  string
	n    *node.Node
	anon *api.Client // without a token, for polling sys/leader
}

func startRaftNode(t *testing.T, id string) *raftNode {
	t.Helper()
	cfg := nodetest.RaftConfig(t, id, filepath.Join(t.TempDir(), id))
	n := nodetest.StartConfig(t, cfg, &clocktest.Buffer{})
	r := &raftNode{id: id, url: cfg.APIAddr, n: n}
	r.anon = r.client(t, "")
	return r
}

func (r *raftNode) client(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := api.New(api.Config{Address: r.url, Token: api.NewToken(token)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *raftNode) isActive(t testing.TB) bool {
	l, err := r.anon.Leader(t.Context())
	return err == nil && l.IsSelf
}

// runOK runs the CLI and fails the test unless it exits 0.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("keyward %s = %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

type peersJSON struct {
	Data struct {
		Config api.RaftConfiguration `json:"config"`
	} `json:"data"`
}

// peers runs list-peers -format=json against addr.
func peers(t *testing.T, addr string) []api.RaftServer {
	t.Helper()
	code, out, _ := runCLI(t, "operator", "raft", "list-peers", "-format=json", "-address="+addr)
	if code != 0 {
		return nil
	}
	var p peersJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("list-peers -format=json printed %q: %v", out, err)
	}
	return p.Data.Config.Servers
}

func voters(s []api.RaftServer) int {
	n := 0
	for _, v := range s {
		if v.Voter {
			n++
		}
	}
	return n
}

// TestOperatorRaftCluster drives a two-node raft cluster through the CLI:
// join and unseal a second node, list peers and members, autopilot,
// snapshot save/inspect/restore, refusals of truncated snapshots and of
// unwritable destinations, step-down and remove-peer.
func TestOperatorRaftCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := t.Context()
	n1 := startRaftNode(t, "n1")
	res, err := n1.n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	share := base64.StdEncoding.EncodeToString(res.Shares[0].Reveal())
	root := res.RootToken.Reveal()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KEYWARD_ADDR", n1.url)
	t.Setenv("KEYWARD_TOKEN", root)
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("KEYWARD_FORMAT", "")
	runOK(t, "operator", "unseal", share)
	clocktest.Eventually(t, "n1 to become active", func() bool { return n1.isActive(t) })
	c1 := n1.client(t, root)
	if _, err := c1.Write(ctx, "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}

	// Autopilot: promote a caught-up member after one second.
	if out := runOK(t, "operator", "raft", "autopilot", "set-config", "-server-stabilization-time=1s", "-max-trailing-logs=500"); !strings.Contains(out, "Success!") {
		t.Errorf("set-config printed %q", out)
	}
	out := runOK(t, "operator", "raft", "autopilot", "get-config")
	for _, want := range []string{"Server Stabilization Time             1s", "Max Trailing Logs                     500", "Dead Server Last Contact Threshold    24h0m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("get-config lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runCLI(t, "operator", "raft", "autopilot", "set-config"); code != 2 || !strings.Contains(errOut, "at least one setting") {
		t.Errorf("set-config without settings = %d, %s", code, errOut)
	}

	// Join n2 and unseal it with the cluster's share.
	n2 := startRaftNode(t, "n2")
	out = runOK(t, "operator", "raft", "join", "-address="+n2.url, n1.url)
	if !strings.Contains(out, "Joined    true") {
		t.Errorf("join printed:\n%s", out)
	}
	runOK(t, "operator", "unseal", "-address="+n2.url, share)
	clocktest.Eventually(t, "two voters", func() bool {
		cfg, err := c1.RaftConfiguration(ctx)
		return err == nil && voters(cfg.Servers) == 2
	})
	out = runOK(t, "operator", "raft", "list-peers")
	t.Logf("list-peers:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Node") || !strings.Contains(lines[0], "Address") || !strings.Contains(lines[0], "State") || !strings.HasSuffix(lines[0], "Voter") {
		t.Fatalf("list-peers table:\n%s", out)
	}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "n1" && f[2] == "leader" && f[3] == "true":
		case len(f) == 4 && f[0] == "n2" && f[2] == "follower" && f[3] == "true":
		default:
			t.Errorf("list-peers row %q", l)
		}
	}
	// A standby answers list-peers too (it forwards).
	if s := peers(t, n2.url); len(s) != 2 {
		t.Errorf("list-peers through n2 = %+v", s)
	}

	clocktest.Eventually(t, "autopilot to call the cluster healthy", func() bool {
		st, err := c1.RaftAutopilotState(ctx)
		return err == nil && st.Healthy && len(st.Servers) == 2 && st.Leader == "n1"
	})
	var st api.AutopilotState
	if err := json.Unmarshal([]byte(runOK(t, "operator", "raft", "autopilot", "state", "-format=json")), &st); err != nil || len(st.Voters) != 2 || st.Servers["n2"].Status != "voter" || st.Servers["n2"].Address == "" {
		t.Errorf("autopilot state -format=json = %+v, %v", st, err)
	}
	out = runOK(t, "operator", "raft", "autopilot", "state")
	t.Logf("autopilot state:\n%s", out)
	for _, want := range []string{"Healthy:", "true", "Failure Tolerance:", "Leader:", "n1", "Voters:\n   n1\n   n2\n", "Servers:\n   n1\n", "      Status:", "leader", "voter"} {
		if !strings.Contains(out, want) {
			t.Errorf("autopilot state lacks %q:\n%s", want, out)
		}
	}

	clocktest.Eventually(t, "ha-status to list both nodes", func() bool {
		nodes, err := c1.HAStatus(ctx)
		return err == nil && len(nodes) == 2
	})
	var members struct{ Nodes []api.HANode }
	if err := json.Unmarshal([]byte(runOK(t, "operator", "members", "-format=json")), &members); err != nil || len(members.Nodes) != 2 {
		t.Errorf("members -format=json = %+v, %v", members, err)
	}
	out = runOK(t, "operator", "members")
	t.Logf("members:\n%s", out)
	if !strings.Contains(out, "Host Name") || !strings.Contains(out, "Last Echo") || !strings.Contains(out, n1.url) || !strings.Contains(out, n2.url) {
		t.Errorf("members table:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[2:] {
		f := strings.Fields(l)
		active := strings.Contains(l, n1.url)
		if len(f) != 6 || f[3] != map[bool]string{true: "true", false: "false"}[active] || (active != (f[5] == "n/a")) {
			t.Errorf("members row %q", l)
		}
	}

	// Snapshot round trip: a secret written after the save is gone after
	// the restore.
	kv := func(c *api.Client, path string) (string, bool) {
		s, err := c.Read(ctx, "secret/data/"+path, nil)
		if err != nil || s == nil {
			return "", false
		}
		d, _ := s.Data["data"].(map[string]any)
		v, _ := d["v"].(string)
		return v, true
	}
	put := func(path, v string) {
		t.Helper()
		if _, err := c1.Write(ctx, "secret/data/"+path, map[string]any{"data": map[string]any{"v": v}}); err != nil {
			t.Fatalf("put %s: %v", path, err)
		}
	}
	put("before", "1")
	snapDir := t.TempDir()
	file := filepath.Join(snapDir, "keyward.snap")
	out = runOK(t, "operator", "raft", "snapshot", "save", "-address="+n2.url, file)
	if !strings.Contains(out, "Success! Snapshot saved to "+file) || !strings.Contains(out, "raft") {
		t.Errorf("save printed:\n%s", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v, %v; want mode 0600", fi, err)
	}
	if ents, _ := os.ReadDir(snapDir); len(ents) != 1 {
		t.Errorf("snapshot directory holds %d entries, want only the snapshot", len(ents))
	}
	clusterID := ""
	if st, err := c1.SealStatus(ctx); err == nil {
		clusterID = st.ClusterID
	}
	out = runOK(t, "operator", "raft", "snapshot", "inspect", file)
	t.Logf("inspect:\n%s", out)
	for _, want := range []string{"Cluster ID", clusterID, "Key Term", "State Size", "Created", "Checksums", "ok", "not checked offline"} {
		if want == "" || !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	put("after", "2")
	if out := runOK(t, "operator", "raft", "snapshot", "restore", file); !strings.Contains(out, "restored") {
		t.Errorf("restore printed %q", out)
	}
	c2 := n2.client(t, root)
	for _, c := range []*api.Client{c1, c2} {
		clocktest.Eventually(t, c.Address()+" to serve the restored data", func() bool {
			v, ok := kv(c, "before")
			if !ok || v != "1" {
				return false
			}
			_, ok = kv(c, "after")
			return !ok
		})
	}

	// A truncated snapshot: refused by restore and inspect, cluster intact.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.snap")
	if err := os.WriteFile(cut, raw[:len(raw)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	put("post-restore", "3")
	for _, args := range [][]string{{"restore", cut}, {"restore", "-force", cut}, {"inspect", cut}} {
		code, out, errOut := runCLI(t, append([]string{"operator", "raft", "snapshot"}, args...)...)
		t.Logf("snapshot %v of a truncated file: %s", args, strings.TrimSpace(errOut))
		if code != 1 || !strings.Contains(errOut, "keyward: error:") || !strings.Contains(errOut, "corrupt") || !strings.Contains(errOut, cut) {
			t.Errorf("snapshot %v of a truncated file = %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
	}
	// The server refuses it too, whatever the CLI checks first.
	if _, err := c1.RaftSnapshotRestore(ctx, bytes.NewReader(raw[:len(raw)*2/3]), false); err == nil || !strings.Contains(err.Error(), "corrupt or truncated") {
		t.Errorf("RaftSnapshotRestore of a truncated stream = %v", err)
	}
	if v, ok := kv(c1, "post-restore"); !ok || v != "3" {
		t.Errorf("after the refused restores post-restore = %q, %v", v, ok)
	}
	if s := peers(t, n1.url); voters(s) != 2 {
		t.Errorf("after the refused restores list-peers = %+v", s)
	}

	// Saves that cannot complete leave nothing behind, and an existing
	// FILE as it was.
	existing := map[string][]byte{file: raw}
	saveFails := func(what, dir string, args ...string) {
		t.Helper()
		before, _ := os.ReadDir(dir)
		target := filepath.Join(dir, "keyward.snap")
		code, out, errOut := runCLI(t, append([]string{"operator", "raft", "snapshot", "save"}, append(args, target)...)...)
		if code == 0 {
			t.Errorf("save %s = 0\n%s", what, out)
		}
		if now, err := os.ReadFile(target); err == nil || !os.IsNotExist(err) {
			if kept, ok := existing[target]; !ok || string(now) != string(kept) {
				t.Errorf("save %s left or changed %s: %v", what, target, err)
			}
		}
		if after, _ := os.ReadDir(dir); len(after) != len(before) {
			t.Errorf("save %s left files in %s: %v", what, dir, after)
		}
		t.Logf("save %s: %s", what, strings.TrimSpace(errOut))
	}
	ro := t.TempDir()
	if os.Geteuid() == 0 {
		// Root writes through file modes: mount a read-only tmpfs
		// instead, and a tiny one that fills up mid-download.
		if err := syscall.Mount("tmpfs", ro, "tmpfs", syscall.MS_RDONLY, "size=64k"); err != nil {
			t.Fatalf("mount a read-only tmpfs: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(ro, 0) })
		full := t.TempDir()
		if err := syscall.Mount("tmpfs", full, "tmpfs", 0, "size=4k"); err != nil {
			t.Fatalf("mount a small tmpfs: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(full, 0) })
		if len(raw) <= 4<<10 {
			t.Fatalf("the snapshot is %d bytes, too small to fill a 4k tmpfs", len(raw))
		}
		saveFails("into a full file system", full)
	} else if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	saveFails("into a read-only directory", ro)
	// A token without sudo: the server refuses, nothing is written.
	tok, err := c1.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"default"}})
	if err != nil || tok == nil || tok.Auth == nil {
		t.Fatalf("token create: %v", err)
	}
	t.Setenv("KEYWARD_TOKEN", tok.Auth.ClientToken)
	saveFails("without sudo over an existing snapshot", snapDir)
	t.Setenv("KEYWARD_TOKEN", root)

	// Step-down moves the active role to n2.
	if out := runOK(t, "operator", "step-down"); !strings.Contains(out, "Success! Stepped down: "+n1.url) {
		t.Errorf("step-down printed %q", out)
	}
	clocktest.Eventually(t, "n2 to become active", func() bool { return n2.isActive(t) })
	clocktest.Eventually(t, "n2 to serve after the step-down", func() bool {
		v, ok := kv(c2, "post-restore")
		return ok && v == "3"
	})

	// Remove the standby n1 through the new active node.
	if out := runOK(t, "operator", "raft", "remove-peer", "-address="+n2.url, "n1"); !strings.Contains(out, "Peer removed successfully!") {
		t.Errorf("remove-peer printed %q", out)
	}
	clocktest.Eventually(t, "the configuration to hold only n2", func() bool {
		cfg, err := c2.RaftConfiguration(ctx)
		return err == nil && len(cfg.Servers) == 1
	})
	if s := peers(t, n2.url); len(s) != 1 || s[0].NodeID != "n2" || !s[0].Leader {
		t.Errorf("list-peers after remove-peer = %+v", s)
	}
	if code, _, errOut := runCLI(t, "operator", "raft", "remove-peer", "-address="+n2.url, "n1"); code != 1 || !strings.Contains(errOut, "not a member") {
		t.Errorf("removing n1 again = %d, %s", code, errOut)
	}
}
