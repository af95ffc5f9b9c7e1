package sink_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/watch"
)

// TestCanarySweep plants the webhook HMAC key, the SMTP password, a Slack
// webhook token and a token in a webhook URL, delivers to working and
// failing endpoints of every kind, and sweeps everything that comes out:
// payloads (bodies, headers other than the signature, mail sessions,
// syslog lines), logs, errors, dead letters and sink reads.
func TestCanarySweep(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	key := randomText("hmac-key-")
	pass := randomText("smtp-pass-")
	slackToken := randomText("XOXB")
	urlToken := randomText("urltok")
	urlPass := randomText("urlpass")
	canaries := map[string]string{"hmac key": key, "smtp password": pass, "slack token": slackToken,
		"url token": urlToken, "url password": urlPass}

	// Everything the receivers see, minus what carries a secret by design
	// (the signature; the URL a request is sent to).
	var mu sync.Mutex
	var seen strings.Builder
	record := func(r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		for k, vs := range r.Header {
			if k != "X-Keyward-Signature" {
				fmt.Fprintf(&seen, "%s: %s\n", k, strings.Join(vs, ","))
			}
		}
		seen.Write(body)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record(r) }))
	defer hook.Close()
	ca := newTestCA(t)
	slack := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if strings.Contains(r.URL.Path, "broken") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	// The test CA's certificate: ca_file decides trust.
	slack.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	slack.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted sink's handshakes fail, as they must
	slack.StartTLS()
	defer slack.Close()
	smtpSrv := newSMTPServer(t, ca, "alerts", pass, false)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var sysMu sync.Mutex
	var sysLines strings.Builder
	go func() {
		buf := make([]byte, 8192)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			sysMu.Lock()
			sysLines.Write(buf[:n])
			sysMu.Unlock()
		}
	}()
	closed := closedPort(t)

	h.put(t, "hook", map[string]any{"type": "webhook", "url": hook.URL + "/in?token=" + urlToken, "secret": key})
	h.put(t, "hook-down", map[string]any{"type": "webhook", "url": "http://u:" + urlPass + "@" + closed + "/in?token=" + urlToken,
		"secret": key, "max_attempts": 2})
	slackURL := strings.Replace(slack.URL, "127.0.0.1", "localhost", 1) + "/services/T0/B0/" + slackToken
	h.put(t, "slack", map[string]any{"type": "slack", "url": slackURL, "ca_file": ca.CAFile})
	h.put(t, "slack-broken", map[string]any{"type": "slack", "url": slackURL + "/broken", "ca_file": ca.CAFile, "max_attempts": 1})
	h.put(t, "slack-down", map[string]any{"type": "slack", "url": "https://" + closed + "/services/T/B/" + slackToken, "max_attempts": 1})
	h.put(t, "slack-untrusted", map[string]any{"type": "slack", "url": slackURL, "max_attempts": 1})
	h.put(t, "mail", map[string]any{"type": "smtp", "url": "smtp://" + smtpSrv.Addr, "from": "k@example.test",
		"to": "o@example.test", "username": "alerts", "password": pass, "ca_file": ca.CAFile})
	h.put(t, "mail-badpass", map[string]any{"type": "smtp", "url": "smtp://" + smtpSrv.Addr, "from": "k@example.test",
		"to": "o@example.test", "username": "alerts", "password": pass + "x", "ca_file": ca.CAFile, "max_attempts": 1})
	h.put(t, "sys", map[string]any{"type": "syslog", "url": "udp://" + pc.LocalAddr().String()})

	h.d.Notify(alert("canary-1", watch.SeverityCritical))
	// hook, slack, mail, sys deliver; hook-down, slack-broken, slack-down,
	// slack-untrusted and mail-badpass become dead letters.
	clocktest.Eventually(t, "every delivery to end", func() bool {
		s := h.d.Stats()
		return s.Delivered == 4 && s.DeadLettered == 5
	})
	clocktest.Eventually(t, "the syslog line", func() bool {
		sysMu.Lock()
		defer sysMu.Unlock()
		return sysLines.Len() > 0
	})
	var out strings.Builder
	mu.Lock()
	out.WriteString(seen.String())
	mu.Unlock()
	if !strings.Contains(out.String(), "canary-1") {
		t.Fatal("the receivers saw no alert: the sweep would prove nothing")
	}
	sysMu.Lock()
	out.WriteString(sysLines.String())
	sysMu.Unlock()
	for _, m := range smtpSrv.Mails() {
		out.WriteString(m.Data)
	}
	out.WriteString(h.logs.String())
	ids, _ := h.d.DeadLetters()
	if len(ids) != 5 {
		t.Fatalf("dead letters = %d, want 5", len(ids))
	}
	for _, id := range ids {
		dl, err := h.d.DeadLetter(ctx, id)
		if err != nil || dl == nil {
			t.Fatal(err)
		}
		if dl.Error == "" {
			t.Errorf("dead letter %s has no error", id)
		}
		b, _ := json.Marshal(dl.Data())
		out.Write(b)
		if err := h.d.RetryDeadLetter(ctx, id); err != nil {
			out.WriteString(err.Error())
		}
	}
	names, _ := h.d.Sinks()
	for _, n := range names {
		c, _ := h.d.Sink(n)
		b, _ := json.Marshal(c.Public())
		out.Write(b)
		fmt.Fprintf(&out, "%v %+v %#v", c, c, *c)
		if _, err := h.d.Test(ctx, n, watch.SeverityInfo); err != nil {
			out.WriteString(err.Error())
		}
	}
	fmt.Fprintf(&out, "%+v", h.d.Stats())
	all := out.String()
	for what, v := range canaries {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(all, form) {
				i := strings.Index(all, form)
				t.Errorf("the %s leaked: ...%s...", what, all[max(0, i-200):min(len(all), i+len(form)+50)])
			}
		}
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
