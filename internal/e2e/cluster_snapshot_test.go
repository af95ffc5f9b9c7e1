package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
)

// snapshotOf downloads a raft snapshot through n.
func snapshotOf(t *testing.T, c *testCluster, n *clusterNode) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.api+"/v1/sys/storage/raft/snapshot", nil)
	req.Header.Set("X-Vault-Token", c.token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("snapshot through %s: %d %v", n.id, resp.StatusCode, err)
	}
	return b
}

// restoreTo posts a snapshot through n and returns the status and errors.
func restoreTo(t *testing.T, c *testCluster, n *clusterNode, snap []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+n.api+"/v1/sys/storage/raft/snapshot", bytes.NewReader(snap))
	req.Header.Set("X-Vault-Token", c.token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClusterSnapshotRestore (issue 14), on three processes: rotate the
// keyring, snapshot, rotate again, write, restore: every secret and policy
// of the snapshot reads through every node; another cluster's snapshot is
// refused; a stream cut midway changes nothing.
func TestClusterSnapshotRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster processes")
	}
	c := startCluster(t, 3, nil, nil)
	a := c.active()
	standby := c.nodes[0]
	for _, n := range c.nodes {
		if n != a {
			standby = n
		}
	}
	mustCall(t, a.api, c.token, "PUT", "sys/policies/acl/before", map[string]any{"policy": `path "secret/*" { capabilities = ["read"] }`})
	if s, err := c.putKV(a, "before", "1"); err != nil || s != 200 {
		t.Fatalf("put: %d %v", s, err)
	}
	mustCall(t, a.api, c.token, "PUT", "sys/rotate", nil)
	if s, err := c.putKV(a, "rotated", "2"); err != nil || s != 200 {
		t.Fatalf("put: %d %v", s, err)
	}
	snap := snapshotOf(t, c, standby) // forwarded to the active node
	mustCall(t, a.api, c.token, "PUT", "sys/rotate", nil)
	if s, err := c.putKV(a, "after", "3"); err != nil || s != 200 {
		t.Fatalf("put: %d %v", s, err)
	}

	// Another cluster's snapshot, and a cut stream: refused, nothing changes.
	other := startCluster(t, 1, nil, nil)
	foreign := snapshotOf(t, other, other.nodes[0])
	if status, body := restoreTo(t, c, a, foreign); status != 400 {
		t.Fatalf("restore of another cluster's snapshot = %d %s", status, body)
	}
	if status, body := restoreTo(t, c, standby, snap[:len(snap)/2]); status != 400 {
		t.Fatalf("restore of a cut snapshot = %d %s", status, body)
	}
	if v, _, err := c.getKV(a, "after"); err != nil || v != "3" {
		t.Fatalf("after refused restores: %q %v", v, err)
	}

	if status, body := restoreTo(t, c, standby, snap); status/100 != 2 {
		t.Fatalf("restore = %d %s", status, body)
	}
	for _, n := range c.nodes {
		for k, want := range map[string]string{"before": "1", "rotated": "2"} {
			clocktest.Eventually(t, k+" through "+n.id+" after the restore", func() bool {
				v, status, err := c.getKV(n, k)
				return err == nil && status == 200 && v == want
			})
		}
		if _, status, _ := c.getKV(n, "after"); status != 404 {
			t.Fatalf("a secret written after the snapshot reads through %s after the restore (%d)", n.id, status)
		}
		status, out, err := call(n.api, c.token, "GET", "sys/policies/acl/before", nil)
		if err != nil || status != 200 || out["data"] == nil {
			t.Fatalf("policy through %s after the restore: %d %v", n.id, status, err)
		}
	}
	// Writes go on, and a new active node reads everything too.
	if s, err := c.putKV(a, "post", "4"); err != nil || s != 200 {
		t.Fatalf("put after restore: %d %v", s, err)
	}
	a.kill()
	for _, n := range c.live() {
		clocktest.Eventually(t, "the restored data through "+n.id+" after a failover", func() bool {
			v1, s1, e1 := c.getKV(n, "rotated")
			v2, s2, e2 := c.getKV(n, "post")
			return e1 == nil && e2 == nil && s1 == 200 && s2 == 200 && v1 == "2" && v2 == "4"
		})
	}
}
