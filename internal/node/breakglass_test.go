package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/watch"
)

// recordingNotifier keeps every alert it is given.
type recordingNotifier struct {
	mu     sync.Mutex
	alerts []watch.Alert
}

func (r *recordingNotifier) Notify(a watch.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
}

func (r *recordingNotifier) all() []watch.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.alerts)
}

type bgResp struct {
	status int
	data   map[string]any
	body   string
}

// bgCall makes one HTTP request; token "" sends none.
func bgCall(t *testing.T, base, method, path, token string, body any) bgResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := bgResp{status: res.StatusCode, body: string(raw)}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if len(raw) > 0 && json.Unmarshal(raw, &env) == nil {
		out.data = env.Data
	}
	return out
}

func wantStatus(t *testing.T, r bgResp, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, want, r.body)
	}
}

const emergencyPolicy = `
path "secret/data/prod/*" { capabilities = ["read"] }
`

// bgSetup starts a node with 5 shares (threshold 3), a file audit device, a
// recording notifier, the emergency policy and a prod secret.
func bgSetup(t *testing.T) (*nodetest.Node, *vault.Client, *recordingNotifier, string) {
	t.Helper()
	n := nodetest.StartWith(t, nodetest.Options{Shares: 5, Threshold: 3})
	rec := &recordingNotifier{}
	n.SetBreakGlassNotifier(rec)
	root := n.Client(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	enableFileAudit(t, root, auditPath)
	if err := root.Sys().PutPolicy("emergency", emergencyPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("secret/data/prod/db", map[string]any{"data": map[string]any{"password": "prod-pass"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("secret/data/dev/db", map[string]any{"data": map[string]any{"password": "dev-pass"}}); err != nil {
		t.Fatal(err)
	}
	return n, root, rec, auditPath
}

func startAttempt(t *testing.T, n *nodetest.Node, reason string) (nonce, otp string) {
	t.Helper()
	r := bgCall(t, n.URL, "PUT", "sys/break-glass/attempt", "", map[string]any{"reason": reason})
	wantStatus(t, r, 200, "start attempt")
	nonce, _ = r.data["nonce"].(string)
	otp, _ = r.data["otp"].(string)
	if nonce == "" || otp == "" {
		t.Fatalf("start attempt: no nonce or otp in %s", r.body)
	}
	return nonce, otp
}

func submitShare(t *testing.T, n *nodetest.Node, nonce string, share []byte, holder string) bgResp {
	t.Helper()
	return bgCall(t, n.URL, "PUT", "sys/break-glass/update", "", map[string]any{"nonce": nonce, "key": hex.EncodeToString(share), "holder": holder})
}

// A quorum of unseal key holders activates the emergency policy; fewer
// shares, wrong shares and a repeated share do not; the token reads what
// the policy allows and nothing else, cannot be renewed, fires a critical
// alert, and every request it makes lands in the report. Revoking it ends
// the activation. No share or token appears in any output.
func TestBreakGlassUnsealKeys(t *testing.T) {
	n, root, rec, auditPath := bgSetup(t)
	rootTok := n.RootToken.Reveal()

	// Not configured yet: refused.
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/attempt", "", map[string]any{"reason": "x"}), 400, "attempt before config")
	// Config needs sudo: a token without it is refused.
	weak := tokenWith(t, root, "weak", `path "sys/break-glass/*" { capabilities = ["create","update","read"] }`)
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", weak, map[string]any{"policies": []string{"emergency"}}), 403, "config without sudo")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"root"}}), 400, "root as emergency policy")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency"}, "ttl": "5h"}), 400, "ttl above the max")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency"}, "ttl": "30m"}), 204, "config")
	cfg := bgCall(t, n.URL, "GET", "sys/break-glass/config", rootTok, nil)
	wantStatus(t, cfg, 200, "read config")
	if cfg.data["holders"] != "unseal_keys" || cfg.data["ttl"] != float64(1800) {
		t.Fatalf("config = %v", cfg.data)
	}

	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/attempt", "", map[string]any{}), 400, "attempt without reason")
	nonce, _ := startAttempt(t, n, "db outage INC-42")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/attempt", "", map[string]any{"reason": "second"}), 400, "second attempt")
	wantStatus(t, submitShare(t, n, "wrong-nonce", n.Shares[0], ""), 400, "wrong nonce")

	// M-1 shares, one of them repeated: no token.
	r := submitShare(t, n, nonce, n.Shares[0], "alice")
	wantStatus(t, r, 200, "share 1")
	r = submitShare(t, n, nonce, n.Shares[0], "alice")
	wantStatus(t, r, 400, "share 1 again")
	r = submitShare(t, n, nonce, n.Shares[1], "bob")
	wantStatus(t, r, 200, "share 2")
	if r.data["progress"] != float64(2) || r.data["required"] != float64(3) || r.data["encoded_token"] != nil {
		t.Fatalf("after 2 distinct shares of 3: %s", r.body)
	}
	// A wrong third share: refused, no token, the attempt is over.
	bogus := make([]byte, len(n.Shares[0]))
	rand.Read(bogus)
	r = submitShare(t, n, nonce, bogus, "mallory")
	wantStatus(t, r, 400, "wrong share")
	if strings.Contains(r.body, "encoded_token") {
		t.Fatalf("wrong share produced a token: %s", r.body)
	}
	st := bgCall(t, n.URL, "GET", "sys/break-glass/attempt", "", nil)
	if st.data["started"] != false {
		t.Fatalf("attempt still running after a failed combination: %s", st.body)
	}
	if len(rec.all()) != 0 {
		t.Fatalf("alerts before activation: %v", rec.all())
	}

	// Quorum: works.
	nonce, otp := startAttempt(t, n, "db outage INC-42")
	var res bgResp
	for i, who := range []string{"alice", "bob", "carol"} {
		res = submitShare(t, n, nonce, n.Shares[i+1], who)
		wantStatus(t, res, 200, "share "+who)
	}
	enc, _ := res.data["encoded_token"].(string)
	id, _ := res.data["id"].(string)
	if enc == "" || id == "" || res.data["complete"] != true {
		t.Fatalf("quorum did not activate: %s", res.body)
	}
	tok, err := core.DecodeBreakGlassToken(enc, otp)
	if err != nil {
		t.Fatal(err)
	}
	bg := tok.Reveal()

	// Exactly the emergency policy.
	look, err := root.Auth().Token().LookupAccessor(res.data["accessor"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if pols, _ := look.TokenPolicies(); !slices.Equal(pols, []string{"emergency"}) {
		t.Fatalf("emergency token policies = %v", pols)
	}
	if ttl, _ := look.TokenTTL(); ttl <= 0 || ttl > 30*time.Minute {
		t.Fatalf("emergency token ttl = %v", ttl)
	}
	// Reads what the policy allows, and nothing else.
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 200, "read prod")
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/dev/db", bg, nil), 403, "read dev")
	wantStatus(t, bgCall(t, n.URL, "PUT", "secret/data/prod/db", bg, map[string]any{"data": map[string]any{"x": "y"}}), 403, "write prod")
	wantStatus(t, bgCall(t, n.URL, "GET", "sys/policies/acl/emergency", bg, nil), 403, "read policy")
	// Not renewable.
	if _, err := root.Auth().Token().RenewTokenAsSelf(bg, 3600); err == nil {
		t.Fatal("the emergency token renewed")
	}
	if _, err := root.Auth().Token().Renew(bg, 3600); err == nil {
		t.Fatal("root renewed the emergency token")
	}
	// It cannot approve or start anything either.
	wantStatus(t, bgCall(t, n.URL, "GET", "sys/break-glass/report/"+id, bg, nil), 403, "emergency token reads its report")

	// The alert: once, critical, non-secret evidence.
	alerts := rec.all()
	if len(alerts) != 1 {
		t.Fatalf("alerts = %d, want 1", len(alerts))
	}
	al := alerts[0]
	if al.Rule != "break-glass" || al.Severity != watch.SeverityCritical || al.Evidence["activation_id"] != id ||
		al.Evidence["reason"] != "db outage INC-42" || al.Evidence["key_holders"] != "3" || al.Evidence["policies"] != "emergency" ||
		al.Identity.Accessor != res.data["accessor"] {
		t.Fatalf("alert = %+v", al)
	}

	// Revoke early; the token stops working.
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/revoke", rootTok, map[string]any{"id": id}), 204, "revoke")
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 403, "read after revoke")

	rep := bgCall(t, n.URL, "GET", "sys/break-glass/report/"+id, rootTok, nil)
	wantStatus(t, rep, 200, "report")
	var report core.BreakGlassReport
	raw, _ := json.Marshal(rep.data)
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range report.Requests {
		got = append(got, fmt.Sprintf("%s %s %d", q.Operation, q.Path, q.Status))
		if q.RemoteAddr == "" || q.Time.IsZero() {
			t.Errorf("request without address or time: %+v", q)
		}
	}
	want := []string{
		"read secret/data/prod/db 200",
		"read secret/data/dev/db 403",
		"update secret/data/prod/db 403",
		"read sys/policies/acl/emergency 403",
		"update auth/token/renew-self 403",
		"read sys/break-glass/report/" + id + " 403",
	}
	if !slices.Equal(got, want) {
		t.Errorf("report requests:\n got %q\nwant %q", got, want)
	}
	if report.Ended != "revoked" || report.RevokedBy == "" || report.Reason != "db outage INC-42" || len(report.Approvals) != 3 ||
		report.Approvals[0].Holder != "alice" || report.TTL != 1800 {
		t.Errorf("report = %+v", report)
	}
	list := bgCall(t, n.URL, "LIST", "sys/break-glass/report", rootTok, nil)
	if keys, _ := list.data["keys"].([]any); len(keys) != 1 || keys[0] != id {
		t.Errorf("report list = %s", list.body)
	}

	// The audit log has every step, the share of none.
	auditRaw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	audit := string(auditRaw)
	for _, p := range []string{`"path":"sys/break-glass/attempt"`, `"path":"sys/break-glass/update"`, `"path":"sys/break-glass/activate"`, `"path":"sys/break-glass/end"`} {
		if !strings.Contains(audit, p) {
			t.Errorf("audit log has no %s entry", p)
		}
	}
	// The key field of each update is the HMAC of a placeholder, not of
	// the share.
	withheld, err := root.Sys().AuditHash("file", "[share withheld]")
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(audit, withheld); c < 8 {
		t.Errorf("audit log has %d updates with the share withheld, want at least 8", c)
	}
	for _, s := range n.Shares {
		h, err := root.Sys().AuditHash("file", hex.EncodeToString(s))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(audit, h) {
			t.Error("audit log holds the HMAC of a share")
		}
	}
	if c := strings.Count(audit, `"path":"sys/break-glass/update"`); c < 2*8 { // request and response of each of the 8 updates
		t.Errorf("audit log has %d update entries, want at least 16", c)
	}

	// Canary sweep: shares and the emergency token appear nowhere.
	canaries := []string{bg, bogus4(bogus), hex.EncodeToString(bogus), base64.StdEncoding.EncodeToString(bogus)}
	for _, s := range n.Shares {
		canaries = append(canaries, hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s))
	}
	var events bytes.Buffer
	for _, e := range n.Watch().Ring().Snapshot() {
		b, _ := json.Marshal(e)
		events.Write(b)
	}
	alertJSON, _ := json.Marshal(rec.all())
	outputs := map[string]string{"logs": n.Logs.String(), "audit": audit, "events": events.String(),
		"alerts": string(alertJSON), "report": rep.body}
	for name, out := range outputs {
		for _, c := range canaries {
			if strings.Contains(out, c) {
				t.Errorf("%s holds a secret (%.8s...)", name, c)
			}
		}
	}
}

// bogus4 is a short prefix of the bogus share in hex, enough to catch a
// partial leak of it.
func bogus4(b []byte) string { return hex.EncodeToString(b[:12]) }

// The emergency token expires after its TTL: it stops working, cannot be
// renewed past it, and the report records the expiry.
func TestBreakGlassExpires(t *testing.T) {
	n, _, rec, auditPath := bgSetup(t)
	rootTok := n.RootToken.Reveal()
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": "emergency", "ttl": "2s"}), 204, "config")
	nonce, otp := startAttempt(t, n, "short")
	var res bgResp
	for i := range 3 {
		res = submitShare(t, n, nonce, n.Shares[i], "")
	}
	wantStatus(t, res, 200, "activate")
	tok, err := core.DecodeBreakGlassToken(res.data["encoded_token"].(string), otp)
	if err != nil {
		t.Fatal(err)
	}
	id := res.data["id"].(string)
	bg := tok.Reveal()
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 200, "read within ttl")
	// Wait on the report (read with root), not on the token: each use of
	// the token within its TTL would be recorded.
	clocktest.Eventually(t, "the report records the expiry", func() bool {
		r := bgCall(t, n.URL, "GET", "sys/break-glass/report/"+id, rootTok, nil)
		return r.data["ended"] == "expired"
	})
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 403, "read after expiry")
	if _, err := nodetest.VaultClient(t, n.URL, rootTok).Auth().Token().Renew(bg, 3600); err == nil {
		t.Fatal("the expired emergency token renewed")
	}
	r := bgCall(t, n.URL, "GET", "sys/break-glass/report/"+id, rootTok, nil)
	reqs, _ := r.data["requests"].([]any)
	if len(reqs) != 1 {
		t.Fatalf("report requests = %v, want the one read made within the TTL", reqs)
	}
	if len(rec.all()) != 1 {
		t.Fatalf("alerts = %d", len(rec.all()))
	}
	clocktest.Eventually(t, "the end is audited", func() bool {
		b, _ := os.ReadFile(auditPath)
		return bytes.Contains(b, []byte(`"path":"sys/break-glass/end"`))
	})
}

// Officers: each approval is the officer's own authenticated request; a
// repeated officer counts once, a non-officer and a token without the
// officer policy are refused, and the quorum activates.
func TestBreakGlassOfficers(t *testing.T) {
	n, root, rec, _ := bgSetup(t)
	rootTok := n.RootToken.Reveal()
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("bg-officer", `path "sys/break-glass/attempt" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	login := func(user, pols string) string {
		t.Helper()
		if _, err := root.Logical().Write("auth/userpass/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": pols}); err != nil {
			t.Fatal(err)
		}
		sec, err := root.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
		if err != nil {
			t.Fatal(err)
		}
		return sec.Auth.ClientToken
	}
	alice, bob, carol := login("alice", "bg-officer"), login("bob", "bg-officer"), login("carol", "default")
	mallory := login("mallory", "bg-officer")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency"},
		"holders": "officers", "quorum": 2, "officers": []string{"userpass/alice", "userpass/bob", "userpass/carol"}, "officer_policy": "bg-officer"}), 204, "config")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency"},
		"holders": "officers", "quorum": 4, "officers": []string{"userpass/alice"}}), 400, "quorum above officers")

	nonce, otp := startAttempt(t, n, "pager storm")
	approve := func(tok string) bgResp {
		return bgCall(t, n.URL, "PUT", "sys/break-glass/update", tok, map[string]any{"nonce": nonce})
	}
	wantStatus(t, approve(""), 403, "no token")
	wantStatus(t, approve(mallory), 403, "not an officer")
	wantStatus(t, approve(carol), 403, "officer without the officer policy")
	// A child token of an officer is not the officer's own login.
	child, err := nodetest.VaultClient(t, n.URL, alice).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"bg-officer"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, approve(child.Auth.ClientToken), 403, "child token")
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/update", alice, map[string]any{"nonce": nonce, "key": hex.EncodeToString(n.Shares[0])}), 400, "share in officer mode")
	r := approve(alice)
	wantStatus(t, r, 200, "alice")
	if r.data["progress"] != float64(1) {
		t.Fatalf("after alice: %s", r.body)
	}
	wantStatus(t, approve(alice), 400, "alice again")
	// A second login of alice is still alice.
	alice2 := login("alice", "bg-officer")
	wantStatus(t, approve(alice2), 400, "alice's second token")
	if len(rec.all()) != 0 {
		t.Fatal("alert before quorum")
	}
	r = approve(bob)
	wantStatus(t, r, 200, "bob")
	tok, err := core.DecodeBreakGlassToken(r.data["encoded_token"].(string), otp)
	if err != nil {
		t.Fatalf("no token after quorum: %s", r.body)
	}
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", tok.Reveal(), nil), 200, "read prod")
	al := rec.all()
	if len(al) != 1 || al[0].Evidence["officers"] != "userpass/alice,userpass/bob" || al[0].Severity != watch.SeverityCritical {
		t.Fatalf("alerts = %+v", al)
	}
	rep := bgCall(t, n.URL, "GET", "sys/break-glass/report/"+r.data["id"].(string), rootTok, nil)
	aps, _ := rep.data["approvals"].([]any)
	if len(aps) != 2 {
		t.Fatalf("report approvals = %v", rep.data["approvals"])
	}
	for _, secret := range []string{alice, bob, tok.Reveal()} {
		if strings.Contains(rep.body, secret) || strings.Contains(n.Logs.String(), secret) {
			t.Errorf("a token leaked into the report or logs")
		}
	}
}

// Cancel needs the attempt's nonce.
func TestBreakGlassCancel(t *testing.T) {
	n, _, _, _ := bgSetup(t)
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", n.RootToken.Reveal(), map[string]any{"policies": "emergency"}), 204, "config")
	nonce, _ := startAttempt(t, n, "test")
	wantStatus(t, bgCall(t, n.URL, "DELETE", "sys/break-glass/attempt", "", map[string]any{"nonce": "nope"}), 400, "cancel with a wrong nonce")
	wantStatus(t, bgCall(t, n.URL, "DELETE", "sys/break-glass/attempt", "", map[string]any{"nonce": nonce}), 204, "cancel")
	wantStatus(t, submitShare(t, n, nonce, n.Shares[0], ""), 400, "share after cancel")
}

// An activation survives a seal and unseal: its token still works until
// its TTL, its requests are still recorded, and a revoke-self (which ends
// the activation) is recorded too.
func TestBreakGlassAcrossReseal(t *testing.T) {
	n, _, _, _ := bgSetup(t)
	rootTok := n.RootToken.Reveal()
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": "emergency,default"}), 204, "config")
	nonce, otp := startAttempt(t, n, "reseal")
	var res bgResp
	for i := range 3 {
		res = submitShare(t, n, nonce, n.Shares[i], "")
	}
	tok, err := core.DecodeBreakGlassToken(res.data["encoded_token"].(string), otp)
	if err != nil {
		t.Fatal(err)
	}
	id, bg := res.data["id"].(string), tok.Reveal()
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 200, "read before reseal")
	n.Core().Seal()
	var shares []sensitive.Bytes
	for _, sh := range n.Shares[:3] {
		shares = append(shares, sensitive.NewBytes(sh))
	}
	if err := n.Core().Unseal(t.Context(), shares); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", bg, nil), 200, "read after reseal")
	wantStatus(t, bgCall(t, n.URL, "PUT", "auth/token/revoke-self", bg, nil), 204, "revoke-self")
	r := bgCall(t, n.URL, "GET", "sys/break-glass/report/"+id, rootTok, nil)
	var got []string
	reqs, _ := r.data["requests"].([]any)
	for _, q := range reqs {
		m := q.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v", m["operation"], m["path"], m["status"]))
	}
	want := []string{"read secret/data/prod/db 200", "read secret/data/prod/db 200", "update auth/token/revoke-self 204"}
	if !slices.Equal(got, want) || r.data["ended"] != "revoked" {
		t.Fatalf("report requests %q ended %v, want %q revoked", got, r.data["ended"], want)
	}
}

// Under an auto seal the recovery key holders activate break-glass: their
// shares are verified against the recovery key, and an unseal-style share
// of the wrong key is refused.
func TestBreakGlassRecoveryKeys(t *testing.T) {
	cfg := boltConfig(t, t.TempDir(), transitSealBlock(t))
	n := nodetest.StartConfig(t, cfg, &clocktest.Buffer{})
	url := n.URLs()[0]
	res, err := n.Core().Initialize(t.Context(), core.InitParams{RecoveryShares: 3, RecoveryThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the server to unseal itself", func() bool {
		code, _ := healthOf(t, url)
		return code == http.StatusOK
	})
	rec := &recordingNotifier{}
	n.SetBreakGlassNotifier(rec)
	rootTok := res.RootToken.Reveal()
	wantStatus(t, bgCall(t, url, "PUT", "sys/policies/acl/emergency", rootTok, map[string]any{"policy": emergencyPolicy}), 204, "policy")
	wantStatus(t, bgCall(t, url, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": "emergency", "ttl": "10m"}), 204, "config")
	shares := make([][]byte, len(res.RecoveryShares))
	for i, s := range res.RecoveryShares {
		shares[i] = s.Reveal()
	}
	start := func() (string, string) {
		r := bgCall(t, url, "PUT", "sys/break-glass/attempt", "", map[string]any{"reason": "recovery"})
		wantStatus(t, r, 200, "start")
		return r.data["nonce"].(string), r.data["otp"].(string)
	}
	share := func(nonce string, s []byte) bgResp {
		return bgCall(t, url, "PUT", "sys/break-glass/update", "", map[string]any{"nonce": nonce, "key": base64.StdEncoding.EncodeToString(s)})
	}
	// One share (M-1): no token; with a bogus second: refused.
	nonce, _ := start()
	wantStatus(t, share(nonce, shares[0]), 200, "share 1")
	bogus := make([]byte, len(shares[0]))
	rand.Read(bogus)
	r := share(nonce, bogus)
	wantStatus(t, r, 400, "bogus share")
	if !strings.Contains(r.body, "not valid for this store") && !strings.Contains(r.body, "do not combine") {
		t.Fatalf("bogus share: %s", r.body)
	}
	nonce, otp := start()
	wantStatus(t, share(nonce, shares[2]), 200, "share 3")
	r = share(nonce, shares[1])
	wantStatus(t, r, 200, "share 2")
	tok, err := core.DecodeBreakGlassToken(r.data["encoded_token"].(string), otp)
	if err != nil {
		t.Fatalf("no token: %s", r.body)
	}
	wantStatus(t, bgCall(t, url, "GET", "sys/mounts", tok.Reveal(), nil), 403, "emergency token outside its policy")
	if al := rec.all(); len(al) != 1 || al[0].Evidence["key_holders"] != "2" {
		t.Fatalf("alerts = %+v", al)
	}
}
