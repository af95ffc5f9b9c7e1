package node_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/postgres"
	"github.com/keyward/keyward/internal/testsvc"
)

// pgHATable returns a fresh table name on the test database, dropped at
// cleanup.
func pgHATable(t testing.TB) string {
	t.Helper()
	c := testsvc.Postgres(t)
	table := "kwha_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := c.Exec(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	return table
}

const pgHAURL = "postgres://postgres@" + testsvc.PostgresAddr + "/test?sslmode=disable&pool_max_conns=4"

// startPGHANode starts a node on table with ha_enabled, on a port of its
// own that is also its api_addr.
func startPGHANode(t testing.TB, table string) (*node.Node, string) {
	t.Helper()
	addr := nodetest.FreeAddr(t)
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: addr, TLSDisable: true}}
	cfg.APIAddr = "http://" + addr
	cfg.Storage = config.Storage{Type: "postgresql", Table: table, HAEnabled: true, ConnectionURL: sensitive.NewString(pgHAURL)}
	cfg.Audit.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	return nodetest.StartConfig(t, cfg, &clocktest.Buffer{}), cfg.APIAddr
}

// rawResponse is one HTTP answer, redirects not followed.
type rawResponse struct {
	status   int
	location string
	body     map[string]any
}

// rawGet sends GET url with token, following no redirect.
func rawGet(t testing.TB, url, token string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, location: resp.Header.Get("Location")}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("GET %s: %d body %q is not JSON: %v", url, resp.StatusCode, raw, err)
		}
	}
	return out
}

// checkStandby checks that the node at url reports itself a standby the
// way Vault's health check does: 429 by default, 200 with standbyok.
func checkStandby(t testing.TB, url string) {
	t.Helper()
	if r := rawGet(t, url+"/v1/sys/health", ""); r.status != http.StatusTooManyRequests || r.body["standby"] != true {
		t.Errorf("standby sys/health = %d %v, want 429 standby=true", r.status, r.body)
	}
	if r := rawGet(t, url+"/v1/sys/health?standbyok=true", ""); r.status != http.StatusOK || r.body["standby"] != true {
		t.Errorf("standby sys/health?standbyok=true = %d %v, want 200 standby=true", r.status, r.body)
	}
}

// Two servers on one PostgreSQL table with ha_enabled: the first
// initializes; while another session holds the table's lock it unseals
// into a standby that
// knows no active node (503); it becomes active once the lock is free; the
// second unseals with the same key into a standby that redirects clients
// (307, path and query kept) to the active node's api_addr; closing the
// active node makes the standby active with the data in place, and the
// restarted first node stands by, redirecting to the second.
func TestPGHAActiveStandby(t *testing.T) {
	ctx := t.Context()
	table := pgHATable(t)

	a, urlA := startPGHANode(t, table)
	res, err := a.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatalf("Initialize = %v", err)
	}
	root := res.RootToken.Reveal()

	// Another holder (a server that has the lock but never advertised).
	other, err := postgres.Open(ctx, sensitive.NewString(pgHAURL), postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	otherLock := other.NewLock("active")
	t.Cleanup(func() { otherLock.Release(context.Background()) })
	if _, err := otherLock.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatalf("Unseal(a) = %v", err)
	}
	checkStandby(t, urlA)
	if r := rawGet(t, urlA+"/v1/sys/mounts", root); r.status != http.StatusServiceUnavailable || !strings.Contains(strings.Join(errorsOf(r.body), ";"), "no active node is known") {
		t.Errorf("request to a standby with no active node = %d %v, want 503 naming the reason", r.status, r.body)
	}
	if err := otherLock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ca := nodetest.VaultClient(t, urlA, root)
	waitActive(t, ca)
	if err := ca.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := ca.KVv2("secret").Put(ctx, "app", map[string]any{"v": "one"}); err != nil {
		t.Fatalf("put: %v", err)
	}

	b, urlB := startPGHANode(t, table)
	if err := b.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatalf("Unseal(b) = %v", err)
	}
	checkStandby(t, urlB)
	cb := nodetest.VaultClient(t, urlB, root)
	if l, err := cb.Sys().Leader(); err != nil || l.IsSelf || !l.HAEnabled || l.LeaderAddress != urlA {
		t.Errorf("standby sys/leader = %+v, %v; want leader_address %s, is_self false", l, err, urlA)
	}
	r := rawGet(t, urlB+"/v1/secret/data/app?version=1", root)
	if want := urlA + "/v1/secret/data/app?version=1"; r.status != http.StatusTemporaryRedirect || r.location != want {
		t.Errorf("read on the standby = %d Location %q, want 307 to %s", r.status, r.location, want)
	}
	// The official client follows the redirect, writes included.
	if _, err := cb.KVv2("secret").Put(ctx, "app", map[string]any{"v": "two"}); err != nil {
		t.Fatalf("put through the standby: %v", err)
	}
	if got, err := cb.KVv2("secret").Get(ctx, "app"); err != nil || got.Data["v"] != "two" {
		t.Fatalf("read through the standby = %v, %v; want v=two", got, err)
	}

	if err := a.Close(); err != nil {
		t.Fatalf("Close(a) = %v", err)
	}
	waitActive(t, cb)
	if r := rawGet(t, urlB+"/v1/sys/health", ""); r.status != http.StatusOK || r.body["standby"] != false {
		t.Errorf("sys/health on the new active node = %d %v, want 200 standby=false", r.status, r.body)
	}
	if got, err := cb.KVv2("secret").Get(ctx, "app"); err != nil || got.Data["v"] != "two" {
		t.Fatalf("read on the new active node = %v, %v; want v=two", got, err)
	}
	if _, err := cb.KVv2("secret").Put(ctx, "app", map[string]any{"v": "three"}); err != nil {
		t.Fatalf("put on the new active node: %v", err)
	}

	a2, _ := startPGHANode(t, table)
	if err := a2.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatalf("Unseal(a again) = %v", err)
	}
	urlA2 := a2.URLs()[0]
	checkStandby(t, urlA2)
	r = rawGet(t, urlA2+"/v1/secret/data/app", root)
	if want := urlB + "/v1/secret/data/app"; r.status != http.StatusTemporaryRedirect || r.location != want {
		t.Errorf("read on the restarted standby = %d Location %q, want 307 to %s", r.status, r.location, want)
	}
	if got, err := nodetest.VaultClient(t, urlA2, root).KVv2("secret").Get(ctx, "app"); err != nil || got.Data["v"] != "three" {
		t.Errorf("read through the restarted standby = %v, %v; want v=three", got, err)
	}
}

// errorsOf returns the messages of a Vault error envelope.
func errorsOf(body map[string]any) []string {
	list, _ := body["errors"].([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// A node with ha_enabled built from a Config that skipped Validate still
// refuses to start without the api_addr its standbys would redirect to.
func TestPGHANeedsAPIAddr(t *testing.T) {
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "postgresql", Table: pgHATable(t), HAEnabled: true, ConnectionURL: sensitive.NewString(pgHAURL)}
	cfg.Audit.Dir = t.TempDir()
	n, err := node.New(cfg, nil)
	if err == nil {
		n.Close()
		t.Fatal("node.New with ha_enabled and no api_addr = nil error")
	}
	if !strings.Contains(err.Error(), "api_addr is required") {
		t.Errorf("node.New = %v, want it to ask for api_addr", err)
	}
}
