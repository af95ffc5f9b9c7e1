package node_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"

	vault "github.com/hashicorp/vault/api"
)

// hookReceiver is a webhook endpoint in the test that checks every
// signature with key and answers fail() (0: 200).
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	bad    int
	fail   int
}

func newHookReceiver(t *testing.T, key string) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ok := sink.Verify([]byte(key), req.Header.Get(sink.HeaderTimestamp), req.Header.Get(sink.HeaderSignature), body,
			time.Now(), 5*time.Minute)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !ok {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.bodies = append(r.bodies, string(body))
		if r.fail != 0 {
			w.WriteHeader(r.fail)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) Bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func (r *hookReceiver) SetFail(code int) {
	r.mu.Lock()
	r.fail = code
	r.mu.Unlock()
}

func TestAlertSinksAPI(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	key := "hmac-" + rand.Text()
	pass := "smtp-" + rand.Text()
	slackToken := "slack-" + rand.Text()
	kvValue := "kv-" + rand.Text()
	root := n.RootToken.Reveal()
	rcv := newHookReceiver(t, key)

	// A secret the alerts must never carry, read by the root token.
	mustOK(t, "kv put", func() error {
		_, err := c.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"password": kvValue}})
		return err
	}())
	// The root token's first use raises root-token: let the detectors
	// judge it before any sink exists, so the hook hears only what the
	// test sends (the detectors run behind a queue).
	clocktest.Eventually(t, "detectors caught up", func() bool { return n.Detection().Pending() == 0 })

	_, err := c.Logical().Write("sys/watch/sinks/hook", map[string]any{"type": "webhook", "url": rcv.URL + "/alerts",
		"secret": key, "min_severity": "medium", "max_attempts": 1})
	mustOK(t, "write hook", err)
	_, err = c.Logical().Write("sys/watch/sinks/chat", map[string]any{"type": "slack",
		"url": "https://hooks.slack.test/services/T0/B0/" + slackToken, "min_severity": "critical", "max_attempts": 1})
	mustOK(t, "write slack", err)
	_, err = c.Logical().Write("sys/watch/sinks/mail", map[string]any{"type": "smtp", "url": "smtp://127.0.0.1:1",
		"from": "k@example.test", "to": []string{"o@example.test"}, "username": "u", "password": pass,
		"min_severity": "critical", "escalation_only": true})
	mustOK(t, "write smtp", err)

	list, err := c.Logical().List("sys/watch/sinks")
	mustOK(t, "list", err)
	if keys, _ := list.Data["keys"].([]any); len(keys) != 3 || keys[0] != "chat" || keys[2] != "mail" {
		t.Errorf("keys = %v", list.Data["keys"])
	}
	read, err := c.Logical().Read("sys/watch/sinks/hook")
	mustOK(t, "read hook", err)
	if read.Data["secret_set"] != true || read.Data["url"] != rcv.URL+"/alerts" || read.Data["min_severity"] != "medium" {
		t.Errorf("read hook = %v", read.Data)
	}
	if _, ok := read.Data["secret"]; ok {
		t.Error("read returns the secret field")
	}
	read, err = c.Logical().Read("sys/watch/sinks/chat")
	mustOK(t, "read slack", err)
	if _, ok := read.Data["url"]; ok || read.Data["url_set"] != true {
		t.Errorf("read slack = %v: the URL is a credential", read.Data)
	}
	read, err = c.Logical().Read("sys/watch/sinks/mail")
	mustOK(t, "read smtp", err)
	if read.Data["password_set"] != true || read.Data["starttls"] != "required" || read.Data["escalation_only"] != true {
		t.Errorf("read smtp = %v", read.Data)
	}

	// Bad input: a 400 naming the field, never the value.
	var errs []string
	for _, bad := range []map[string]any{
		{"type": "webhook", "url": rcv.URL, "secret": "short-" + slackToken[:4]},
		{"type": "slack", "url": "http://hooks.slack.test/services/" + slackToken},
		{"type": "webhook", "url": rcv.URL, "secret": key, "escalate_after": "1m", "escalate_to": "nobody"},
		{"type": "syslog", "url": "udp://x", "password": pass},
	} {
		_, err := c.Logical().Write("sys/watch/sinks/bad", bad)
		if status(err) != http.StatusBadRequest {
			t.Errorf("write %v = %v, want 400", bad["type"], err)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if _, err := c.Logical().Delete("sys/watch/sinks/hook"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Logical().Write("sys/watch/sinks/hook", map[string]any{"type": "webhook", "url": rcv.URL + "/alerts",
		"secret": key, "min_severity": "medium", "max_attempts": 1})
	mustOK(t, "write hook again", err)

	// The test action sends now and says so.
	res, err := c.Logical().Write("sys/watch/sinks/hook/test", map[string]any{"severity": "high"})
	mustOK(t, "test hook", err)
	if res.Data["delivered"] != true || len(rcv.Bodies()) != 1 {
		t.Fatalf("test = %v, bodies %d: %q", res.Data, len(rcv.Bodies()), rcv.Bodies())
	}
	_, err = c.Logical().Write("sys/watch/sinks/chat/test", nil)
	if status(err) != http.StatusBadGateway {
		t.Errorf("test of an unreachable slack sink = %v, want 502", err)
	} else {
		errs = append(errs, err.Error())
	}

	// An alert from the store (the lead's detectors call this notifier).
	a := watch.Alert{ID: "al-1", Rule: "root-token", Severity: watch.SeverityHigh, Status: watch.AlertOpen,
		Identity: watch.Identity{Accessor: "acc", DisplayName: "root", Root: true}, Summary: "the root token was used",
		FirstSeen: time.Now(), LastSeen: time.Now(), Count: 1}
	n.AlertNotifier().Notify(a)
	clocktest.Eventually(t, "the alert at the webhook", func() bool { return len(rcv.Bodies()) == 2 })
	var got struct {
		Kind  string      `json:"kind"`
		Alert watch.Alert `json:"alert"`
	}
	if err := json.Unmarshal([]byte(rcv.Bodies()[1]), &got); err != nil || got.Alert.ID != "al-1" || got.Kind != "raised" {
		t.Errorf("delivered %s (%v)", rcv.Bodies()[1], err)
	}

	// A failing endpoint: the delivery lands in the dead letters.
	rcv.SetFail(http.StatusServiceUnavailable)
	a.ID = "al-2"
	n.AlertNotifier().Notify(a)
	var ids []any
	clocktest.Eventually(t, "a dead letter", func() bool {
		l, err := c.Logical().List("sys/watch/dead-letters")
		if err != nil || l == nil {
			return false
		}
		ids, _ = l.Data["keys"].([]any)
		return len(ids) == 1
	})
	id := ids[0].(string)
	dl, err := c.Logical().Read("sys/watch/dead-letters/" + id)
	mustOK(t, "read dead letter", err)
	if dl.Data["sink"] != "hook" || dl.Data["attempts"] != json.Number("1") || !strings.Contains(dl.Data["error"].(string), "503") {
		t.Errorf("dead letter = %v", dl.Data)
	}
	_, err = c.Logical().Write("sys/watch/dead-letters/"+id+"/retry", nil)
	if status(err) != http.StatusBadGateway {
		t.Errorf("retry while failing = %v, want 502", err)
	}
	rcv.SetFail(0)
	res, err = c.Logical().Write("sys/watch/dead-letters/"+id+"/retry", nil)
	mustOK(t, "retry", err)
	if res.Data["delivered"] != true {
		t.Errorf("retry = %v", res.Data)
	}
	if l, _ := c.Logical().List("sys/watch/dead-letters"); l != nil {
		t.Errorf("dead letters after retry = %v", l.Data["keys"])
	}
	if _, err := c.Logical().Read("sys/watch/dead-letters/" + id); status(err) != http.StatusNotFound && err != nil {
		t.Errorf("read of a retried dead letter = %v", err)
	}

	// Sinks need sudo.
	mustOK(t, "policy", c.Sys().PutPolicy("sinks-no-sudo", `path "sys/watch/*" { capabilities = ["create", "read", "update", "delete", "list"] }`))
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"sinks-no-sudo"}})
	mustOK(t, "token", err)
	user := nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken)
	if _, err := user.Logical().Read("sys/watch/sinks/hook"); status(err) != http.StatusForbidden {
		t.Errorf("read without sudo = %v, want 403", err)
	}
	if _, err := user.Logical().List("sys/watch/dead-letters"); status(err) != http.StatusForbidden {
		t.Errorf("list dead letters without sudo = %v, want 403", err)
	}

	// Sinks survive a seal; while sealed, alerts are dropped, not queued.
	mustOK(t, "seal", c.Sys().Seal())
	before := n.AlertSinks().Stats().Dropped
	n.AlertNotifier().Notify(a)
	if n.AlertSinks().Stats().Dropped != before+1 {
		t.Error("an alert while sealed was not counted as dropped")
	}
	for _, s := range n.Shares {
		if _, err := c.Sys().Unseal(hex.EncodeToString(s)); err != nil {
			t.Fatal(err)
		}
	}
	read, err = c.Logical().Read("sys/watch/sinks/hook")
	mustOK(t, "read after unseal", err)
	if read == nil || read.Data["secret_set"] != true {
		t.Fatalf("after unseal = %v", read)
	}
	_, err = c.Logical().Write("sys/watch/sinks/hook/test", nil)
	mustOK(t, "the stored key still signs", err)

	// The sweep: no planted value in responses, errors, payloads or logs.
	var sweep strings.Builder
	for _, name := range []string{"hook", "chat", "mail"} {
		r, _ := c.Logical().Read("sys/watch/sinks/" + name)
		b, _ := json.Marshal(r)
		sweep.Write(b)
	}
	sweep.WriteString(strings.Join(errs, "\n"))
	sweep.WriteString(strings.Join(rcv.Bodies(), "\n"))
	sweep.WriteString(n.Logs.String())
	for what, v := range map[string]string{"hmac key": key, "smtp password": pass, "slack token": slackToken,
		"kv value": kvValue, "root token": root} {
		if strings.Contains(sweep.String(), v) {
			t.Errorf("the %s leaked", what)
		}
	}
}

// TestSinkURLChangeNeedsThePasswordAgain: a stored SMTP password is never
// sent to a server the writer picked without also supplying it, so update
// on a sink cannot exfiltrate a password that reads never show.
func TestSinkURLChangeNeedsThePasswordAgain(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	pass := "smtp-" + rand.Text()
	_, err := c.Logical().Write("sys/watch/sinks/mail", map[string]any{"type": "smtp", "url": "smtp://mail.example.test:587",
		"from": "k@example.test", "to": []string{"o@example.test"}, "username": "u", "password": pass})
	mustOK(t, "write smtp", err)

	_, err = c.Logical().Write("sys/watch/sinks/mail", map[string]any{"url": "smtp://attacker.example.test:587"})
	if status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "password") || strings.Contains(err.Error(), pass) {
		t.Fatalf("url change keeping the stored password = %v, want a 400 asking for the password", err)
	}
	read, err := c.Logical().Read("sys/watch/sinks/mail")
	mustOK(t, "read smtp", err)
	if read.Data["url"] != "smtp://mail.example.test:587" {
		t.Errorf("refused update changed the sink: %v", read.Data)
	}
	// The same server, other settings: the password stays.
	_, err = c.Logical().Write("sys/watch/sinks/mail", map[string]any{"min_severity": "high", "url": "smtp://mail.example.test:587"})
	mustOK(t, "update smtp", err)
	// A new server with the password given again, or with the credentials cleared.
	_, err = c.Logical().Write("sys/watch/sinks/mail", map[string]any{"url": "smtp://relay.example.test:587", "password": pass})
	mustOK(t, "move smtp with password", err)
	_, err = c.Logical().Write("sys/watch/sinks/mail", map[string]any{"url": "smtp://other.example.test:25", "username": "", "password": ""})
	mustOK(t, "move smtp without credentials", err)
}

// TestSinkRefusesMetadataAddresses: no sink may point at a link-local
// address (the cloud instance-metadata services live there), an
// unspecified one (0.0.0.0 reaches this host) or a multicast group,
// however the address is spelled; loopback and private ones stay allowed
// (a local syslog daemon, a mail relay).
func TestSinkRefusesMetadataAddresses(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	key := "hmac-" + rand.Text()
	for _, s := range []map[string]any{
		{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data/", "secret": key},
		{"type": "webhook", "url": "http://[::ffff:169.254.169.254]/", "secret": key},
		{"type": "webhook", "url": "http://[fd00:ec2::254]/", "secret": key},
		{"type": "webhook", "url": "http://0.0.0.0:8200/v1/sys/seal", "secret": key},
		{"type": "webhook", "url": "http://[fe80::1]/", "secret": key},
		{"type": "slack", "url": "https://169.254.170.2/v2/credentials"},
		{"type": "syslog", "url": "udp://224.0.0.1:514"},
		{"type": "syslog", "url": "tcp://169.254.169.254:80"},
		{"type": "smtp", "url": "smtp://[::]:25", "from": "k@example.test", "to": "o@example.test"},
	} {
		_, err := c.Logical().Write("sys/watch/sinks/meta", s)
		if status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "url:") {
			t.Errorf("write %v sink to %v = %v, want a 400 naming url", s["type"], s["url"], err)
		}
	}
	for i, s := range []map[string]any{
		{"type": "webhook", "url": "http://127.0.0.1:9/alerts", "secret": key},
		{"type": "webhook", "url": "https://10.1.2.3/alerts", "secret": key},
		{"type": "syslog", "url": "udp://[::1]:514"},
	} {
		_, err := c.Logical().Write(fmt.Sprintf("sys/watch/sinks/local%d", i), s)
		mustOK(t, fmt.Sprintf("write %v sink to %v", s["type"], s["url"]), err)
	}
}
