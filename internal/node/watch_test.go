package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"

	vault "github.com/hashicorp/vault/api"
)

// sseStream is an open sys/events/subscribe response: its events arrive
// on events, and raw keeps every byte read, for sweeps.
type sseStream struct {
	status int
	events chan watch.Event
	ends   chan string // the "end" event's data
	mu     sync.Mutex
	raw    strings.Builder
	cancel context.CancelFunc
	closed chan struct{}
}

func (s *sseStream) Raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// subscribe opens the event stream with query (url-encoded, may be "").
// A non-200 answer is returned with no stream running.
func subscribe(t *testing.T, url, token, query string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/sys/events/subscribe?"+query, nil)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe: %v", err)
	}
	s := &sseStream{status: resp.StatusCode, events: make(chan watch.Event, 1024), ends: make(chan string, 1),
		cancel: cancel, closed: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-s.closed })
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		close(s.closed)
		return s
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	go func() {
		defer close(s.closed)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.raw.WriteString(line + "\n")
			s.mu.Unlock()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data := strings.TrimPrefix(line, "data: ")
				if kind == "end" {
					s.ends <- data
					continue
				}
				var e watch.Event
				if err := json.Unmarshal([]byte(data), &e); err != nil {
					t.Errorf("event data %q: %v", data, err)
					continue
				}
				s.events <- e
			}
		}
	}()
	return s
}

// next returns the first event for which match is true, skipping others.
func (s *sseStream) next(t *testing.T, what string, match func(*watch.Event) bool) watch.Event {
	t.Helper()
	guard := time.NewTimer(2 * time.Minute) // a hang guard, not a timing assertion
	defer guard.Stop()
	for {
		select {
		case e := <-s.events:
			if match(&e) {
				return e
			}
		case <-guard.C:
			t.Fatalf("no event: %s", what)
		}
	}
}

func at(path string) func(*watch.Event) bool {
	return func(e *watch.Event) bool { return e.Path == path }
}

const plantedValue = "Planted-S3cret-Value-4f2b9c"

func TestAccessEvents(t *testing.T) {
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	stream := subscribe(t, n.URL, root, "")
	if stream.status != http.StatusOK {
		t.Fatalf("subscribe as root: %d", stream.status)
	}
	rc := n.Client(t)

	body := map[string]any{"data": map[string]any{"password": plantedValue}}
	if code, out := do(t, "PUT", n.URL+"/v1/secret/data/app/db", root, body); code != 200 {
		t.Fatalf("write: %d %s", code, out)
	}
	w := stream.next(t, "write", at("secret/data/app/db"))
	if w.Operation != "create" && w.Operation != "update" || w.Result != watch.ResultOK || w.Status != 200 ||
		w.Mount != "secret/" || w.MountType != "kv" || w.Type != watch.TypeRequest {
		t.Errorf("write event = %+v", w)
	}
	if !w.Identity.Root || w.Identity.Accessor == "" || w.Identity.AuthMount != "auth/token/" || w.RemoteAddr != "127.0.0.1" {
		t.Errorf("write identity = %+v remote %q", w.Identity, w.RemoteAddr)
	}

	if code, _ := do(t, "GET", n.URL+"/v1/secret/data/app/db", root, nil); code != 200 {
		t.Fatalf("read: %d", code)
	}
	r := stream.next(t, "read", at("secret/data/app/db"))
	if r.Operation != "read" || r.Result != watch.ResultOK {
		t.Errorf("read event = %+v", r)
	}

	// A token without access is denied, and the event says so.
	_, err := rc.Logical().Write("sys/policies/acl/other", map[string]any{"policy": `path "secret/data/other/*" { capabilities = ["read"] }`})
	mustOK(t, "write policy", err)
	limited, err := rc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"other"}, DisplayName: "limited"})
	mustOK(t, "create token", err)
	if code, _ := do(t, "GET", n.URL+"/v1/secret/data/app/db", limited.Auth.ClientToken, nil); code != 403 {
		t.Fatalf("denied read: %d", code)
	}
	d := stream.next(t, "denied read", func(e *watch.Event) bool { return e.Path == "secret/data/app/db" && e.Result != watch.ResultOK })
	if d.Result != watch.ResultDenied || d.Status != 403 || d.Identity.Accessor != limited.Auth.Accessor ||
		d.Identity.DisplayName != "token-limited" || d.Identity.Root {
		t.Errorf("denied event = %+v", d)
	}
	// No token at all: denied, anonymous.
	do(t, "GET", n.URL+"/v1/secret/data/app/db", "", nil)
	a := stream.next(t, "anonymous read", func(e *watch.Event) bool { return e.Path == "secret/data/app/db" && e.Identity.Accessor == "" })
	if a.Result != watch.ResultDenied {
		t.Errorf("anonymous event = %+v", a)
	}

	// A CI login carries the role and the mapped claims.
	is := jwttest.NewIssuer(t)
	mustOK(t, "enable jwt", rc.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	_, err = rc.Logical().Write("auth/jwt/config", map[string]any{
		"oidc_discovery_url": is.URL, "oidc_discovery_ca_pem": is.CAPEM, "allow_private_network": true})
	mustOK(t, "configure jwt", err)
	_, err = rc.Logical().Write("auth/jwt/role/deploy", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"keyward"}, "user_claim": "sub",
		"bound_subject":  "repo:octo/app:environment:production",
		"claim_mappings": map[string]any{"repository": "repository", "ref": "ref", "environment": "environment", "workflow": "workflow", "sha": "commit"},
		"token_policies": []string{"other"}, "token_ttl": "5m"})
	mustOK(t, "write role", err)
	claims := jwttest.GitHub(is.URL, "octo/app", "repo:octo/app:environment:production", "keyward", time.Now())
	claims["environment"] = "production"
	jwt := jwttest.Sign(t, jwttest.KidRSA, claims, nil)
	code, out := do(t, "PUT", n.URL+"/v1/auth/jwt/login", "", map[string]any{"role": "deploy", "jwt": jwt})
	if code != 200 {
		t.Fatalf("jwt login: %d %s", code, out)
	}
	var login struct {
		Auth struct {
			ClientToken string `json:"client_token"`
			Accessor    string `json:"accessor"`
			EntityID    string `json:"entity_id"`
		} `json:"auth"`
	}
	json.Unmarshal(out, &login)
	l := stream.next(t, "login", at("auth/jwt/login"))
	wantClaims := map[string]string{"repository": "octo/app", "ref": "refs/heads/main", "environment": "production", "workflow": "example-workflow"}
	if l.Type != watch.TypeLogin || l.Result != watch.ResultOK || l.Identity.Role != "deploy" || l.Identity.AuthMount != "auth/jwt/" ||
		l.Identity.AuthType != "jwt" || l.Identity.Accessor != login.Auth.Accessor || l.Identity.EntityID != login.Auth.EntityID {
		t.Errorf("login event = %+v", l)
	}
	for k, v := range wantClaims {
		if l.Identity.Claims[k] != v {
			t.Errorf("login claim %s = %q, want %q (claims %v)", k, l.Identity.Claims[k], v, l.Identity.Claims)
		}
	}
	if _, ok := l.Identity.Claims["commit"]; ok {
		t.Errorf("a metadata key outside the allowlist entered the event: %v", l.Identity.Claims)
	}
	// The CI token's own requests carry the same identity.
	do(t, "GET", n.URL+"/v1/secret/data/other/x", login.Auth.ClientToken, nil)
	ci := stream.next(t, "ci read", at("secret/data/other/x"))
	if ci.Identity.Role != "deploy" || ci.Identity.Claims["repository"] != "octo/app" || ci.Identity.AuthType != "jwt" || ci.Status != 404 {
		t.Errorf("ci read event = %+v", ci)
	}
	// A failed login is an event too, with no identity.
	do(t, "PUT", n.URL+"/v1/auth/jwt/login", "", map[string]any{"role": "deploy", "jwt": jwt + "x"})
	fl := stream.next(t, "failed login", func(e *watch.Event) bool { return e.Path == "auth/jwt/login" && e.Result != watch.ResultOK })
	if fl.Type != watch.TypeLogin || fl.Identity.Accessor != "" {
		t.Errorf("failed login event = %+v", fl)
	}

	// The sweep: no secret, token or request body in any output.
	ring, _ := json.Marshal(n.Watch().Ring().Snapshot())
	base, _ := json.Marshal(baselineOf(t, n, "name:auth/token/root"))
	for name, outText := range map[string]string{"stream": stream.Raw(), "ring": string(ring), "baseline": string(base)} {
		for what, secret := range map[string]string{"planted value": plantedValue, "root token": root,
			"limited token": limited.Auth.ClientToken, "ci token": login.Auth.ClientToken, "jwt": jwt,
			"jwt signature": jwt[strings.LastIndex(jwt, ".")+1:], "request body": `"password"`} {
			if strings.Contains(outText, secret) {
				t.Errorf("%s holds the %s", name, what)
			}
		}
	}
}

func baselineOf(t *testing.T, n *nodetest.Node, key string) watch.Baseline {
	t.Helper()
	b, ok := n.Watch().Baselines().Get(key)
	if !ok {
		t.Fatalf("no baseline for %s", key)
	}
	return b
}

func TestSubscribeNeedsSudoPolicy(t *testing.T) {
	n := nodetest.Start(t)
	rc := n.Client(t)
	token := func(name, policy string) string {
		_, err := rc.Logical().Write("sys/policies/acl/"+name, map[string]any{"policy": policy})
		mustOK(t, "write policy", err)
		s, err := rc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}})
		mustOK(t, "create token", err)
		return s.Auth.ClientToken
	}
	readOnly := token("read-only", `path "sys/events/subscribe" { capabilities = ["read"] }`)
	wide := token("wide", `path "sys/*" { capabilities = ["read", "list"] }`)
	watcher := token("watcher", `path "sys/events/subscribe" { capabilities = ["read", "sudo"] }`)
	for name, tok := range map[string]string{"no token": "", "default policy": token("def", `path "x" { capabilities = ["read"] }`),
		"read without sudo": readOnly, "sys/* read": wide} {
		if s := subscribe(t, n.URL, tok, ""); s.status != http.StatusForbidden {
			t.Errorf("%s: subscribe = %d, want 403", name, s.status)
		}
	}
	s := subscribe(t, n.URL, watcher, "path=secret/data/a/*&type=request")
	if s.status != http.StatusOK {
		t.Fatalf("watcher: subscribe = %d", s.status)
	}
	root := n.RootToken.Reveal()
	do(t, "GET", n.URL+"/v1/secret/data/b/y", root, nil)
	do(t, "PUT", n.URL+"/v1/auth/token/lookup-self", root, nil)
	do(t, "GET", n.URL+"/v1/secret/data/a/x", root, nil)
	first := s.next(t, "filtered event", func(*watch.Event) bool { return true })
	if first.Path != "secret/data/a/x" {
		t.Errorf("first event through path=secret/data/a/* is %s", first.Path)
	}
	// A glob segment and the login type.
	s2 := subscribe(t, n.URL, watcher, "path=secret/data/%2B/x&type=request")
	do(t, "GET", n.URL+"/v1/secret/data/b/z", root, nil)
	do(t, "GET", n.URL+"/v1/secret/data/c/x", root, nil)
	if e := s2.next(t, "glob event", func(*watch.Event) bool { return true }); e.Path != "secret/data/c/x" {
		t.Errorf("first event through secret/data/+/x is %s", e.Path)
	}
	if s := subscribe(t, n.URL, watcher, "type=bogus"); s.status != http.StatusBadRequest {
		t.Errorf("type=bogus: %d, want 400", s.status)
	}
}

// A subscriber that reads nothing is dropped; the pipeline never waits.
func TestSlowSubscriberDropped(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Configure: func(c *config.Config) { c.Watch.SubscriberBuffer = 4 }})
	slow := n.Watch().Subscribe(watch.Filter{})
	slowStream := subscribe(t, n.URL, n.RootToken.Reveal(), "path=nothing/matches/*") // an HTTP subscriber that gets nothing stays
	root := n.RootToken.Reveal()
	for i := range 50 { // each would block forever if Emit waited for the slow subscriber
		if code, _ := do(t, "GET", n.URL+fmt.Sprintf("/v1/secret/data/slow/%d", i), root, nil); code != 404 {
			t.Fatalf("read %d: %d", i, code)
		}
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("a subscriber that reads nothing was not dropped")
	}
	if slow.Reason() != "subscriber too slow" || len(slow.C()) != 4 {
		t.Errorf("reason = %q, queued %d", slow.Reason(), len(slow.C()))
	}
	if n.Watch().Subscribers() != 1 {
		t.Errorf("%d subscribers, want the HTTP one only", n.Watch().Subscribers())
	}
	// A subscriber that keeps up still gets events.
	fresh := subscribe(t, n.URL, root, "path=secret/data/after")
	do(t, "GET", n.URL+"/v1/secret/data/after", root, nil)
	fresh.next(t, "event after the drop", at("secret/data/after"))
	_ = slowStream
}

func TestEventStreamEnds(t *testing.T) {
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	// A client that goes away is unsubscribed.
	gone := subscribe(t, n.URL, root, "")
	clocktest.Eventually(t, "subscribed", func() bool { return n.Watch().Subscribers() == 1 })
	gone.cancel()
	<-gone.closed
	do(t, "GET", n.URL+"/v1/secret/data/x", root, nil) // an event notices a dead client at the latest
	clocktest.Eventually(t, "client gone unsubscribed", func() bool { return n.Watch().Subscribers() == 0 })

	// Sealing ends the stream with a reason.
	s := subscribe(t, n.URL, root, "")
	if code, out := do(t, "PUT", n.URL+"/v1/sys/seal", root, nil); code != 204 {
		t.Fatalf("seal: %d %s", code, out)
	}
	if reason := <-s.ends; !strings.Contains(reason, "server sealed") {
		t.Errorf("end reason %s", reason)
	}
	<-s.closed
	if len(n.Watch().Ring().Snapshot()) != 0 {
		t.Error("the sealed node still holds events")
	}
}

func TestBaselinesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	root := n.RootToken.Reveal()
	do(t, "PUT", n.URL+"/v1/secret/data/app/db", root, map[string]any{"data": map[string]any{"password": plantedValue}})
	for range 3 {
		do(t, "GET", n.URL+"/v1/secret/data/app/db", root, nil)
	}
	do(t, "GET", n.URL+"/v1/secret/data/app/missing", root, nil)
	before := baselineOf(t, n, "name:auth/token/root")
	shares := n.Shares
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	after := baselineOf(t, n2, "name:auth/token/root")
	if after.Paths["secret/data/app/db"] != 4 || after.Paths["secret/data/app/missing"] != 1 ||
		after.Prefixes["secret/data/app"] != 5 || after.Networks["127.0.0.0/24"] < 5 || after.Failures < 1 {
		t.Errorf("reloaded baseline = %+v", after)
	}
	if after.Requests < before.Requests || after.Requests == 0 {
		t.Errorf("requests %d after restart, %d before", after.Requests, before.Requests)
	}
	var hours uint64
	for _, h := range after.Hours {
		hours += h
	}
	if hours != after.Requests {
		t.Errorf("hours sum to %d, requests %d", hours, after.Requests)
	}
	raw, _ := json.Marshal(after)
	if strings.Contains(string(raw), plantedValue) || strings.Contains(string(raw), root) {
		t.Error("the stored baseline holds a secret")
	}
}

// A leased secret's event names the lease; the secret itself (here a
// private key) stays out.
func TestAccessEventLeaseIDs(t *testing.T) {
	n := nodetest.Start(t)
	rc := n.Client(t)
	stream := subscribe(t, n.URL, n.RootToken.Reveal(), "path=pki/issue/*")
	mustOK(t, "mount pki", rc.Sys().Mount("pki", &vault.MountInput{Type: "pki"}))
	_, err := rc.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "Root", "key_type": "ec", "ttl": "87600h"})
	mustOK(t, "root", err)
	_, err = rc.Logical().Write("pki/roles/leased", map[string]any{"allow_any_name": true, "key_type": "ec", "generate_lease": true, "ttl": "1h"})
	mustOK(t, "role", err)
	s, err := rc.Logical().Write("pki/issue/leased", map[string]any{"common_name": "svc.example"})
	mustOK(t, "issue", err)
	if s.LeaseID == "" {
		t.Fatal("no lease issued")
	}
	e := stream.next(t, "issue", at("pki/issue/leased"))
	if len(e.LeaseIDs) != 1 || e.LeaseIDs[0] != s.LeaseID {
		t.Errorf("lease ids = %v, want [%s]", e.LeaseIDs, s.LeaseID)
	}
	key, _ := s.Data["private_key"].(string)
	if key == "" || strings.Contains(stream.Raw(), strings.Split(key, "\n")[1]) {
		t.Error("the private key entered the event stream (or none was issued)")
	}
}
