package node_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

const cgRequesterPolicy = `
path "secret/data/prod/*" {
  capabilities = ["create", "read", "update"]
  control_group {
    max_ttl = "4h"
    factor "ops" {
      identity {
        group_names = ["ops"]
        approvals   = 2
      }
    }
  }
}
path "sys/access/requests" { capabilities = ["update", "list", "read"] }
path "sys/access/requests/*" { capabilities = ["update", "read"] }
path "sys/control-group/requests" { capabilities = ["list", "read"] }
`

const cgApproverPolicy = `
path "sys/control-group/authorize" { capabilities = ["update"] }
path "sys/control-group/deny" { capabilities = ["update"] }
path "sys/control-group/request" { capabilities = ["update"] }
path "sys/control-group/requests" { capabilities = ["list", "read"] }
path "sys/access/requests" { capabilities = ["update", "list", "read"] }
path "sys/access/requests/*" { capabilities = ["update", "read"] }
`

// govFixture is a node with an injected clock, a file audit device, and
// four userpass identities: alice (the requester), bob and carol (in the
// internal identity group "ops"), dave (an approver by policy, not in ops).
type govFixture struct {
	n                       *nodetest.Node
	clock                   *clocktest.Clock
	root                    *vault.Client
	auditPath               string
	alice, bob, carol, dave string
	secret                  string
}

func newGovFixture(t *testing.T) *govFixture {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	n := nodetest.StartWith(t, nodetest.Options{Configure: func(c *config.Config) { c.Now = clock.Now }})
	f := &govFixture{n: n, clock: clock, root: n.Client(t), auditPath: filepath.Join(t.TempDir(), "audit.log"),
		secret: "canary-" + rand.Text()}
	enableFileAudit(t, f.root, f.auditPath)
	for name, text := range map[string]string{"cg-requester": cgRequesterPolicy, "cg-approver": cgApproverPolicy,
		"prod-deploy": `path "secret/data/prod/*" { capabilities = ["read"] }`} {
		if err := f.root.Sys().PutPolicy(name, text); err != nil {
			t.Fatalf("put policy %s: %v", name, err)
		}
	}
	if _, err := f.root.Logical().Write("secret/data/prod/db", map[string]any{"data": map[string]any{"password": f.secret}}); err != nil {
		t.Fatal(err)
	}
	if err := f.root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	entities := map[string]string{}
	login := func(user, pols string) string {
		t.Helper()
		if _, err := f.root.Logical().Write("auth/userpass/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": pols}); err != nil {
			t.Fatal(err)
		}
		sec, err := f.root.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
		if err != nil {
			t.Fatal(err)
		}
		if sec.Auth.EntityID == "" {
			t.Fatalf("login %s: no entity", user)
		}
		entities[user] = sec.Auth.EntityID
		return sec.Auth.ClientToken
	}
	f.alice = login("alice", "cg-requester")
	f.bob = login("bob", "cg-approver")
	f.carol = login("carol", "cg-approver")
	f.dave = login("dave", "cg-approver")
	if _, err := f.root.Logical().Write("identity/group", map[string]any{"name": "ops", "type": "internal",
		"member_entity_ids": []string{entities["bob"], entities["carol"]}}); err != nil {
		t.Fatalf("create group ops: %v", err)
	}
	return f
}

// client is an official client authenticated with tok.
func (f *govFixture) client(t *testing.T, tok string) *vault.Client {
	t.Helper()
	c, err := f.root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// auditPaths returns the paths of the audit entries, in order, with
// their type ("request" or "response") and error.
func (f *govFixture) auditEntries(t *testing.T) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(f.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// wantAudited fails unless a response entry for path exists whose error
// contains errPart ("" for a success).
func (f *govFixture) wantAudited(t *testing.T, path, errPart string) {
	t.Helper()
	for _, e := range f.auditEntries(t) {
		req, _ := e["request"].(map[string]any)
		if e["type"] != "response" || req["path"] != path {
			continue
		}
		got, _ := e["error"].(string)
		if (errPart == "" && got == "") || (errPart != "" && strings.Contains(got, errPart)) {
			return
		}
	}
	t.Errorf("no audited response for %s with error %q", path, errPart)
}

// sweep fails if any of the values appears in the server's logs or audit.
func (f *govFixture) sweep(t *testing.T, values ...string) {
	t.Helper()
	audit, err := os.ReadFile(f.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		if bytes.Contains(audit, []byte(v)) {
			t.Errorf("canary %.12s… in the audit log", v)
		}
		if strings.Contains(f.n.Logs.String(), v) {
			t.Errorf("canary %.12s… in the server log", v)
		}
	}
}

func cgDo(t *testing.T, c *vault.Client, path, accessor string) (*vault.Secret, error) {
	t.Helper()
	return c.Logical().Write(path, map[string]any{"accessor": accessor})
}

// A read on a control-grouped path returns a wrapping token; the
// requester cannot unwrap before two distinct members of ops approved
// (the refusal spends nothing), cannot approve their own request, and a
// non-member cannot approve; once approved, the unwrap performs the read
// as the requester and returns the secret, once. Every step is audited,
// and neither the secret nor a token appears in logs or audit.
func TestControlGroupTwoPersonRule(t *testing.T) {
	f := newGovFixture(t)
	alice, bob, carol, dave := f.client(t, f.alice), f.client(t, f.bob), f.client(t, f.carol), f.client(t, f.dave)

	sec, err := alice.Logical().Read("secret/data/prod/db")
	if err != nil {
		t.Fatalf("held read: %v", err)
	}
	if sec == nil || sec.WrapInfo == nil || sec.Data != nil {
		t.Fatalf("held read = %+v, want only wrap_info", sec)
	}
	wi := sec.WrapInfo
	if wi.TTL != 4*3600 || wi.CreationPath != "secret/data/prod/db" || wi.Token == "" || wi.Accessor == "" {
		t.Fatalf("wrap_info = %+v, want ttl 14400 and creation_path secret/data/prod/db", wi)
	}

	lk, err := f.client(t, "").Logical().Write("sys/wrapping/lookup", map[string]any{"token": wi.Token})
	if err != nil || lk.Data["creation_path"] != "secret/data/prod/db" || lk.Data["creation_ttl"] != json.Number("14400") {
		t.Fatalf("lookup = %v, %v", lk, err)
	}
	if _, err := alice.Logical().Unwrap(wi.Token); err == nil || !strings.Contains(err.Error(), "needs further approval") {
		t.Fatalf("unwrap before approval = %v, want a needs-further-approval error", err)
	}
	if _, err := cgDo(t, alice, "sys/control-group/authorize", wi.Accessor); err == nil {
		t.Fatal("alice authorized her own request")
	}
	// alice has no policy on authorize; give her one and she is still refused.
	if err := f.root.Sys().PutPolicy("cg-requester", cgRequesterPolicy+cgApproverPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := cgDo(t, alice, "sys/control-group/authorize", wi.Accessor); err == nil || !strings.Contains(err.Error(), "separation of duties") {
		t.Fatalf("self-approval = %v, want a separation-of-duties refusal", err)
	}
	if _, err := cgDo(t, dave, "sys/control-group/authorize", wi.Accessor); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("dave's approval = %v, want refused (not in ops)", err)
	}

	list, err := bob.Logical().List("sys/control-group/requests")
	if err != nil || list == nil {
		t.Fatalf("bob's pending list: %v %v", list, err)
	}
	if keys, _ := list.Data["keys"].([]any); len(keys) != 1 || keys[0] != wi.Accessor {
		t.Fatalf("bob's pending list = %v, want [%s]", list.Data["keys"], wi.Accessor)
	}
	if l, _ := dave.Logical().List("sys/control-group/requests"); l != nil {
		if keys, _ := l.Data["keys"].([]any); len(keys) != 0 {
			t.Fatalf("dave sees %v, not his to approve", keys)
		}
	}

	st, err := cgDo(t, bob, "sys/control-group/request", wi.Accessor)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data["approved"] != false || st.Data["request_path"] != "secret/data/prod/db" {
		t.Fatalf("status = %v", st.Data)
	}
	if ent, _ := st.Data["request_entity"].(map[string]any); ent["name"] == "" || ent["id"] == "" {
		t.Fatalf("request_entity = %v", st.Data["request_entity"])
	}
	if st, err = cgDo(t, bob, "sys/control-group/authorize", wi.Accessor); err != nil || st.Data["approved"] != false {
		t.Fatalf("bob's approval = %v, %v; want recorded, not yet approved", st, err)
	}
	// bob again counts once.
	if st, err = cgDo(t, bob, "sys/control-group/authorize", wi.Accessor); err != nil || st.Data["approved"] != false {
		t.Fatalf("bob's second approval = %v, %v; want still not approved", st, err)
	}
	if _, err := alice.Logical().Unwrap(wi.Token); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("unwrap after one approval = %v, want refused (1 of 2)", err)
	}
	if st, err = cgDo(t, carol, "sys/control-group/authorize", wi.Accessor); err != nil || st.Data["approved"] != true {
		t.Fatalf("carol's approval = %v, %v; want approved", st, err)
	}
	if auths, _ := st.Data["authorizations"].([]any); len(auths) != 2 {
		t.Fatalf("authorizations = %v, want bob and carol", st.Data["authorizations"])
	}

	// Someone else holding the wrapping token cannot perform the request.
	if _, err := bob.Logical().Unwrap(wi.Token); err == nil || !strings.Contains(err.Error(), "only the requester") {
		t.Fatalf("bob's unwrap = %v, want refused", err)
	}
	out, err := alice.Logical().Unwrap(wi.Token)
	if err != nil {
		t.Fatalf("unwrap after approval: %v", err)
	}
	data, _ := out.Data["data"].(map[string]any)
	if data["password"] != f.secret {
		t.Fatalf("unwrapped data = %v, want the secret", out.Data)
	}
	if _, err := alice.Logical().Unwrap(wi.Token); err == nil {
		t.Fatal("a second unwrap succeeded")
	}

	// A held write carries sensitive data: performed only at unwrap.
	newSecret := "canary-" + rand.Text()
	w, err := alice.Logical().Write("secret/data/prod/api", map[string]any{"data": map[string]any{"key": newSecret}})
	if err != nil || w == nil || w.WrapInfo == nil {
		t.Fatalf("held write = %v, %v", w, err)
	}
	if s, _ := f.root.Logical().Read("secret/data/prod/api"); s != nil {
		t.Fatalf("the held write was performed before approval: %v", s.Data)
	}
	for _, c := range []*vault.Client{bob, carol} {
		if _, err := cgDo(t, c, "sys/control-group/authorize", w.WrapInfo.Accessor); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.Logical().Unwrap(w.WrapInfo.Token); err != nil {
		t.Fatalf("unwrap of the approved write: %v", err)
	}
	s, err := f.root.Logical().Read("secret/data/prod/api")
	if err != nil || s == nil {
		t.Fatalf("the approved write: %v %v", s, err)
	}
	if d, _ := s.Data["data"].(map[string]any); d["key"] != newSecret {
		t.Fatalf("written data = %v", s.Data)
	}

	// Re-authorized at unwrap: with the policy gone, the approved request
	// is refused.
	h, err := alice.Logical().Read("secret/data/prod/db")
	if err != nil || h.WrapInfo == nil {
		t.Fatal(err)
	}
	for _, c := range []*vault.Client{bob, carol} {
		if _, err := cgDo(t, c, "sys/control-group/authorize", h.WrapInfo.Accessor); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.root.Sys().PutPolicy("cg-requester", cgApproverPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Logical().Unwrap(h.WrapInfo.Token); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("unwrap after the policy was removed = %v, want permission denied", err)
	}

	for _, step := range []struct{ path, err string }{
		{"secret/data/prod/db", ""},
		{"sys/wrapping/unwrap", "needs further approval"},
		{"sys/wrapping/unwrap", ""},
		{"sys/control-group/authorize", ""},
		{"sys/control-group/authorize", "separation of duties"},
		{"sys/control-group/authorize", "not a member"},
		{"sys/control-group/approved", ""},
		{"sys/control-group/request", ""},
	} {
		f.wantAudited(t, step.path, step.err)
	}
	f.sweep(t, f.secret, newSecret, wi.Token, w.WrapInfo.Token, h.WrapInfo.Token, f.alice, f.bob, f.carol)
}

// Denial and expiry: a denied request cannot be unwrapped or approved
// further; an unapproved request expires at the control group's max_ttl.
func TestControlGroupDenyAndExpiry(t *testing.T) {
	f := newGovFixture(t)
	alice, bob, carol := f.client(t, f.alice), f.client(t, f.bob), f.client(t, f.carol)
	stream := subscribe(t, f.n.URL, f.n.RootToken.Reveal(), "")
	if stream.status != http.StatusOK {
		t.Fatalf("subscribe: %d", stream.status)
	}

	d, err := alice.Logical().Read("secret/data/prod/db")
	if err != nil || d.WrapInfo == nil {
		t.Fatal(err)
	}
	if _, err := cgDo(t, bob, "sys/control-group/authorize", d.WrapInfo.Accessor); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Logical().Write("sys/control-group/deny", map[string]any{"accessor": d.WrapInfo.Accessor, "reason": "not during the freeze"}); err != nil {
		t.Fatalf("deny: %v", err)
	}
	if _, err := alice.Logical().Unwrap(d.WrapInfo.Token); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("unwrap of a denied request = %v", err)
	}
	if _, err := cgDo(t, bob, "sys/control-group/authorize", d.WrapInfo.Accessor); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("approval of a denied request = %v", err)
	}

	e, err := alice.Logical().Read("secret/data/prod/db")
	if err != nil || e.WrapInfo == nil {
		t.Fatal(err)
	}
	if _, err := cgDo(t, bob, "sys/control-group/authorize", e.WrapInfo.Accessor); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(4*time.Hour + time.Second)
	if _, err := cgDo(t, carol, "sys/control-group/authorize", e.WrapInfo.Accessor); err == nil || !strings.Contains(err.Error(), "no pending") {
		t.Fatalf("approval after expiry = %v", err)
	}
	if _, err := alice.Logical().Unwrap(e.WrapInfo.Token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("unwrap after expiry = %v", err)
	}
	// The watch hub sees each step: the held read, the approval, the
	// denial, the refused unwraps; never a token or the secret.
	stream.next(t, "the held read", at("secret/data/prod/db"))
	stream.next(t, "an approval", at("sys/control-group/authorize"))
	stream.next(t, "the denial", at("sys/control-group/deny"))
	stream.next(t, "a refused unwrap", func(e *watch.Event) bool { return e.Path == "sys/wrapping/unwrap" && e.Status == http.StatusForbidden })
	for _, v := range []string{f.secret, d.WrapInfo.Token, e.WrapInfo.Token, f.alice, f.bob} {
		if strings.Contains(stream.Raw(), v) {
			t.Errorf("canary %.12s… in the event stream", v)
		}
	}
	f.wantAudited(t, "sys/control-group/deny", "")
	f.wantAudited(t, "sys/wrapping/unwrap", "denied")
	f.wantAudited(t, "sys/wrapping/unwrap", "expired")
	f.sweep(t, f.secret, d.WrapInfo.Token, e.WrapInfo.Token)
}

// Just-in-time access: alice asks for prod-deploy for 30m; two members of
// ops approve (alice cannot); alice collects, once, an orphan
// non-renewable token with exactly prod-deploy that stops working at the
// TTL. A denied request and an expired one cannot be collected.
func TestJITAccess(t *testing.T) {
	f := newGovFixture(t)
	alice, bob, carol := f.client(t, f.alice), f.client(t, f.bob), f.client(t, f.carol)
	if _, err := f.root.Logical().Write("sys/access/config/prod-deploy", map[string]any{"policies": []string{"prod-deploy"},
		"approver_groups": []string{"ops"}, "approvals": 2, "max_ttl": "1h", "request_ttl": "2h"}); err != nil {
		t.Fatalf("config: %v", err)
	}
	if _, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"root"}, "ttl": "30m", "reason": "x"}); err == nil {
		t.Fatal("a request for root was accepted")
	}
	if _, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"prod-deploy"}, "ttl": "2h", "reason": "x"}); err == nil {
		t.Fatal("a ttl above max_ttl was accepted")
	}
	if _, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"prod-deploy"}, "ttl": "30m"}); err == nil {
		t.Fatal("a request without a reason was accepted")
	}
	req, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"prod-deploy"}, "ttl": "30m", "reason": "deploy 1.4.2"})
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	id, _ := req.Data["id"].(string)
	if id == "" || req.Data["status"] != "pending" {
		t.Fatalf("request = %v", req.Data)
	}
	base := "sys/access/requests/" + id
	if _, err := alice.Logical().Write(base+"/collect", nil); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("collect before approval = %v", err)
	}
	if _, err := alice.Logical().Write(base+"/approve", nil); err == nil || !strings.Contains(err.Error(), "separation of duties") {
		t.Fatalf("self-approval = %v", err)
	}
	if _, err := f.client(t, f.dave).Logical().Write(base+"/approve", nil); err == nil {
		t.Fatal("dave (not in ops) approved")
	}
	if l, err := bob.Logical().List("sys/access/requests"); err != nil || l == nil || len(l.Data["keys"].([]any)) != 1 {
		t.Fatalf("bob's list = %v, %v", l, err)
	}
	for _, c := range []*vault.Client{bob, carol} {
		if _, err := c.Logical().Write(base+"/approve", map[string]any{"reason": "ok"}); err != nil {
			t.Fatalf("approve: %v", err)
		}
	}
	if _, err := bob.Logical().Write(base+"/collect", nil); err == nil {
		t.Fatal("an approver collected the token")
	}
	got, err := alice.Logical().Write(base+"/collect", nil)
	if err != nil || got.Auth == nil || got.Auth.ClientToken == "" {
		t.Fatalf("collect = %v, %v", got, err)
	}
	jit := got.Auth.ClientToken
	if _, err := alice.Logical().Write(base+"/collect", nil); err == nil || !strings.Contains(err.Error(), "collected") {
		t.Fatalf("second collect = %v", err)
	}
	jc := f.client(t, jit)
	// Exactly prod-deploy: not even default, so the root looks it up.
	self, err := f.root.Auth().Token().LookupAccessor(got.Auth.Accessor)
	if err != nil {
		t.Fatal(err)
	}
	pols, _ := self.TokenPolicies()
	ttl, _ := self.TokenTTL()
	if strings.Join(pols, ",") != "prod-deploy" || ttl > 30*time.Minute || ttl < 29*time.Minute || self.Data["renewable"] != false || self.Data["orphan"] != true {
		t.Fatalf("JIT token: policies %v ttl %s data %v", pols, ttl, self.Data)
	}
	s, err := jc.Logical().Read("secret/data/prod/db")
	if err != nil || s == nil || s.WrapInfo != nil {
		t.Fatalf("JIT read = %v, %v", s, err)
	}
	if _, err := jc.Logical().Write("secret/data/prod/db", map[string]any{"data": map[string]any{"x": "y"}}); err == nil {
		t.Fatal("the JIT token wrote beyond its policy")
	}
	f.clock.Add(31 * time.Minute)
	if _, err := jc.Logical().Read("secret/data/prod/db"); err == nil {
		t.Fatal("the JIT token works after its TTL")
	}

	// Denied.
	r2, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"prod-deploy"}, "reason": "again"})
	if err != nil {
		t.Fatal(err)
	}
	id2 := r2.Data["id"].(string)
	if _, err := bob.Logical().Write("sys/access/requests/"+id2+"/deny", map[string]any{"reason": "use the pipeline"}); err != nil {
		t.Fatalf("deny: %v", err)
	}
	if _, err := alice.Logical().Write("sys/access/requests/"+id2+"/collect", nil); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("collect of a denied request = %v", err)
	}
	// Expired before approval.
	r3, err := alice.Logical().Write("sys/access/requests", map[string]any{"policies": []string{"prod-deploy"}, "reason": "later"})
	if err != nil {
		t.Fatal(err)
	}
	id3 := r3.Data["id"].(string)
	f.clock.Add(2*time.Hour + time.Second)
	if _, err := bob.Logical().Write("sys/access/requests/"+id3+"/approve", nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approval of an expired request = %v", err)
	}

	f.wantAudited(t, "sys/access/requests", "")
	f.wantAudited(t, base+"/approve", "")
	f.wantAudited(t, base+"/approve", "separation of duties")
	f.wantAudited(t, base+"/collect", "")
	f.wantAudited(t, "sys/access/requests/"+id2+"/deny", "")
	// The JIT token's use is audited with the request id it came from.
	used := false
	for _, e := range f.auditEntries(t) {
		au, _ := e["auth"].(map[string]any)
		md, _ := au["metadata"].(map[string]any)
		rq, _ := e["request"].(map[string]any)
		if e["type"] == "response" && rq["path"] == "secret/data/prod/db" && md["access_request_id"] == id {
			used = true
		}
	}
	if !used {
		t.Error("no audit entry of the JIT token's read carrying its access_request_id")
	}
	f.sweep(t, jit, f.secret, f.alice, f.bob)
}

// A control group on the approvers' own endpoints never holds them (the
// approval would need an approval), and root is never held.
func TestControlGroupNeverHoldsItsOwnEndpoints(t *testing.T) {
	f := newGovFixture(t)
	if err := f.root.Sys().PutPolicy("cg-approver", `path "sys/*" {
  capabilities = ["read", "list", "update"]
  control_group { factor "ops" { identity { group_names = ["ops"] approvals = 1 } } }
}`); err != nil {
		t.Fatal(err)
	}
	if s, err := f.root.Logical().Read("secret/data/prod/db"); err != nil || s == nil || s.WrapInfo != nil || s.Data == nil {
		t.Fatalf("root read = %v, %v; want the data, never held", s, err)
	}
	h, err := f.client(t, f.alice).Logical().Read("secret/data/prod/db")
	if err != nil || h.WrapInfo == nil {
		t.Fatal(err)
	}
	st, err := cgDo(t, f.client(t, f.bob), "sys/control-group/authorize", h.WrapInfo.Accessor)
	if err != nil || st == nil || st.WrapInfo != nil || st.Data["approved"] != false {
		t.Fatalf("authorize under a sys/* control group = %+v, %v; want performed", st, err)
	}
	// A sys path outside the control group endpoints is held.
	if s, err := f.client(t, f.bob).Logical().List("sys/policies/acl"); err != nil || s == nil || s.WrapInfo == nil {
		t.Fatalf("LIST sys/policies/acl under a sys/* control group = %+v, %v; want held", s, err)
	}
}
