package node_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

// TestDetectLockRole: a rule with contain=lock-role locks the userpass
// user whose token tripped it: dry-run records the action and changes
// nothing; for real, logins through the user are refused with a clear
// 403 until lock_duration lapses (the core's clock), the lock is listed
// at sys/watch/locks, and DELETE lifts it early.
func TestDetectLockRole(t *testing.T) {
	auditDir := t.TempDir()
	d := startDetect(t, nodetest.Options{AuditDir: auditDir})
	auditLog := filepath.Join(auditDir, "audit.log")
	enableFileAudit(t, d.Client(t), auditLog)
	d.must(t, "POST", "sys/auth/userpass", map[string]any{"type": "userpass"})
	d.must(t, "PUT", "sys/policies/acl/bait-reader", map[string]any{"policy": `path "secret/data/*" { capabilities = ["read"] }`})
	d.must(t, "PUT", "auth/userpass/users/alice", map[string]any{"password": "pw-alice-7c1d", "token_policies": "bait-reader"})
	d.must(t, "PUT", "secret/data/bait", map[string]any{"data": map[string]any{"key": "fake"}})
	d.must(t, "PUT", "sys/watch/canaries/secret/bait", map[string]any{"type": "generic"})
	login := func() (int, string, string) {
		code, out := d.call(t, "PUT", "auth/userpass/login/alice", "", "", map[string]any{"password": "pw-alice-7c1d"})
		if code != 200 {
			errs, _ := out["errors"].([]any)
			var msg []string
			for _, e := range errs {
				msg = append(msg, e.(string))
			}
			return code, "", strings.Join(msg, "; ")
		}
		return code, out["auth"].(map[string]any)["client_token"].(string), ""
	}
	trip := func() watch.Alert {
		t.Helper()
		code, tok, msg := login()
		if code != 200 {
			t.Fatalf("login = %d %s", code, msg)
		}
		d.call(t, "GET", "secret/data/bait", tok, "", nil)
		for _, a := range d.alerts(t, watch.RuleCanary) {
			if a.Status == watch.AlertOpen {
				return a
			}
		}
		t.Fatal("no open canary alert")
		return watch.Alert{}
	}
	resolve := func(a watch.Alert) { d.must(t, "PUT", "sys/watch/alerts/"+a.ID+"/resolve", nil) }

	d.tune(t, watch.RuleCanary, map[string]any{"contain": "lock-role", "lock_duration": "10m", "dry_run": true})
	a := trip()
	if len(a.Actions) != 1 || a.Actions[0].Kind != "lock-role" || !a.Actions[0].DryRun || a.Actions[0].Target != "auth/userpass/ alice" || a.Actions[0].Error != "" {
		t.Fatalf("dry-run actions %+v", a.Actions)
	}
	if code, _, msg := login(); code != 200 {
		t.Fatalf("dry run locked the user: %d %s", code, msg)
	}
	resolve(a)

	d.tune(t, watch.RuleCanary, map[string]any{"dry_run": false})
	a = trip()
	if len(a.Actions) != 1 || a.Actions[0].DryRun || a.Actions[0].Error != "" {
		t.Fatalf("actions %+v", a.Actions)
	}
	code, _, msg := login()
	if code != 403 || !strings.Contains(msg, "locked") || !strings.Contains(msg, "auth/userpass/ alice") || !strings.Contains(msg, a.ID) {
		t.Fatalf("login while locked = %d %q", code, msg)
	}
	locks := d.must(t, "LIST", "sys/watch/locks", nil)
	keys, _ := locks["data"].(map[string]any)["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("locks %v", locks)
	}
	d.clock.Add(11 * time.Minute)
	if code, _, msg := login(); code != 200 {
		t.Fatalf("login after the lock lapsed = %d %s", code, msg)
	}
	resolve(a)

	// Locked again, then lifted early.
	a = trip()
	if code, _, _ := login(); code != 403 {
		t.Fatalf("second lock: login = %d", code)
	}
	id := watch.LockID("auth/userpass/", "alice")
	d.must(t, "DELETE", "sys/watch/locks/"+id, nil)
	if code, _, msg := login(); code != 200 {
		t.Fatalf("login after the lock was lifted = %d %s", code, msg)
	}
	if code, _ := d.call(t, "DELETE", "sys/watch/locks/"+id, d.root, "", nil); code != 404 {
		t.Fatalf("lifting a lifted lock = %d", code)
	}
	resolve(a)
	audit := readFile(t, auditLog)
	if !strings.Contains(audit, "sys/watch/containment/lock-role") {
		t.Error("lock-role not audited")
	}
	if strings.Contains(d.Logs.String(), "pw-alice-7c1d") || strings.Contains(audit, "pw-alice-7c1d") {
		t.Fatal("the password reached the log")
	}
}
