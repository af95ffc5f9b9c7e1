package sink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/watch"
)

// Kind says why a delivery is made.
type Kind string

// Delivery kinds.
const (
	KindRaised       Kind = "raised"
	KindUpdated      Kind = "updated"
	KindAcknowledged Kind = "acknowledged"
	KindResolved     Kind = "resolved"
	KindEscalated    Kind = "escalated"
	KindTest         Kind = "test"
)

// Delivery is one alert on its way to one sink. Its ID is the same on
// every try and on a retry from the dead letters, so a receiver can drop
// duplicates.
type Delivery struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	Sink string `json:"sink"`
	// Level is how many escalation steps led here (0: routed directly).
	Level int         `json:"escalation_level"`
	Alert watch.Alert `json:"alert"`
	// Queued is when the delivery was first queued.
	Queued time.Time `json:"queued"`
}

// Webhook headers.
const (
	HeaderTimestamp = "X-Keyward-Timestamp"
	HeaderSignature = "X-Keyward-Signature"
	HeaderDelivery  = "X-Keyward-Delivery"
	HeaderEvent     = "X-Keyward-Event"
)

// webhookBody is the JSON a webhook receives.
type webhookBody struct {
	Version  int         `json:"version"`
	Delivery string      `json:"delivery"`
	Kind     Kind        `json:"kind"`
	Sink     string      `json:"sink"`
	Level    int         `json:"escalation_level"`
	Alert    watch.Alert `json:"alert"`
}

// WebhookBody returns the JSON body of d for a webhook.
func WebhookBody(d *Delivery) ([]byte, error) {
	return json.Marshal(webhookBody{Version: 1, Delivery: d.ID, Kind: d.Kind, Sink: d.Sink, Level: d.Level, Alert: d.Alert})
}

// Sign returns the value of the X-Keyward-Signature header for body sent
// at timestamp (Unix seconds, as in X-Keyward-Timestamp): "v1=" and the
// hex HMAC-SHA256, under key, of the timestamp, a ".", and the body.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body and timestamp in constant
// time, and that timestamp is within tolerance of now: what a receiver
// does (docs/watch.md has the same code for receivers to copy).
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(Sign(key, timestamp, body)), []byte(signature))
}

// title is the one-line headline of d.
func title(d *Delivery) string {
	prefix := ""
	switch d.Kind {
	case KindEscalated:
		prefix = fmt.Sprintf("ESCALATED (level %d) ", d.Level)
	case KindAcknowledged:
		prefix = "ACKNOWLEDGED "
	case KindResolved:
		prefix = "RESOLVED "
	case KindTest:
		prefix = "TEST "
	}
	return oneLine(fmt.Sprintf("%s[%s] keyward alert %s: %s", prefix, strings.ToUpper(d.Alert.Severity.String()), d.Alert.Rule, d.Alert.Summary), 240)
}

// identityText names the alert's identity without secrets: events hold
// none, and this prints only their allowlisted fields.
func identityText(id *watch.Identity) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("display_name", id.DisplayName)
	add("entity", id.EntityID)
	add("auth", id.AuthMount)
	add("role", id.Role)
	add("accessor", id.Accessor)
	if id.Root {
		parts = append(parts, "root")
	}
	for _, k := range slices.Sorted(maps.Keys(id.Claims)) {
		add(k, id.Claims[k])
	}
	if len(parts) == 0 {
		return "anonymous"
	}
	return strings.Join(parts, " ")
}

// oneLine replaces control characters (newlines included) with spaces and
// cuts s to at most n bytes, on a rune boundary.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// textBody is the plain-text description of d (mail body, Slack fallback).
func textBody(d *Delivery) string {
	a := &d.Alert
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", title(d))
	fmt.Fprintf(&b, "Alert:     %s\n", oneLine(a.ID, 200))
	fmt.Fprintf(&b, "Rule:      %s\n", oneLine(a.Rule, 200))
	fmt.Fprintf(&b, "Severity:  %s\n", a.Severity)
	fmt.Fprintf(&b, "Status:    %s\n", oneLine(string(a.Status), 40))
	fmt.Fprintf(&b, "Identity:  %s\n", oneLine(identityText(&a.Identity), 1000))
	fmt.Fprintf(&b, "Summary:   %s\n", oneLine(a.Summary, 1000))
	fmt.Fprintf(&b, "Count:     %d\n", a.Count)
	if !a.FirstSeen.IsZero() {
		fmt.Fprintf(&b, "First:     %s\n", a.FirstSeen.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "Last:      %s\n", a.LastSeen.UTC().Format(time.RFC3339))
	}
	if len(a.Evidence) > 0 {
		b.WriteString("Evidence:\n")
		for _, k := range slices.Sorted(maps.Keys(a.Evidence)) {
			fmt.Fprintf(&b, "  %s: %s\n", oneLine(k, 100), oneLine(a.Evidence[k], 500))
		}
	}
	for _, act := range a.Actions {
		dry := ""
		if act.DryRun {
			dry = " (dry run)"
		}
		fmt.Fprintf(&b, "Action:    %s %s%s %s\n", oneLine(act.Kind, 40), oneLine(act.Target, 200), dry, oneLine(act.Error, 200))
	}
	if a.AckedBy != "" {
		fmt.Fprintf(&b, "Acknowledged by %s\n", oneLine(a.AckedBy, 200))
	}
	if a.ResolvedBy != "" {
		fmt.Fprintf(&b, "Resolved by %s\n", oneLine(a.ResolvedBy, 200))
	}
	fmt.Fprintf(&b, "Delivery:  %s (%s via sink %s)\n", d.ID, d.Kind, d.Sink)
	return b.String()
}

// slackEscape keeps Slack from reading text as markup or a link: only
// &, < and > are special in Slack's text, as its formatting docs say.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SlackBody returns the incoming-webhook JSON of d: a text fallback and
// blocks (header, fields, summary), plain text only, with unfurling off,
// so it carries no link.
func SlackBody(d *Delivery) ([]byte, error) {
	a := &d.Alert
	plain := func(s string) map[string]any { return map[string]any{"type": "plain_text", "text": s, "emoji": false} }
	field := func(k, v string) map[string]any { return plain(k + ": " + oneLine(v, 500)) }
	fields := []any{
		field("Severity", a.Severity.String()),
		field("Rule", a.Rule),
		field("Status", string(a.Status)),
		field("Count", strconv.FormatUint(a.Count, 10)),
		field("Identity", identityText(&a.Identity)),
		field("Alert", a.ID),
	}
	blocks := []any{
		map[string]any{"type": "header", "text": plain(oneLine(title(d), 150))},
		map[string]any{"type": "section", "fields": fields},
		map[string]any{"type": "section", "text": plain(oneLine(a.Summary, 2900))},
	}
	if len(a.Evidence) > 0 {
		var ev []string
		for _, k := range slices.Sorted(maps.Keys(a.Evidence)) {
			ev = append(ev, oneLine(k, 100)+": "+oneLine(a.Evidence[k], 300))
		}
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{plain(oneLine(strings.Join(ev, "; "), 2000))}})
	}
	return json.Marshal(map[string]any{
		"text":         slackEscape(title(d)),
		"blocks":       blocks,
		"unfurl_links": false,
		"unfurl_media": false,
	})
}

// syslogSeverity maps an alert severity to an RFC 5424 severity.
func syslogSeverity(s watch.Severity) int {
	switch s {
	case watch.SeverityCritical:
		return 2 // critical
	case watch.SeverityHigh:
		return 3 // error
	case watch.SeverityMedium:
		return 4 // warning
	case watch.SeverityLow:
		return 5 // notice
	}
	return 6 // informational
}

// SDID is the structured-data id of syslog messages: 32473 is the
// enterprise number RFC 5612 reserves for documentation and examples.
const SDID = "keyward@32473"

// SyslogMessage returns the RFC 5424 message of d from host at t, without
// transport framing.
func SyslogMessage(d *Delivery, facility int, host string, t time.Time) []byte {
	a := &d.Alert
	pri := facility*8 + syslogSeverity(a.Severity)
	if host = headerToken(host, 255); host == "" {
		host = "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s keyward - alert [%s", pri, t.UTC().Format("2006-01-02T15:04:05.000000Z"), host, SDID)
	param := func(k, v string) { fmt.Fprintf(&b, ` %s="%s"`, k, sdEscape(oneLine(v, 512))) }
	param("id", a.ID)
	param("rule", a.Rule)
	param("severity", a.Severity.String())
	param("status", string(a.Status))
	param("kind", string(d.Kind))
	param("delivery", d.ID)
	param("count", strconv.FormatUint(a.Count, 10))
	param("identity", identityText(&a.Identity))
	if d.Level > 0 {
		param("escalation_level", strconv.Itoa(d.Level))
	}
	b.WriteString("] ")
	b.WriteString(oneLine(title(d), 2000))
	return []byte(b.String())
}

// headerToken keeps the printable US-ASCII of s, no spaces, at most n.
func headerToken(s string, n int) string {
	out := strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// MailMessage returns the RFC 5322 message of d: headers with no line
// breaks from the alert, and the plain-text body.
func MailMessage(d *Delivery, from string, to []string, host string, t time.Time) []byte {
	var b strings.Builder
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, oneLine(v, 900)) }
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", title(d))
	hdr("Date", t.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+headerToken(d.ID, 100)+"."+strconv.FormatInt(t.UnixNano(), 36)+"@"+headerToken(host, 200)+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("X-Keyward-Delivery", d.ID)
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(textBody(d), "\r", "")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}
