package node_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// With nothing but a webhook sink configured, a break-glass activation
// reaches the sink and the alert metrics through the node's own wiring
// (no notifier set by the test).
func TestBreakGlassAlertReachesSinksAndMetrics(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 5, Threshold: 3})
	c := n.Client(t)
	root := n.RootToken.Reveal()
	key := "hmac-" + rand.Text()
	rcv := newHookReceiver(t, key)
	_, err := c.Logical().Write("sys/watch/sinks/hook", map[string]any{"type": "webhook", "url": rcv.URL + "/alerts",
		"secret": key, "min_severity": "high", "max_attempts": 3})
	mustOK(t, "write hook", err)
	mustOK(t, "policy", c.Sys().PutPolicy("emergency", emergencyPolicy))
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", root, map[string]any{"policies": "emergency", "ttl": "10m"}), 204, "config")
	nonce, _ := startAttempt(t, n, "wiring")
	var res bgResp
	for i := range 3 {
		res = submitShare(t, n, nonce, n.Shares[i], "")
	}
	wantStatus(t, res, 200, "activate")

	deadline := time.Now().Add(60 * time.Second)
	var got map[string]any
	for got == nil && time.Now().Before(deadline) {
		for _, b := range rcv.Bodies() {
			var m map[string]any
			if json.Unmarshal([]byte(b), &m) == nil && strings.Contains(b, `"break-glass"`) {
				got = m
			}
		}
		if got == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got == nil {
		t.Fatalf("the webhook sink never received the break-glass alert; bodies: %v", rcv.Bodies())
	}
	if strings.Contains(res.body, "encoded_token") {
		for _, b := range rcv.Bodies() {
			if tok, _ := res.data["encoded_token"].(string); tok != "" && strings.Contains(b, tok) {
				t.Fatal("the webhook payload carries the encoded token")
			}
		}
	}

	req, err := http.NewRequest("GET", n.URL+"/v1/sys/metrics?format=prometheus", nil)
	mustOK(t, "metrics request", err)
	req.Header.Set("X-Vault-Token", root)
	resp, err := http.DefaultClient.Do(req)
	mustOK(t, "metrics", err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `keyward_alerts_total{rule="break-glass",severity="critical"} 1`) {
		t.Errorf("metrics do not count the break-glass alert:\n%s", grepLines(string(body), "keyward_alerts"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
