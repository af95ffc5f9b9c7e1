package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/testsvc"
	"github.com/keyward/keyward/internal/watch"

	vault "github.com/hashicorp/vault/api"
)

// detectNode is a server whose listener trusts 127.0.0.0/8 as a proxy, so
// a test picks each request's source with X-Forwarded-For, and whose
// clock the test drives.
type detectNode struct {
	*nodetest.Node
	clock *clocktest.Clock
	root  string
}

// A Tuesday, 10:00 UTC.
var workday = time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)

func startDetect(t *testing.T, opts nodetest.Options) *detectNode {
	t.Helper()
	clock := clocktest.New(workday)
	prev := opts.Configure
	opts.Configure = func(c *config.Config) {
		c.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true, TrustedProxies: []string{"127.0.0.0/8"}}}
		c.Now = clock.Now
		if prev != nil {
			prev(c)
		}
	}
	n := nodetest.StartWith(t, opts)
	return &detectNode{Node: n, clock: clock, root: n.RootToken.Reveal()}
}

// call makes a request from source (X-Forwarded-For; "" for the loopback).
func (d *detectNode) call(t *testing.T, method, path, token, source string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, d.URL+"/v1/"+path, r)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if source != "" {
		req.Header.Set("X-Forwarded-For", source)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

func (d *detectNode) must(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	code, out := d.call(t, method, path, d.root, "", body)
	if code >= 300 {
		t.Fatalf("%s %s = %d %v", method, path, code, out)
	}
	return out
}

// settle waits until the detectors have seen every event so far.
func (d *detectNode) settle(t *testing.T) {
	t.Helper()
	clocktest.Eventually(t, "detectors caught up", func() bool { return d.Detection().Pending() == 0 })
}

// alertsOf lists the alerts of rule raised for display name who.
func (d *detectNode) alertsOf(t *testing.T, rule, who string) []watch.Alert {
	t.Helper()
	var out []watch.Alert
	for _, a := range d.alerts(t, rule) {
		if a.Identity.DisplayName == who {
			out = append(out, a)
		}
	}
	return out
}

// alerts lists the alerts of rule after the detectors caught up.
func (d *detectNode) alerts(t *testing.T, rule string) []watch.Alert {
	t.Helper()
	d.settle(t)
	list, err := d.Detection().Alerts(watch.AlertFilter{Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (d *detectNode) tune(t *testing.T, rule string, fields map[string]any) {
	t.Helper()
	d.must(t, "PUT", "sys/watch/rules/"+rule, fields)
}

// token creates a token with policy "app" (read and list on secret/).
func (d *detectNode) token(t *testing.T, name string) (token, accessor string) {
	t.Helper()
	d.must(t, "PUT", "sys/policies/acl/app", map[string]any{"policy": `
path "secret/data/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/*" { capabilities = ["list", "read"] }
path "database/creds/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`})
	out := d.must(t, "POST", "auth/token/create", map[string]any{"policies": []string{"app"}, "display_name": name})
	auth := out["auth"].(map[string]any)
	return auth["client_token"].(string), auth["accessor"].(string)
}

func TestDetectRootTokenAndAlertLifecycle(t *testing.T) {
	dir := t.TempDir()
	d := startDetect(t, nodetest.Options{Dir: dir})
	d.must(t, "PUT", "secret/data/a", map[string]any{"data": map[string]any{"k": plantedValue}})
	d.must(t, "GET", "secret/data/a", nil)
	got := d.alerts(t, watch.RuleRootToken)
	if len(got) != 1 || got[0].Severity != watch.SeverityHigh || !got[0].Identity.Root || got[0].Count < 2 {
		t.Fatalf("root alerts = %+v", got)
	}
	id := got[0].ID
	// A tuned rule and the alert are served over the API...
	d.tune(t, watch.RuleBulkRead, map[string]any{"threshold": 7, "window": "2m"})
	code, out := d.call(t, "GET", "sys/watch/alerts/"+id, d.root, "", nil)
	if code != 200 || out["data"].(map[string]any)["rule"] != watch.RuleRootToken {
		t.Fatalf("read alert: %d %v", code, out)
	}
	code, out = d.call(t, "LIST", "sys/watch/alerts?rule=root-token", d.root, "", nil)
	if code != 200 || len(out["data"].(map[string]any)["keys"].([]any)) != 1 {
		t.Fatalf("list alerts: %d %v", code, out)
	}
	if code, _ := d.call(t, "LIST", "sys/watch/alerts?status=bogus", d.root, "", nil); code != 400 {
		t.Errorf("bad status filter: %d", code)
	}
	if code, _ := d.call(t, "PUT", "sys/watch/rules/bulk-read", d.root, "", map[string]any{"window": "-3s"}); code != 400 {
		t.Errorf("bad window: %d", code)
	}
	if code, _ := d.call(t, "PUT", "sys/watch/rules/nope", d.root, "", map[string]any{}); code != 400 {
		t.Errorf("unknown rule: %d", code)
	}
	// ...acknowledged by the caller's identity, never its token.
	code, out = d.call(t, "PUT", "sys/watch/alerts/"+id+"/ack", d.root, "", nil)
	if code != 200 {
		t.Fatalf("ack: %d %v", code, out)
	}
	by := out["data"].(map[string]any)["acknowledged_by"].(string)
	if !strings.Contains(by, "root") || strings.Contains(by, d.root) {
		t.Errorf("acknowledged_by = %q", by)
	}
	if code, _ := d.call(t, "PUT", "sys/watch/alerts/nope/ack", d.root, "", nil); code != 404 {
		t.Errorf("ack of an unknown alert: %d", code)
	}
	// Rules and alerts survive a restart.
	d.settle(t)
	shares := d.Shares
	d.Close()
	d2 := startDetect(t, nodetest.Options{Dir: dir, Reopen: shares})
	d2.root = d.root
	al, ok := d2.Detection().Alert(id)
	if !ok || al.Status != watch.AlertAcknowledged || al.AckedBy != by {
		t.Fatalf("after restart: %+v %v", al, ok)
	}
	if r, _ := d2.Detection().Rule(watch.RuleBulkRead); r.Threshold != 7 || r.Window != 2*time.Minute {
		t.Errorf("tuned rule after restart = %+v", r)
	}
	// Root use after the restart counts into the same acknowledged alert.
	d2.must(t, "GET", "secret/data/a", nil)
	if got := d2.alerts(t, watch.RuleRootToken); len(got) != 1 || got[0].ID != id || got[0].Count <= al.Count {
		t.Errorf("root alerts after restart = %+v", got)
	}
	code, out = d2.call(t, "PUT", "sys/watch/alerts/"+id+"/resolve", d2.root, "", nil)
	if code != 200 || out["data"].(map[string]any)["status"] != "resolved" {
		t.Fatalf("resolve: %d %v", code, out)
	}
	// A new occurrence after resolution is a new alert.
	d2.must(t, "GET", "secret/data/a", nil)
	if got := d2.alerts(t, watch.RuleRootToken); len(got) != 2 {
		t.Errorf("after resolve, root alerts = %d, want 2", len(got))
	}
	if code, _ := d2.call(t, "PUT", "sys/watch/alerts/"+id+"/ack", d2.root, "", nil); code != 400 {
		t.Errorf("ack of a resolved alert: %d", code)
	}
	// Deleting a rule returns it to its default.
	d2.must(t, "DELETE", "sys/watch/rules/bulk-read", nil)
	if r, _ := d2.Detection().Rule(watch.RuleBulkRead); r.Threshold != 50 {
		t.Errorf("reset rule = %+v", r)
	}
}

func TestDetectOffHours(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.tune(t, watch.RuleOffHours, map[string]any{"business_hours": "08:00-18:00", "time_zone": "Europe/Berlin",
		"weekdays": []string{"mon", "tue", "wed", "thu", "fri"}})
	tok, _ := d.token(t, "alice")
	// Benign twin: 10:00 UTC is 11:00 in Berlin on a Tuesday.
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.5", nil)
	if got := d.alerts(t, watch.RuleOffHours); len(got) != 0 {
		t.Fatalf("in business hours: %+v", got)
	}
	d.clock.Set(time.Date(2026, 12, 8, 2, 30, 0, 0, time.UTC)) // 03:30 in Berlin
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.5", nil)
	got := d.alerts(t, watch.RuleOffHours)
	if len(got) != 1 || got[0].Identity.DisplayName != "token-alice" || !strings.Contains(got[0].Evidence["local_time"], "03:30") {
		t.Fatalf("off-hours alerts = %+v", got)
	}
}

func TestDetectOffHoursLearned(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.tune(t, watch.RuleOffHours, map[string]any{"min_history": 10, "learn_days": 2})
	tok, _ := d.token(t, "bob")
	// Three days of work between 09:00 and 11:00.
	for day := 0; day < 3; day++ {
		for h := 9; h < 12; h++ {
			d.clock.Set(time.Date(2026, 12, 8+day, h, 15, 0, 0, time.UTC))
			d.call(t, "GET", "secret/data/x", tok, "10.0.0.5", nil)
			d.call(t, "GET", "secret/data/y", tok, "10.0.0.5", nil)
		}
	}
	// Benign twin: the usual hour.
	d.clock.Set(time.Date(2026, 12, 11, 10, 5, 0, 0, time.UTC))
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.5", nil)
	if got := d.alerts(t, watch.RuleOffHours); len(got) != 0 {
		t.Fatalf("usual hour: %+v", got)
	}
	d.clock.Set(time.Date(2026, 12, 11, 23, 5, 0, 0, time.UTC))
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.5", nil)
	if got := d.alerts(t, watch.RuleOffHours); len(got) != 1 || got[0].Evidence["history_requests"] == "" {
		t.Fatalf("learned off-hours alerts = %+v", got)
	}
}

func TestDetectUnknownNetwork(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.tune(t, watch.RuleUnknownNetwork, map[string]any{"min_history": 5})
	tok, _ := d.token(t, "carol")
	for i := 0; i < 6; i++ {
		d.call(t, "GET", "secret/data/x", tok, "10.1.1.5", nil)
	}
	// Benign twin: the same /24.
	d.call(t, "GET", "secret/data/x", tok, "10.1.1.77", nil)
	if got := d.alerts(t, watch.RuleUnknownNetwork); len(got) != 0 {
		t.Fatalf("usual network: %+v", got)
	}
	d.call(t, "GET", "secret/data/x", tok, "203.0.113.9", nil)
	d.call(t, "GET", "secret/data/x", tok, "203.0.113.10", nil)
	got := d.alerts(t, watch.RuleUnknownNetwork)
	if len(got) != 1 || got[0].Evidence["network"] != "203.0.113.0/24" {
		t.Fatalf("unknown network alerts = %+v", got)
	}
	// Configured ranges: anything outside alerts, even with no history.
	d.tune(t, watch.RuleUnknownNetwork, map[string]any{"allowed_cidrs": []string{"10.0.0.0/8"}})
	other, _ := d.token(t, "dave")
	d.call(t, "GET", "secret/data/x", other, "10.9.9.9", nil)
	if got := d.alertsOf(t, watch.RuleUnknownNetwork, "token-dave"); len(got) != 0 {
		t.Fatalf("inside allowed_cidrs: %+v", got)
	}
	d.call(t, "GET", "secret/data/x", other, "198.51.100.1", nil)
	if got := d.alertsOf(t, watch.RuleUnknownNetwork, "token-dave"); len(got) != 1 {
		t.Fatalf("outside allowed_cidrs: %+v", got)
	}
}

func TestDetectBruteForce(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.tune(t, watch.RuleBruteForce, map[string]any{"threshold": 5, "window": "1m"})
	mustOK(t, "enable userpass", d.Client(t).Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}))
	d.must(t, "PUT", "auth/userpass/users/erin", map[string]any{"password": "correct-horse-battery"})
	// Benign twin: one typo, then the right password.
	d.call(t, "PUT", "auth/userpass/login/erin", "", "10.2.0.1", map[string]any{"password": "typo"})
	d.call(t, "PUT", "auth/userpass/login/erin", "", "10.2.0.1", map[string]any{"password": "correct-horse-battery"})
	if got := d.alerts(t, watch.RuleBruteForce); len(got) != 0 {
		t.Fatalf("one typo: %+v", got)
	}
	for i := 0; i < 6; i++ {
		d.call(t, "PUT", "auth/userpass/login/erin", "", "192.0.2.66", map[string]any{"password": fmt.Sprintf("guess-%d", i)})
	}
	got := d.alerts(t, watch.RuleBruteForce)
	if len(got) != 1 || got[0].Evidence["source"] != "192.0.2.66" {
		t.Fatalf("brute force alerts = %+v", got)
	}
	// Denied requests by one identity (enumeration) alert per identity.
	tok, _ := d.token(t, "frank")
	for i := 0; i < 5; i++ {
		d.call(t, "GET", fmt.Sprintf("sys/policies/acl/p%d", i), tok, "10.3.0.1", nil)
	}
	var byID int
	for _, a := range d.alerts(t, watch.RuleBruteForce) {
		if strings.HasPrefix(a.GroupKey, "brute|identity|") && a.Identity.DisplayName == "token-frank" {
			byID++
		}
	}
	if byID != 1 {
		t.Errorf("per-identity brute force alerts = %d", byID)
	}
	// Guesses carry no password into the alert.
	raw, _ := json.Marshal(d.alerts(t, ""))
	if strings.Contains(string(raw), "guess-") || strings.Contains(string(raw), "correct-horse") {
		t.Errorf("an alert holds a password: %s", raw)
	}
}

func TestDetectBulkReadAndListWalk(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.tune(t, watch.RuleBulkRead, map[string]any{"threshold": 10, "window": "1m"})
	d.tune(t, watch.RuleListWalk, map[string]any{"threshold": 5, "window": "1m"})
	for i := 0; i < 12; i++ {
		d.must(t, "PUT", fmt.Sprintf("secret/data/team/s%d", i), map[string]any{"data": map[string]any{"v": "x"}})
	}
	tok, _ := d.token(t, "gina")
	// Benign twin: the same three secrets, many times.
	for i := 0; i < 20; i++ {
		d.call(t, "GET", fmt.Sprintf("secret/data/team/s%d", i%3), tok, "10.0.0.9", nil)
		d.clock.Add(time.Second)
	}
	d.call(t, "LIST", "secret/metadata/team", tok, "10.0.0.9", nil)
	if got := d.alerts(t, watch.RuleBulkRead); len(got) != 0 {
		t.Fatalf("usual reads: %+v", got)
	}
	if got := d.alerts(t, watch.RuleListWalk); len(got) != 0 {
		t.Fatalf("one list: %+v", got)
	}
	for i := 0; i < 12; i++ {
		d.call(t, "GET", fmt.Sprintf("secret/data/team/s%d", i), tok, "10.0.0.9", nil)
	}
	if got := d.alerts(t, watch.RuleBulkRead); len(got) != 1 || got[0].Identity.DisplayName != "token-gina" {
		t.Fatalf("bulk read alerts = %+v", got)
	}
	for i := 0; i < 6; i++ {
		d.call(t, "LIST", fmt.Sprintf("secret/metadata/dir%d", i), tok, "10.0.0.9", nil)
	}
	if got := d.alerts(t, watch.RuleListWalk); len(got) != 1 {
		t.Fatalf("list walk alerts = %+v", got)
	}
}

func TestDetectProductionFirstAccess(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.must(t, "PUT", "secret/data/prod/db", map[string]any{"data": map[string]any{"v": "x"}})
	d.must(t, "PUT", "secret/data/dev/db", map[string]any{"data": map[string]any{"v": "x"}})
	tok, _ := d.token(t, "hank")
	d.call(t, "GET", "secret/data/dev/db", tok, "10.0.0.9", nil)
	if got := d.alertsOf(t, watch.RuleProduction, "token-hank"); len(got) != 0 {
		t.Fatalf("dev read: %+v", got)
	}
	d.call(t, "GET", "secret/data/prod/db", tok, "10.0.0.9", nil)
	got := d.alertsOf(t, watch.RuleProduction, "token-hank")
	if len(got) != 1 || got[0].Evidence["prefix"] != "secret/data/prod" {
		t.Fatalf("production alerts = %+v", got)
	}
	d.Detection().Resolve(t.Context(), got[0].ID, "test")
	// Benign twin: the identity's usual production path raises nothing new.
	d.call(t, "GET", "secret/data/prod/db", tok, "10.0.0.9", nil)
	if got := d.alertsOf(t, watch.RuleProduction, "token-hank"); len(got) != 1 {
		t.Fatalf("second production read: %+v", got)
	}
	// Configured patterns replace the default.
	d.tune(t, watch.RuleProduction, map[string]any{"paths": []string{"secret/data/live/*"}})
	d.must(t, "PUT", "secret/data/live/x", map[string]any{"data": map[string]any{"v": "x"}})
	d.call(t, "GET", "secret/data/live/x", tok, "10.0.0.9", nil)
	if got := d.alertsOf(t, watch.RuleProduction, "token-hank"); len(got) != 2 {
		t.Fatalf("configured production path: %+v", got)
	}
}

func TestDetectStolenTokenContained(t *testing.T) {
	admin := testsvc.Postgres(t)
	auditDir := t.TempDir()
	d := startDetect(t, nodetest.Options{AuditDir: auditDir})
	auditLog := filepath.Join(auditDir, "audit.log")
	enableFileAudit(t, d.Client(t), auditLog)
	d.must(t, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	d.must(t, "PUT", "database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin",
		"connection_url": testsvc.PostgresURL, "username": "postgres", "password": "unused-with-trust-auth", "allowed_roles": "app"})
	d.must(t, "PUT", "database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "1h",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`})
	tok, acc := d.token(t, "ivan")
	// The stolen token holds database credentials: a real PostgreSQL user.
	code, creds := d.call(t, "GET", "database/creds/app", tok, "10.0.0.9", nil)
	if code != 200 {
		t.Fatalf("creds: %d %v", code, creds)
	}
	dbUser := creds["data"].(map[string]any)["username"].(string)
	t.Cleanup(func() { admin.Exec(context.Background(), fmt.Sprintf(`DROP ROLE IF EXISTS "%s"`, dbUser)) })
	userExists := func() bool {
		var n int
		if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", dbUser).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if !userExists() {
		t.Fatalf("database user %s was not created", dbUser)
	}
	// A child of the stolen token goes with it.
	code, out := d.call(t, "POST", "auth/token/create", tok, "10.0.0.9", map[string]any{"policies": []string{"app"}})
	if code != 200 {
		t.Fatalf("child token: %d %v", code, out)
	}
	child := out["auth"].(map[string]any)["client_token"].(string)

	// Dry run first: the alert lists the action, nothing is revoked.
	d.tune(t, watch.RuleStolenToken, map[string]any{"contain": []string{"revoke-token", "require-mfa"}, "dry_run": true})
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.9", nil)
	// Benign twin: the same network again.
	d.call(t, "GET", "secret/data/x", tok, "10.0.0.10", nil)
	if got := d.alerts(t, watch.RuleStolenToken); len(got) != 0 {
		t.Fatalf("one network: %+v", got)
	}
	d.call(t, "GET", "secret/data/x", tok, "198.51.100.7", nil)
	got := d.alerts(t, watch.RuleStolenToken)
	if len(got) != 1 || len(got[0].Actions) != 2 || !got[0].Actions[0].DryRun || got[0].Actions[0].Target != "accessor:"+acc {
		t.Fatalf("dry-run alert = %+v", got)
	}
	if code, _ := d.call(t, "GET", "auth/token/lookup-self", tok, "10.0.0.9", nil); code != 200 || !userExists() {
		t.Fatalf("dry run revoked the token (%d) or its database user", code)
	}
	if marked, _ := d.Detection().MFARequired(t.Context(), got[0].Identity.Key()); marked {
		t.Errorf("dry run set the MFA mark")
	}
	d.Detection().Resolve(t.Context(), got[0].ID, "test")

	// For real.
	d.tune(t, watch.RuleStolenToken, map[string]any{"dry_run": false})
	d.call(t, "GET", "secret/data/x", tok, "198.51.100.8", nil)
	clocktest.Eventually(t, "token revoked", func() bool {
		code, _ := d.call(t, "GET", "auth/token/lookup-self", tok, "198.51.100.8", nil)
		return code == 403
	})
	if code, _ := d.call(t, "GET", "auth/token/lookup-self", child, "10.0.0.9", nil); code != 403 {
		t.Errorf("child token still valid: %d", code)
	}
	clocktest.Eventually(t, "database user dropped", func() bool { return !userExists() })
	// The automatic action is in the audit log.
	audit := readFile(t, auditLog)
	if !strings.Contains(audit, "sys/watch/containment/revoke-token") {
		t.Errorf("containment not audited")
	}
	dbPass := creds["data"].(map[string]any)["password"].(string)
	alerts, _ := json.Marshal(d.alerts(t, ""))
	for name, text := range map[string]string{"audit log": audit, "alerts": string(alerts), "logs": d.Logs.String()} {
		for what, secret := range map[string]string{"stolen token": tok, "child token": child, "database password": dbPass} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds the %s", name, what)
			}
		}
	}
	var live *watch.Alert
	for _, a := range d.alerts(t, watch.RuleStolenToken) {
		if a.Status != watch.AlertResolved {
			live = &a
		}
	}
	if live == nil || len(live.Actions) != 2 || live.Actions[0].DryRun || live.Actions[0].Error != "" {
		t.Fatalf("contained alert = %+v", live)
	}
	if marked, _ := d.Detection().MFARequired(t.Context(), live.Identity.Key()); !marked {
		t.Errorf("no MFA mark after containment")
	}
}

func TestCanaryAlerts(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	canaryValue := "AKIA" + strings.Repeat("Q", 16)
	d.must(t, "PUT", "secret/data/billing/aws", map[string]any{"data": map[string]any{"aws_secret_access_key": canaryValue}})
	d.must(t, "PUT", "sys/watch/canaries/secret/billing/aws", map[string]any{"type": "aws"})
	tok, _ := d.token(t, "judy")
	// Benign twin: a neighbouring secret.
	d.call(t, "GET", "secret/data/billing/other", tok, "10.0.0.9", nil)
	if got := d.alerts(t, watch.RuleCanary); len(got) != 0 {
		t.Fatalf("neighbour read: %+v", got)
	}
	// The metadata a reader sees holds nothing that tells a canary apart.
	_, meta := d.call(t, "GET", "secret/metadata/billing/aws", d.root, "", nil)
	if raw, _ := json.Marshal(meta); strings.Contains(string(raw), "canary") {
		t.Errorf("metadata gives the canary away: %s", raw)
	}
	vc, err := vault.NewClient(&vault.Config{Address: d.URL})
	mustOK(t, "client", err)
	vc.SetToken(tok)
	vc.AddHeader("X-Forwarded-For", "203.0.113.50")
	s, err := vc.KVv2("secret").Get(t.Context(), "billing/aws")
	mustOK(t, "read canary", err)
	if s.Data["aws_secret_access_key"] != canaryValue {
		t.Fatalf("canary read = %v", s.Data)
	}
	got := d.alerts(t, watch.RuleCanary)
	if len(got) != 1 || got[0].Severity != watch.SeverityCritical || got[0].Identity.DisplayName != "token-judy" ||
		got[0].Evidence["source"] != "203.0.113.50" || got[0].Evidence["canary"] != "secret/billing/aws" {
		t.Fatalf("canary alerts = %+v", got)
	}
	// Removing the canary ends the alerts.
	d.must(t, "DELETE", "sys/watch/canaries/secret/billing/aws", nil)
	vc.KVv2("secret").Get(t.Context(), "billing/aws")
	if got := d.alerts(t, watch.RuleCanary); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("after removal: %+v", got)
	}
	// The sweep: no value or token in alerts, rules or logs.
	all, _ := json.Marshal(d.alerts(t, ""))
	_, rules := d.call(t, "GET", "sys/watch/rules/canary", d.root, "", nil)
	rraw, _ := json.Marshal(rules)
	for name, text := range map[string]string{"alerts": string(all), "rules": string(rraw), "logs": d.Logs.String()} {
		secrets := map[string]string{"canary value": canaryValue, "token": tok, "root token": d.root}
		for i, sh := range d.Shares {
			secrets[fmt.Sprintf("unseal share %d (hex)", i)] = hex.EncodeToString(sh)
			secrets[fmt.Sprintf("unseal share %d (base64)", i)] = base64.StdEncoding.EncodeToString(sh)
		}
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s hold the %s", name, what)
			}
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDetectPolicyWidening(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.must(t, "PUT", "sys/policies/acl/team", map[string]any{"policy": `path "secret/data/team/db" { capabilities = ["read"] }
path "secret/data/team/admin" { capabilities = ["deny"] }`})
	d.must(t, "GET", "sys/health", nil)
	// Benign twin: narrowing, then the same text again.
	d.must(t, "PUT", "sys/policies/acl/team", map[string]any{"policy": `path "secret/data/team/db" { capabilities = ["read"] }
path "secret/data/team/admin" { capabilities = ["deny"] }
path "secret/data/team/x" { capabilities = ["read"] }`})
	d.must(t, "PUT", "sys/policies/acl/team", map[string]any{"policy": `path "secret/data/team/db" { capabilities = ["read"] }
path "secret/data/team/admin" { capabilities = ["deny"] }`})
	if got := d.alerts(t, watch.RulePolicyWidening); len(got) != 0 {
		t.Fatalf("narrowing: %+v", got)
	}
	d.must(t, "PUT", "sys/policies/acl/team", map[string]any{"policy": `path "secret/data/team/db" { capabilities = ["read", "update"] }
path "secret/*" { capabilities = ["read"] }
path "sys/audit/*" { capabilities = ["sudo", "delete"] }`})
	got := d.alerts(t, watch.RulePolicyWidening)
	if len(got) != 1 {
		t.Fatalf("widening alerts = %+v", got)
	}
	ch := got[0].Evidence["changes"]
	for _, want := range []string{"sudo granted on sys/audit/*", "glob path granted: secret/*", "capabilities added on secret/data/team/db: update",
		"deny removed on secret/data/team/admin"} {
		if !strings.Contains(ch, want) {
			t.Errorf("changes %q lack %q", ch, want)
		}
	}
	// A new policy granting sudo is a widening too.
	d.must(t, "PUT", "sys/policy/ops", map[string]any{"policy": `path "sys/*" { capabilities = ["sudo", "read"] }`})
	if got := d.alerts(t, watch.RulePolicyWidening); len(got) != 2 {
		t.Fatalf("new sudo policy: %+v", got)
	}
	// Sealing while the detectors read policies does not deadlock: a seal
	// holds the state lock and waits for the detectors, which never wait
	// for that lock (a hang here is the regression).
	for i := 0; i < 50; i++ {
		d.must(t, "PUT", fmt.Sprintf("sys/policies/acl/p%d", i), map[string]any{"policy": `path "x/*" { capabilities = ["sudo"] }`})
	}
	if code, out := d.call(t, "PUT", "sys/seal", d.root, "", nil); code != 204 {
		t.Fatalf("seal: %d %v", code, out)
	}
}

func TestDetectAuthRoleWidening(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	mustOK(t, "enable approle", d.Client(t).Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	d.must(t, "PUT", "auth/approle/role/deploy", map[string]any{"token_policies": []string{"app"},
		"secret_id_bound_cidrs": []string{"10.0.0.0/8"}, "token_bound_cidrs": []string{"10.0.0.0/8", "192.168.0.0/16"}})
	// Benign twin: a TTL change and a narrower binding.
	d.must(t, "PUT", "auth/approle/role/deploy", map[string]any{"token_ttl": "10m", "token_bound_cidrs": []string{"10.0.0.0/8"}})
	if got := d.alerts(t, watch.RulePolicyWidening); len(got) != 0 {
		t.Fatalf("benign role change: %+v", got)
	}
	d.must(t, "PUT", "auth/approle/role/deploy", map[string]any{"secret_id_bound_cidrs": []string{}, "token_policies": []string{"app", "admin"}})
	got := d.alerts(t, watch.RulePolicyWidening)
	if len(got) != 1 || got[0].Evidence["role"] != "auth/approle/role/deploy" {
		t.Fatalf("role widening alerts = %+v", got)
	}
	for _, want := range []string{"secret_id_bound_cidrs removed", "token_policies added admin"} {
		if !strings.Contains(got[0].Evidence["changes"], want) {
			t.Errorf("changes %q lack %q", got[0].Evidence["changes"], want)
		}
	}
}
