package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
)

// clusterNode is one keyward server process of a raft cluster test.
type clusterNode struct {
	id      string
	dir     string
	api     string // host:port of the HTTP listener
	cluster string // host:port of the cluster port
	cfgPath string
	// netns, when set, runs the process inside that network namespace.
	netns string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *clocktest.Buffer
	dump string // goroutines printed on SIGQUIT after a failure
	dead atomic.Bool
}

func (n *clusterNode) writeConfig(t *testing.T) {
	t.Helper()
	cfg := fmt.Sprintf(`listener "tcp" {
  address = %q
  tls_disable = true
}
api_addr = "http://%s"
cluster_addr = "https://%s"
storage "raft" {
  path = %q
  node_id = %q
  performance_multiplier = 1
}
log_level = "debug"
`, n.api, n.api, n.cluster, n.dir, n.id)
	n.cfgPath = filepath.Join(filepath.Dir(n.dir), n.id+".hcl")
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start starts the process and waits until its API answers (sealed).
func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	args := []string{"server", "-config", n.cfgPath}
	cmd := keyward(args...)
	if n.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.netns, os.Args[0]}, args...)...)
		cmd.Env = append(os.Environ(), "KEYWARD_E2E_MAIN=1")
	}
	out := &clocktest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.cmd, n.out = cmd, out
	n.mu.Unlock()
	n.dead.Store(false)
	clocktest.Eventually(t, n.id+" to answer", func() bool {
		status, _, err := call(n.api, "", "GET", "sys/seal-status", nil)
		return err == nil && status == 200
	})
}

// signal sends sig to the server process.
func (n *clusterNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Signal(sig)
	}
}

// kill kills the process with SIGKILL and waits for it.
func (n *clusterNode) kill() {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	n.dead.Store(true)
	if cmd != nil && cmd.Process != nil && cmd.ProcessState == nil {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

// dumpStacks makes a live process print its goroutines (SIGQUIT) and
// waits for it to exit; stacks returns what it printed.
func (n *clusterNode) dumpStacks() {
	n.mu.Lock()
	cmd, out := n.cmd, n.out
	n.mu.Unlock()
	if n.dead.Load() || cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	mark := len(out.String())
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGQUIT)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	n.dead.Store(true)
	n.mu.Lock()
	n.dump = out.String()[mark:]
	n.mu.Unlock()
}

// stacks returns the goroutines that mention keyward's own code, from the
// dump dumpStacks took.
func (n *clusterNode) stacks() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var keep []string
	for _, g := range strings.Split(n.dump, "\n\n") {
		if strings.Contains(g, "keyward/internal") || strings.Contains(g, "hashicorp/raft") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

func (n *clusterNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.out == nil {
		return ""
	}
	return n.out.String()
}

// testCluster is a raft cluster of keyward processes on loopback.
type testCluster struct {
	t     *testing.T
	nodes []*clusterNode
	key   string // the unseal key, base64
	token string
}

// addrs gives node i its API and cluster addresses; nil picks free ports
// on loopback.
type addrFunc func(i int) (api, cluster string)

// startCluster starts n nodes, initializes the first, joins the others to
// it, unseals everyone and waits for n voters.
func startCluster(t *testing.T, n int, addrs addrFunc, netns func(i int) string) *testCluster {
	t.Helper()
	base := t.TempDir()
	c := &testCluster{t: t}
	for i := range n {
		node := &clusterNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))}
		if addrs != nil {
			node.api, node.cluster = addrs(i)
		} else {
			node.api, node.cluster = freeAddr(t), freeAddr(t)
		}
		if netns != nil {
			node.netns = netns(i)
		}
		node.writeConfig(t)
		c.nodes = append(c.nodes, node)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			if t.Failed() {
				// A live node's goroutines tell why it did not answer.
				node.dumpStacks()
			}
			node.kill()
			if t.Failed() {
				t.Logf("%s's output:\n%s", node.id, lastLines(node.log(), 120))
				if dump := node.stacks(); dump != "" {
					t.Logf("%s's goroutines at the failure:\n%s", node.id, dump)
				}
			}
		}
	})
	for _, node := range c.nodes {
		node.start(t)
	}
	n1 := c.nodes[0]
	out := mustCall(t, n1.api, "", "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	c.key = out["keys_base64"].([]any)[0].(string)
	c.token = out["root_token"].(string)
	c.unseal(n1)
	clocktest.Eventually(t, "n1 to become active", func() bool { return c.isActive(n1) })
	mustCall(t, n1.api, c.token, "POST", "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]any{"version": "2"}})
	mustCall(t, n1.api, c.token, "PUT", "sys/storage/raft/autopilot/configuration", map[string]any{"server_stabilization_time": "1s"})
	for _, node := range c.nodes[1:] {
		mustCall(t, node.api, "", "PUT", "sys/storage/raft/join", map[string]any{"leader_api_addr": "http://" + n1.api})
		c.unseal(node)
	}
	clocktest.Eventually(t, fmt.Sprintf("%d voters", n), func() bool { return c.voters(n1) == n })
	return c
}

func (c *testCluster) unseal(n *clusterNode) {
	c.t.Helper()
	mustCall(c.t, n.api, "", "PUT", "sys/unseal", map[string]any{"key": c.key})
}

func (c *testCluster) isActive(n *clusterNode) bool {
	status, out, err := call(n.api, "", "GET", "sys/leader", nil)
	return err == nil && status == 200 && out["is_self"] == true
}

// active returns the node that says it is active, nil if none does.
func (c *testCluster) active() *clusterNode {
	for _, n := range c.nodes {
		if !n.dead.Load() && c.isActive(n) {
			return n
		}
	}
	return nil
}

func (c *testCluster) voters(via *clusterNode) int {
	status, out, err := call(via.api, c.token, "GET", "sys/storage/raft/configuration", nil)
	if err != nil || status != 200 {
		return 0
	}
	data, _ := out["data"].(map[string]any)
	cfg, _ := data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	voters := 0
	for _, s := range servers {
		if s.(map[string]any)["voter"] == true {
			voters++
		}
	}
	return voters
}

// live returns the nodes not killed.
func (c *testCluster) live() []*clusterNode {
	var out []*clusterNode
	for _, n := range c.nodes {
		if !n.dead.Load() {
			out = append(out, n)
		}
	}
	return out
}

// putKV writes key=value through n with the cluster's token.
func (c *testCluster) putKV(n *clusterNode, key, value string) (int, error) {
	status, _, err := call(n.api, c.token, "PUT", "secret/data/"+key, map[string]any{"data": map[string]any{"v": value}})
	return status, err
}

// getKV reads key through n.
func (c *testCluster) getKV(n *clusterNode, key string) (string, int, error) {
	status, out, err := call(n.api, c.token, "GET", "secret/data/"+key, nil)
	if err != nil || status != 200 {
		return "", status, err
	}
	data, _ := out["data"].(map[string]any)
	inner, _ := data["data"].(map[string]any)
	v, _ := inner["v"].(string)
	return v, status, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestClusterLeaderKill9 (issue 14): 32 writers write through every node;
// the active node is killed with SIGKILL; a new active node serves, and
// every write that got a 2xx reads back afterwards through every node,
// the killed one restarted included.
func TestClusterLeaderKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster processes")
	}
	c := startCluster(t, 3, nil, nil)
	type ack struct {
		key, value string
		at         time.Time
	}
	var (
		mu     sync.Mutex
		acked  []ack
		stop   atomic.Bool
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				live := c.live()
				if len(live) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				n := live[(w+seq)%len(live)]
				key := fmt.Sprintf("w%02d-%05d", w, seq)
				value := fmt.Sprintf("v-%d-%d", w, seq)
				status, err := c.putKV(n, key, value)
				if err == nil && status/100 == 2 {
					mu.Lock()
					acked = append(acked, ack{key, value, time.Now()})
					mu.Unlock()
				} else {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	clocktest.Eventually(t, "200 acknowledged writes", func() bool { return count() >= 200 })
	old := c.active()
	if old == nil {
		t.Fatal("no active node")
	}
	old.kill()
	killed := time.Now() // the process is gone: nothing it answers after this
	var first time.Time
	clocktest.Eventually(t, "a write acknowledged after the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range acked {
			if a.at.After(killed) {
				first = a.at
				return true
			}
		}
		return false
	})
	t.Logf("failover: first acknowledged write %v after kill -9 of the active node %s", first.Sub(killed).Round(time.Millisecond), old.id)
	before := count()
	clocktest.Eventually(t, "200 more acknowledged writes", func() bool { return count() >= before+200 })
	stop.Store(true)
	wg.Wait()
	t.Logf("%d acknowledged writes, %d refused or failed (expected while no node was active)", count(), failed.Load())

	check := func(n *clusterNode) {
		t.Helper()
		mu.Lock()
		all := append([]ack(nil), acked...)
		mu.Unlock()
		for _, a := range all {
			var got string
			clocktest.Eventually(t, a.key+" through "+n.id, func() bool {
				v, status, err := c.getKV(n, a.key)
				got = v
				return err == nil && status == 200 || status == 404
			})
			if got != a.value {
				t.Fatalf("acknowledged write %s = %q through %s, want %q", a.key, got, n.id, a.value)
			}
		}
	}
	for _, n := range c.live() {
		check(n)
	}
	// The killed node comes back with its data, catches up and serves.
	old.start(t)
	c.unseal(old)
	clocktest.Eventually(t, old.id+" to rejoin as a standby", func() bool {
		status, out, err := call(old.api, "", "GET", "sys/health?standbyok=true", nil)
		return err == nil && status == 200 && out["sealed"] == false
	})
	check(old)
}

// TestClusterLeaderSTOP (issue 14): the active node is frozen with SIGSTOP
// for several election timeouts while the others elect a new active node
// and take a write; after SIGCONT the old node serves nothing as active:
// a read it received while frozen, sent after the new write was
// acknowledged, never returns the old value, and a write it received
// while frozen is either refused or present afterwards.
func TestClusterLeaderSTOP(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster processes")
	}
	c := startCluster(t, 3, nil, nil)
	old := c.active()
	if status, err := c.putKV(old, "k", "v1"); err != nil || status/100 != 2 {
		t.Fatalf("put v1: %d %v", status, err)
	}
	slow := &http.Client{Timeout: clocktest.Wait}
	old.signal(syscall.SIGSTOP)
	t.Cleanup(func() { old.signal(syscall.SIGCONT) })

	type result struct {
		status int
		out    map[string]any
		err    error
	}
	frozenWrite := make(chan result, 1)
	go func() {
		status, out, err := callWith(slow, old.api, c.token, "PUT", "secret/data/during", map[string]any{"data": map[string]any{"v": "sent-to-frozen"}})
		frozenWrite <- result{status, out, err}
	}()
	var next *clusterNode
	clocktest.Eventually(t, "another node to become active", func() bool {
		for _, n := range c.nodes {
			if n != old && c.isActive(n) {
				next = n
				return true
			}
		}
		return false
	})
	clocktest.Eventually(t, "v2 acknowledged by the new active node", func() bool {
		status, err := c.putKV(next, "k", "v2")
		return err == nil && status/100 == 2
	})
	frozenRead := make(chan result, 1)
	go func() {
		status, out, err := callWith(slow, old.api, c.token, "GET", "secret/data/k", nil)
		frozenRead <- result{status, out, err}
	}()
	// Stay frozen for several more election timeouts (heartbeat 1s with
	// performance_multiplier 1), so the cluster has moved well on.
	for i := range 3 {
		clocktest.Eventually(t, fmt.Sprintf("write %d on the new active node", i), func() bool {
			status, err := c.putKV(next, fmt.Sprintf("while-frozen-%d", i), "x")
			return err == nil && status/100 == 2
		})
		time.Sleep(time.Second)
	}
	old.signal(syscall.SIGCONT)

	r := <-frozenRead
	if r.err == nil && r.status == 200 {
		data, _ := r.out["data"].(map[string]any)
		inner, _ := data["data"].(map[string]any)
		if inner["v"] != "v2" {
			t.Fatalf("a read sent to the frozen old active node after v2 was acknowledged returned %v: a stale read", inner["v"])
		}
	} else {
		t.Logf("the read sent to the frozen node was refused (allowed): %d %v %v", r.status, r.err, r.out)
	}
	w := <-frozenWrite
	clocktest.Eventually(t, "the old node to stand by", func() bool {
		status, out, err := call(old.api, "", "GET", "sys/leader", nil)
		return err == nil && status == 200 && out["is_self"] == false
	})
	if w.err == nil && w.status/100 == 2 {
		v, status, err := c.getKV(next, "during")
		if err != nil || v != "sent-to-frozen" {
			t.Fatalf("a write the frozen node acknowledged reads back as %q (%d, %v)", v, status, err)
		}
	} else {
		t.Logf("the write sent to the frozen node was refused (allowed): %d %v %v", w.status, w.err, w.out)
	}
	// Every node agrees on k.
	for _, n := range c.nodes {
		clocktest.Eventually(t, "k through "+n.id, func() bool {
			v, status, err := c.getKV(n, "k")
			return err == nil && status == 200 && v == "v2"
		})
	}
}
