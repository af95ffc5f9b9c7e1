package sink_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/watch/sink"
)

func applyErr(prev *sink.Config, data map[string]any) (*sink.Config, error) {
	return sink.Apply(prev.Name, prev, data)
}

func TestApplyRefuses(t *testing.T) {
	hook := map[string]any{"type": "webhook", "url": "https://hooks.example.test/a", "secret": hmacKey}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	mail := map[string]any{"type": "smtp", "url": "smtp://mail.example.test:587", "from": "k@example.test", "to": "o@example.test"}
	for _, tc := range []struct {
		name string
		data map[string]any
		want string
	}{
		{"no type", map[string]any{"url": "https://x.test"}, "type: missing"},
		{"bad type", with(hook, "type", "pager"), "type: want"},
		{"short key", with(hook, "secret", "short"), "at least 16 bytes"},
		{"no key", with(hook, "secret", nil), "at least 16 bytes"},
		{"ftp url", with(hook, "url", "ftp://x.test/"), "url: want http or https"},
		{"no host", with(hook, "url", "https:///path"), "missing host"},
		{"slack http", map[string]any{"type": "slack", "url": "http://hooks.slack.test/services/T/B/X"}, "must be https"},
		{"slack with key", map[string]any{"type": "slack", "url": "https://hooks.slack.test/x", "secret": hmacKey}, "only a webhook"},
		{"syslog scheme", map[string]any{"type": "syslog", "url": "http://x:514"}, "udp://host:port"},
		{"syslog no port", map[string]any{"type": "syslog", "url": "udp://x"}, "missing port"},
		{"syslog path", map[string]any{"type": "syslog", "url": "tcp://x:514/p"}, "nothing more"},
		{"syslog unix rel", map[string]any{"type": "syslog", "url": "unix://dev/log"}, "unix:///absolute/path"},
		{"framing", map[string]any{"type": "syslog", "url": "udp://x:514", "framing": "crlf"}, "framing"},
		{"facility", map[string]any{"type": "syslog", "url": "udp://x:514", "facility": 24}, "facility"},
		{"smtp no to", with(mail, "to", nil), "to: want at least one"},
		{"smtp bad to", with(mail, "to", "a@b.test,evil\r\nBcc: x@y"), "entry 2"},
		{"smtp bad from", with(mail, "from", "nobody"), "from:"},
		{"smtp creds plain", with(mail, "starttls", "disabled", "username", "u", "password", "p"), "never sent without TLS"},
		{"smtp half creds", with(mail, "username", "u"), "set both or neither"},
		{"smtp starttls", with(mail, "starttls", "maybe"), "starttls: want"},
		{"smtp scheme", with(mail, "url", "smtps://x:465"), "smtp://host:port"},
		{"from on webhook", with(hook, "from", "k@example.test"), "only an smtp sink"},
		{"severity", with(hook, "min_severity", "urgent"), "min_severity"},
		{"escalate half", with(hook, "escalate_after", "5m"), "set both or neither"},
		{"escalate self", with(hook, "escalate_after", "5m", "escalate_to", "s"), "itself"},
		{"attempts", with(hook, "max_attempts", 0), "max_attempts"},
		{"backoff", with(hook, "backoff", "10m", "max_backoff", "1m"), "backoff"},
		{"timeout", with(hook, "timeout", "1h"), "timeout"},
		{"ca relative", with(hook, "ca_file", "ca.pem"), "ca_file"},
		{"unknown", with(hook, "secrett", "x"), "secrett"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sink.Apply("s", nil, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply(%v) = %v, want an error with %q", tc.data, err, tc.want)
			}
		})
	}
	if _, err := sink.Apply("bad/name", nil, hook); err == nil {
		t.Error("a name with / accepted")
	}
}

func TestApplyUpdateKeepsSecretsAndType(t *testing.T) {
	c, err := sink.Apply("s", nil, map[string]any{"type": "webhook", "url": "https://h.test/x?token=abcdefgh", "secret": hmacKey})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := sink.Apply("s", c, map[string]any{"min_severity": "high"})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Secret.Reveal() != hmacKey || c2.MinSeverity.String() != "high" {
		t.Errorf("update lost the key or the change: %+v", c2)
	}
	if _, err := sink.Apply("s", c, map[string]any{"type": "slack"}); err == nil {
		t.Error("type change accepted")
	}
	pub := c2.Public()
	if pub["url"] != "https://h.test/x?token=redacted" || pub["secret_set"] != true {
		t.Errorf("Public = %v", pub)
	}
	if b, _ := json.Marshal(pub); strings.Contains(string(b), hmacKey) || strings.Contains(string(b), "abcdefgh") {
		t.Errorf("Public shows a secret: %s", b)
	}
}

func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		`{"type":"webhook","url":"https://h.test/a","secret":"0123456789abcdef"}`,
		`{"type":"slack","url":"https://hooks.slack.test/services/T0/B0/XYZ"}`,
		`{"type":"syslog","url":"tcp://127.0.0.1:514","framing":"newline","facility":"3"}`,
		`{"type":"syslog","url":"unix:///dev/log"}`,
		`{"type":"smtp","url":"smtp://m.test:25","from":"a@b.c","to":["d@e.f"],"username":"u","password":"p"}`,
		`{"type":"webhook","url":"http://u:p@h.test:99999/?k=v#f","secret":"x","escalate_after":"-1s"}`,
	} {
		f.Add(seed, "PLANTED-canary-value")
	}
	f.Fuzz(func(t *testing.T, raw, canary string) {
		var data map[string]any
		if json.Unmarshal([]byte(raw), &data) != nil {
			return
		}
		if len(canary) < 8 {
			return
		}
		// The canary goes into each secret field and the URL's credentials:
		// no error and no read may show it.
		data["secret"], data["password"] = canary, canary
		if u, ok := data["url"].(string); ok {
			data["url"] = strings.Replace(u, "XYZ", canary, 1)
		}
		c, err := sink.Apply("s", nil, data)
		if err != nil {
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error shows the secret: %v", err)
			}
			return
		}
		out, _ := json.Marshal(c.Public())
		if strings.Contains(string(out), canary) || strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), canary) {
			t.Fatalf("a read or a format shows the secret: %s", out)
		}
		// An accepted URL parses as its type says.
		if _, err := sink.ParseEndpoint(c.Type, c.URL); err != nil {
			t.Fatalf("accepted url fails ParseEndpoint: %v", err)
		}
	})
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"udp://127.0.0.1:514", "tcp://[::1]:6514", "unix:///dev/log", "smtp://mail:587",
		"https://hooks.slack.com/services/T/B/secret", "http://h:0/", "udp://h:65536", "unix://h/x", "smtp://u:p@h:25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range []sink.Type{sink.Webhook, sink.Slack, sink.Syslog, sink.SMTP} {
			ep, err := sink.ParseEndpoint(typ, raw)
			if err != nil {
				// The fixed messages hold no digit or capital: an input with
				// one that shows up in the error was echoed.
				if strings.ContainsAny(raw, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.Contains(err.Error(), raw) {
					t.Fatalf("ParseEndpoint(%s) error echoes the URL: %v", typ, err)
				}
				continue
			}
			switch typ {
			case sink.Syslog:
				if ep.Network != "udp" && ep.Network != "tcp" && ep.Network != "unix" || ep.Addr == "" {
					t.Fatalf("syslog endpoint %+v from %q", ep, raw)
				}
			case sink.SMTP:
				if ep.Network != "tcp" || ep.Host == "" {
					t.Fatalf("smtp endpoint %+v from %q", ep, raw)
				}
			default:
				if ep.Host == "" {
					t.Fatalf("http endpoint %+v from %q", ep, raw)
				}
			}
		}
	})
}

// TestPublicHidesURLUserInfo: a token given as the URL's user name (as in
// https://TOKEN@host/) is a credential like a password: reads never show it.
func TestPublicHidesURLUserInfo(t *testing.T) {
	tok := "tok" + strings.Repeat("Z", 20)
	pw := "pw" + strings.Repeat("Y", 20)
	for raw, want := range map[string]string{
		"https://" + tok + "@h.test/in":          "https://redacted@h.test/in",
		"https://" + tok + ":" + pw + "@h.test/": "https://redacted:redacted@h.test/",
	} {
		c, err := sink.Apply("s", nil, map[string]any{"type": "webhook", "url": raw, "secret": hmacKey})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c.Public())
		if c.Public()["url"] != want || strings.Contains(string(b), tok) || strings.Contains(string(b), pw) {
			t.Errorf("Public of %s = %s, want url %s", raw, b, want)
		}
	}
}
