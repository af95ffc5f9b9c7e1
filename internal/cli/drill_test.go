package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// drillReceiver is a webhook endpoint: it answers status and keeps the
// alert payloads it got.
type drillReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []map[string]any
}

func newDrillReceiver(t *testing.T, status int) *drillReceiver {
	r := &drillReceiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *drillReceiver) drillAlerts() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rules := map[string]bool{}
	for _, m := range r.got {
		a, _ := m["alert"].(map[string]any)
		if d, _ := a["drill"].(string); d != "" && m["kind"] == "raised" {
			rules[a["rule"].(string)] = true
		}
	}
	return rules
}

func runDrill(t *testing.T, n *nodetest.Node, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("KEYWARD_ADDR", n.URL)
	t.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"drill"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func rootClient(t *testing.T, n *nodetest.Node) *api.Client {
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serverState is what a drill must leave as it found it.
func serverState(t *testing.T, c *api.Client) map[string]any {
	t.Helper()
	ctx := context.Background()
	st := map[string]any{}
	for _, p := range []string{"sys/mounts", "sys/auth", "sys/policies/acl", "sys/watch/canaries", "sys/watch/drills", "auth/token/roles"} {
		var s *api.Secret
		var err error
		if strings.HasPrefix(p, "sys/watch/") || p == "sys/policies/acl" || p == "auth/token/roles" {
			s, err = c.List(ctx, p)
		} else {
			s, err = c.Read(ctx, p, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if s == nil {
			st[p] = nil
			continue
		}
		keys := []string{}
		for k := range s.Data {
			keys = append(keys, k)
		}
		if raw, ok := s.Data["keys"]; ok {
			st[p] = raw
		} else {
			st[p] = len(keys)
			st[p+"#keys"] = strings.Join(sortedStrings(keys), ",")
		}
	}
	for _, r := range []string{"brute-force", "bulk-read", "off-hours", "canary", "stolen-token"} {
		s, err := c.Read(ctx, "sys/watch/rules/"+r, nil)
		if err != nil {
			t.Fatal(err)
		}
		st["rule/"+r] = s.Data
	}
	return st
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func addSink(t *testing.T, c *api.Client, url string) {
	t.Helper()
	if _, err := c.Write(context.Background(), "sys/watch/sinks/soc", map[string]any{"type": "webhook", "url": url,
		"max_attempts": 1, "secret": "drill-test-hmac-key-0123456789"}); err != nil {
		t.Fatal(err)
	}
}

// TestDrillAllPasses runs every scenario against a default-configured
// server with a webhook sink: each alert is raised, the stolen token is
// revoked, every alert reaches the receiver marked as a drill, and the
// server is left as it was (mounts, auth, policies, canaries, rules, no
// drill scope, the drill's alerts resolved).
func TestDrillAllPasses(t *testing.T) {
	n := nodetest.Start(t)
	c := rootClient(t, n)
	rcv := newDrillReceiver(t, http.StatusNoContent)
	addSink(t, c, rcv.URL+"/hook")
	before := serverState(t, c)

	code, out, errs := runDrill(t, n, "all", "--json")
	if code != 0 {
		t.Fatalf("drill all: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	var rep struct {
		Drill     string `json:"drill"`
		Pass      bool   `json:"pass"`
		Scenarios []struct {
			Scenario, Rule, AlertID, Containment string
			Pass                                 bool
			DeliveredTo                          []string `json:"delivered_to"`
		} `json:"scenarios"`
		Cleanup []string `json:"cleanup_errors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if !rep.Pass || len(rep.Scenarios) != 5 || len(rep.Cleanup) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, s := range rep.Scenarios {
		if !s.Pass || len(s.DeliveredTo) != 1 || s.DeliveredTo[0] != "soc" {
			t.Errorf("scenario %s: %+v", s.Scenario, s)
		}
		if s.Scenario == "stolen-token" && s.Containment != "drill token revoked" {
			t.Errorf("stolen-token containment: %q", s.Containment)
		}
	}
	got := rcv.drillAlerts()
	for _, r := range []string{"brute-force", "bulk-read", "off-hours", "canary", "stolen-token"} {
		if !got[r] {
			t.Errorf("receiver got no drill alert of %s (got %v)", r, got)
		}
	}
	after := serverState(t, c)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the drill left changes:\nbefore %v\nafter  %v", before, after)
	}
	// Every alert of the drill is resolved; none of another rule's
	// real alerts was touched.
	s, err := c.Read(context.Background(), "sys/watch/alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Data["key_info"].(map[string]any)
	drillAlerts := 0
	for id, v := range info {
		m := v.(map[string]any)
		if d, _ := m["drill"].(string); strings.HasPrefix(d, rep.Drill) {
			drillAlerts++
			if m["status"] != "resolved" {
				t.Errorf("drill alert %s left %v", id, m["status"])
			}
		}
	}
	if drillAlerts < 5 {
		t.Errorf("%d drill alerts, want at least 5", drillAlerts)
	}
}

// TestDrillFailsWhenMisconfigured: no sink, a failing sink, detection
// off and a disabled rule each fail the drill with exit 1 and a message
// naming the cause, and leave nothing behind.
func TestDrillFailsWhenMisconfigured(t *testing.T) {
	t.Run("no sink", func(t *testing.T) {
		n := nodetest.Start(t)
		before := serverState(t, rootClient(t, n))
		code, out, errs := runDrill(t, n, "canary")
		if code != 1 || !strings.Contains(errs, "no alert sink is configured") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		if after := serverState(t, rootClient(t, n)); !reflect.DeepEqual(before, after) {
			t.Errorf("left changes:\n%v\n%v", before, after)
		}
	})
	t.Run("sink failing", func(t *testing.T) {
		n := nodetest.Start(t)
		c := rootClient(t, n)
		rcv := newDrillReceiver(t, http.StatusNotFound)
		addSink(t, c, rcv.URL+"/hook")
		before := serverState(t, c)
		code, out, errs := runDrill(t, n, "canary", "--json")
		if code != 1 || !strings.Contains(errs, "was not delivered") || !strings.Contains(errs, "sink soc") ||
			!strings.Contains(errs, "dead letter") || !strings.Contains(out, `"pass": false`) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		if after := serverState(t, c); !reflect.DeepEqual(before, after) {
			t.Errorf("left changes:\n%v\n%v", before, after)
		}
	})
	t.Run("detection disabled", func(t *testing.T) {
		n := nodetest.StartWith(t, nodetest.Options{Configure: func(c *config.Config) { c.Watch.DisableDetection = true }})
		code, out, errs := runDrill(t, n, "all")
		if code != 1 || !strings.Contains(errs, "detection is disabled") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
	})
	t.Run("rule disabled", func(t *testing.T) {
		n := nodetest.Start(t)
		c := rootClient(t, n)
		rcv := newDrillReceiver(t, http.StatusOK)
		addSink(t, c, rcv.URL+"/hook")
		if _, err := c.Write(context.Background(), "sys/watch/rules/canary", map[string]any{"enabled": false}); err != nil {
			t.Fatal(err)
		}
		before := serverState(t, c)
		code, out, errs := runDrill(t, n, "canary")
		if code != 1 || !strings.Contains(errs, "rule canary is disabled") || !strings.Contains(out, "FAIL canary") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		if after := serverState(t, c); !reflect.DeepEqual(before, after) {
			t.Errorf("left changes:\n%v\n%v", before, after)
		}
	})
}

// drillRunnerPolicy is the policy docs/watch.md documents for the drill's
// token (the block after "# keyward drill runner").
func drillRunnerPolicy(t *testing.T) string {
	b, err := os.ReadFile("../../docs/watch.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "# keyward drill runner\n")
	if i < 0 {
		t.Fatal("docs/watch.md: no drill runner policy")
	}
	j := strings.Index(s[i:], "```")
	return s[i : i+j]
}

// TestDrillWithDocumentedPolicy runs the drill with a token that holds
// only the documented drill-runner policy (no root, no sudo elsewhere).
func TestDrillWithDocumentedPolicy(t *testing.T) {
	n := nodetest.Start(t)
	c := rootClient(t, n)
	ctx := context.Background()
	rcv := newDrillReceiver(t, http.StatusOK)
	addSink(t, c, rcv.URL+"/hook")
	if _, err := c.Write(ctx, "sys/policies/acl/drill-runner", map[string]any{"policy": drillRunnerPolicy(t)}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"drill-runner"}, "no_default_policy": true})
	if err != nil {
		t.Fatal(err)
	}
	before := serverState(t, c)
	t.Setenv("KEYWARD_ADDR", n.URL)
	t.Setenv("KEYWARD_TOKEN", s.Auth.ClientToken)
	var out, errb bytes.Buffer
	if code := cli.Main(ctx, []string{"drill", "all"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if strings.Count(out.String(), "PASS ") != 5 {
		t.Errorf("report:\n%s", out.String())
	}
	if after := serverState(t, c); !reflect.DeepEqual(before, after) {
		t.Errorf("left changes:\n%v\n%v", before, after)
	}
}

// TestDrillScopes: a scope's overrides are validated (only drill fields,
// contain only revoke-token, bounded ttl) and judge only its own token:
// another token's requests raise nothing under the scope's rules.
func TestDrillScopes(t *testing.T) {
	n := nodetest.Start(t)
	c := rootClient(t, n)
	ctx := context.Background()
	mk := func() (string, string) {
		s, err := c.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Auth.ClientToken, s.Auth.Accessor
	}
	_, accA := mk()
	tokB, _ := mk()
	for _, bad := range []map[string]any{
		{"accessor": accA, "rules": map[string]any{"stolen-token": map[string]any{"contain": []string{"seal"}}}},
		{"accessor": accA, "rules": map[string]any{"off-hours": map[string]any{"enabled": false}}},
		{"accessor": accA, "rules": map[string]any{"off-hours": map[string]any{"severity": "info"}}},
		{"accessor": accA, "rules": map[string]any{"nope": map[string]any{}}},
		{"accessor": accA, "rules": map[string]any{"bulk-read": map[string]any{"threshold": 1, "contain": []string{"require-mfa"}}}},
		{"accessor": accA, "ttl": "2h"},
		{"accessor": ""},
		{"accessor": accA, "bogus": 1},
	} {
		_, err := c.Write(ctx, "sys/watch/drills/d1", bad)
		if !api.IsStatus(err, http.StatusBadRequest) {
			t.Errorf("%v: want 400, got %v", bad, err)
		}
	}
	h := (time.Now().UTC().Hour() + 6) % 24
	if _, err := c.Write(ctx, "sys/watch/drills/d1", map[string]any{"accessor": accA, "rules": map[string]any{"off-hours": map[string]any{
		"business_hours": fmt.Sprintf("%02d:00-%02d:00", h, (h+1)%24), "weekdays": "mon,tue,wed,thu,fri,sat,sun"}}}); err != nil {
		t.Fatal(err)
	}
	// Token B is not in the scope: its reads are judged by the real rule.
	cb, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(tokB)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cb.Read(ctx, "auth/token/lookup-self", nil); err != nil {
			t.Fatal(err)
		}
	}
	// The detectors judge events in order: once the root token's later
	// read has raised root-token, B's reads have been judged.
	if _, err := c.Read(ctx, "sys/mounts", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := c.Read(ctx, "sys/watch/alerts", url.Values{"rule": {"root-token"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Data["keys"].([]any)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no root-token alert: detectors not running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, err := c.Read(ctx, "sys/watch/alerts", url.Values{"rule": {"off-hours"}})
	if err != nil {
		t.Fatal(err)
	}
	if s != nil && len(s.Data["keys"].([]any)) > 0 {
		t.Fatalf("off-hours alert for a token outside the drill scope: %v", s.Data)
	}
	rules, err := c.Read(ctx, "sys/watch/rules/off-hours", nil)
	if err != nil {
		t.Fatal(err)
	}
	if bh := rules.Data["business_hours"]; bh != "" && bh != nil {
		t.Fatalf("the real rule changed: %v", rules.Data)
	}
	if _, err := c.Delete(ctx, "sys/watch/drills/d1", nil); err != nil {
		t.Fatal(err)
	}
	if l, err := c.List(ctx, "sys/watch/drills"); err != nil || l != nil {
		t.Fatalf("scopes after delete: %v %v", l, err)
	}
}

// TestDrillNeverTakesRealContainment: a real rule's containment (here
// lock-role and require-mfa on canary) does not act on the drill's
// token; the drill still passes.
func TestDrillNeverTakesRealContainment(t *testing.T) {
	n := nodetest.Start(t)
	c := rootClient(t, n)
	rcv := newDrillReceiver(t, http.StatusOK)
	addSink(t, c, rcv.URL+"/hook")
	if _, err := c.Write(context.Background(), "sys/watch/rules/canary", map[string]any{"contain": "lock-role,require-mfa"}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runDrill(t, n, "canary", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var rep struct {
		Scenarios []struct {
			AlertID string `json:"alert_id"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Scenarios) != 1 {
		t.Fatalf("%v %s", err, out)
	}
	a, err := c.Read(context.Background(), "sys/watch/alerts/"+rep.Scenarios[0].AlertID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acts, _ := a.Data["actions"].([]any); len(acts) != 0 {
		t.Fatalf("the real rule's containment acted on the drill: %v", acts)
	}
}
