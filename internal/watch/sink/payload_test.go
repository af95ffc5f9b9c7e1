package sink_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

func TestSignMatchesTheDocumentedScheme(t *testing.T) {
	// HMAC-SHA256("key-0123456789abcdef", "1700000000.{}"), computed with
	// openssl: printf '1700000000.{}' | openssl dgst -sha256 -hmac key-0123456789abcdef
	got := sink.Sign([]byte("key-0123456789abcdef"), "1700000000", []byte("{}"))
	const want = "v1=8064fa97357309513778244e6a1bae891053af07144c29282e37497ca120b7cf"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	now := time.Unix(1700000000, 0)
	if !sink.Verify([]byte("key-0123456789abcdef"), "1700000000", got, []byte("{}"), now, time.Minute) {
		t.Error("Verify refuses Sign's own signature")
	}
	if sink.Verify([]byte("key-0123456789abcdef"), "1700000000", got, []byte("{}"), now.Add(2*time.Minute), time.Minute) {
		t.Error("Verify accepts a stale timestamp")
	}
}

func TestSlackPayloadIsLinkFree(t *testing.T) {
	a := alert("s1", watch.SeverityCritical)
	a.Summary = "read <https://evil.test|click> & more"
	b, err := sink.SlackBody(&sink.Delivery{ID: "d1", Kind: sink.KindRaised, Sink: "slack", Alert: a})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Text        string           `json:"text"`
		Blocks      []map[string]any `json:"blocks"`
		UnfurlLinks bool             `json:"unfurl_links"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Text, "<") || !strings.Contains(p.Text, "&lt;https://evil.test|click&gt; &amp; more") {
		t.Errorf("text = %q: markup not escaped", p.Text)
	}
	if len(p.Blocks) < 3 || p.UnfurlLinks {
		t.Errorf("payload = %s", b)
	}
	if strings.Contains(string(b), `"mrkdwn"`) {
		t.Error("blocks use mrkdwn: they must be plain text")
	}
	for _, want := range []string{"Severity: critical", "Rule: bulk-read", "display_name=jwt-ci"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("payload lacks %q: %s", want, b)
		}
	}
}

func FuzzPayloads(f *testing.F) {
	f.Add("bulk-read", "jwt-ci read 120 secrets", "paths", "secret/*", "jwt-ci")
	f.Add("r\r\nBcc: x@y", "line1\nline2\r\n.\r\n", `k"]`, `v\"]`, "a\x00b")
	f.Fuzz(func(t *testing.T, rule, summary, evKey, evVal, display string) {
		a := watch.Alert{ID: "id-1", Rule: rule, Severity: watch.SeverityHigh, Status: watch.AlertOpen, Summary: summary,
			Evidence: map[string]string{evKey: evVal}, Identity: watch.Identity{DisplayName: display}, Count: 1}
		d := &sink.Delivery{ID: "d-1", Kind: sink.KindRaised, Sink: "s", Alert: a}
		now := time.Unix(1700000000, 0)

		// Syslog: one line, and the structured data ends where it should:
		// every ] inside a value is escaped.
		msg := string(sink.SyslogMessage(d, 10, "host", now))
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("syslog message has a line break: %q", msg)
		}
		sd := msg[strings.Index(msg, "["):]
		end := -1
		for i := 1; i < len(sd); i++ {
			if sd[i] == '\\' {
				i++
				continue
			}
			if sd[i] == '"' {
				for i++; i < len(sd) && sd[i] != '"'; i++ {
					if sd[i] == '\\' {
						i++
					}
				}
				continue
			}
			if sd[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 || !strings.HasPrefix(sd[:end], "[keyward@32473 id=") || !strings.Contains(sd[:end], ` identity="`) {
			t.Fatalf("structured data broken: %q", msg)
		}

		// Mail: exactly the headers Keyward writes, none injected.
		m := string(sink.MailMessage(d, "k@example.test", []string{"o@example.test"}, "host", now))
		head, _, ok := strings.Cut(m, "\r\n\r\n")
		if !ok {
			t.Fatalf("no header end: %q", m)
		}
		lines := strings.Split(head, "\r\n")
		if len(lines) != 10 {
			t.Fatalf("mail has %d header lines, want 10: %q", len(lines), head)
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n") || !strings.Contains(l, ": ") {
				t.Fatalf("bad header line %q", l)
			}
		}

		// Slack and webhook: valid JSON.
		for _, enc := range []func(*sink.Delivery) ([]byte, error){sink.SlackBody, sink.WebhookBody} {
			b, err := enc(d)
			if err != nil || !json.Valid(b) {
				t.Fatalf("payload %q, %v", b, err)
			}
		}
	})
}
