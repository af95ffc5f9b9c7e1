package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/testsvc"
)

// noRedirect is the HTTP client of the PostgreSQL HA writers: they see a
// standby's 307 and follow it themselves.
var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// writePGHAConfig writes a server config for node id on table, with
// ha_enabled, and returns its path.
func writePGHAConfig(t *testing.T, dir, id, api, table string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listener "tcp" {
  address = %q
  tls_disable = true
}
api_addr = "http://%s"
storage "postgresql" {
  connection_url = "postgres://postgres@%s/test?sslmode=disable&pool_max_conns=8"
  table = %q
  ha_enabled = true
}
log_level = "debug"
`, api, api, testsvc.PostgresAddr, table)
	path := filepath.Join(dir, id+".hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// putFollowing writes key=value through addr, following one 307 to the
// address it names; redirected reports whether it did.
func putFollowing(addr, token, key, value string) (status int, redirected bool, err error) {
	path := "secret/data/" + key
	body := map[string]any{"data": map[string]any{"v": value}}
	for hop := 0; ; hop++ {
		req, err := newJSONRequest("PUT", "http://"+addr+"/v1/"+path, token, body)
		if err != nil {
			return 0, redirected, err
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0, redirected, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || hop > 0 {
			return resp.StatusCode, redirected, nil
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Host == "" || !strings.HasPrefix(loc.Path, "/v1/") {
			return resp.StatusCode, redirected, fmt.Errorf("307 with Location %q", resp.Header.Get("Location"))
		}
		addr, path, redirected = loc.Host, strings.TrimPrefix(loc.Path, "/v1/"), true
	}
}

// newJSONRequest is a request with a JSON body and a token.
func newJSONRequest(method, u, token string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	return req, nil
}

// TestPGHAKill9 (issue 14): two keyward processes on one PostgreSQL table
// with ha_enabled, one active and one standby; 8 writers write through
// both (following the standby's 307 to the active node); the active node
// is killed with SIGKILL; the standby takes over, and every write that got
// a 2xx reads back, through the new active node and through the killed
// node restarted as a standby.
func TestPGHAKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("server processes")
	}
	pg := testsvc.Postgres(t)
	table := "kwe2e_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := pg.Exec(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	dir := t.TempDir()
	var nodes []*clusterNode
	for i := range 2 {
		n := &clusterNode{id: fmt.Sprintf("pg%d", i+1), api: freeAddr(t)}
		n.cfgPath = writePGHAConfig(t, dir, n.id, n.api, table)
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.kill()
			if t.Failed() {
				t.Logf("%s's output:\n%s", n.id, lastLines(n.log(), 120))
			}
		}
	})
	c := &testCluster{t: t, nodes: nodes}
	for _, n := range nodes {
		n.start(t)
	}
	n1, n2 := nodes[0], nodes[1]
	out := mustCall(t, n1.api, "", "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	c.key = out["keys_base64"].([]any)[0].(string)
	c.token = out["root_token"].(string)
	c.unseal(n1)
	clocktest.Eventually(t, "pg1 to become active", func() bool { return c.isActive(n1) })
	mustCall(t, n1.api, c.token, "POST", "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]any{"version": "2"}})
	c.unseal(n2)
	isStandby := func(n *clusterNode) bool {
		status, out, err := call(n.api, "", "GET", "sys/health", nil)
		return err == nil && status == http.StatusTooManyRequests && out["standby"] == true
	}
	clocktest.Eventually(t, "pg2 to stand by", func() bool { return isStandby(n2) })

	type ack struct {
		key, value string
		at         time.Time
	}
	var (
		mu         sync.Mutex
		acked      []ack
		stop       atomic.Bool
		wg         sync.WaitGroup
		failed     atomic.Int64
		redirected atomic.Int64
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				live := c.live()
				n := live[(w+seq)%len(live)]
				key := fmt.Sprintf("w%02d-%05d", w, seq)
				value := fmt.Sprintf("v-%d-%d", w, seq)
				status, redir, err := putFollowing(n.api, c.token, key, value)
				if redir {
					redirected.Add(1)
				}
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
	if redirected.Load() == 0 {
		t.Error("no write was redirected by the standby")
	}
	n1.kill()
	killed := time.Now()
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
	t.Logf("failover: first acknowledged write %v after kill -9 of the active node", first.Sub(killed).Round(time.Millisecond))
	if !c.isActive(n2) {
		t.Error("pg2 is not active after the failover")
	}
	before := count()
	clocktest.Eventually(t, "200 more acknowledged writes", func() bool { return count() >= before+200 })
	stop.Store(true)
	wg.Wait()
	t.Logf("%d acknowledged writes, %d followed a redirect, %d refused or failed (expected while no node was active)",
		count(), redirected.Load(), failed.Load())

	check := func(n *clusterNode) {
		t.Helper()
		mu.Lock()
		all := append([]ack(nil), acked...)
		mu.Unlock()
		for _, a := range all {
			// call's client follows the standby's 307 itself.
			v, status, err := c.getKV(n, a.key)
			if err != nil || status != http.StatusOK || v != a.value {
				t.Fatalf("acknowledged write %s through %s = %q (status %d, %v), want %q", a.key, n.id, v, status, err, a.value)
			}
		}
	}
	check(n2)
	n1.start(t)
	c.unseal(n1)
	clocktest.Eventually(t, "pg1 to come back as a standby", func() bool { return isStandby(n1) })
	check(n1)
}
