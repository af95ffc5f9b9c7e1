package report_test

import (
	"bytes"
	"encoding/csv"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/keyward/keyward/internal/report"
)

func TestCSVQuotesAndNeutralises(t *testing.T) {
	now := time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)
	rows := [][]any{
		{"a,b", `say "hi"`, "line1\nline2", int64(-5), []string{"x", "y"}, now},
		{"=SUM(A1:A2)", "+1+1", "-cmd", "@import", "\tTAB", time.Time{}},
		{"-3.5", "plain", nil, true, uint64(7), 3},
	}
	out := report.CSV([]string{"c1", "c2", "c3", "c4", "c5", "=c6"}, rows)
	got, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, out)
	}
	want := [][]string{
		{"c1", "c2", "c3", "c4", "c5", "'=c6"},
		{"a,b", `say "hi"`, "line1\nline2", "-5", "x;y", "2026-04-11T00:00:00Z"},
		{"'=SUM(A1:A2)", "'+1+1", "'-cmd", "'@import", "'\tTAB", ""},
		{"-3.5", "plain", "", "true", "7", "3"},
	}
	if len(got) != len(want) {
		t.Fatalf("CSV has %d records, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
	if !bytes.Contains(out, []byte(`"say ""hi"""`)) || !bytes.Contains(out, []byte("\"a,b\"")) {
		t.Errorf("cells not quoted as RFC 4180 asks:\n%s", out)
	}
}

// FuzzNeutralise: no cell CSV writes can start a formula, and every cell
// reads back as written (after the neutralising quote).
func FuzzNeutralise(f *testing.F) {
	for _, s := range []string{"=1+1", "-2", "a,b", "\"q\"", "x\ny", "@x", "+", "-1e9", "\r=x", " =x", "\"=x", "\n+x", " -5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := report.CSV([]string{"h"}, [][]any{{s}})
		recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			if strings.ContainsRune(s, '\r') || strings.ContainsRune(s, 0) || !isUTF8(s) {
				return // encoding/csv normalises \r\n and rejects what it cannot read back
			}
			t.Fatalf("CSV of %q does not parse: %v", s, err)
		}
		if len(recs) != 2 || len(recs[1]) != 1 {
			if s == "" {
				return
			}
			t.Fatalf("CSV of %q gave %q", s, recs)
		}
		c := recs[1][0]
		if c != "" && strings.ContainsRune("=+@\t\r", rune(c[0])) || formulaStart(c) {
			t.Errorf("cell %q starts a formula", c)
		}
		if c != "" && c[0] == '-' && c != s {
			t.Errorf("cell %q changed a negative number %q", c, s)
		}
		if !strings.ContainsRune(s, '\r') && c != s && c != "'"+s {
			t.Errorf("cell %q does not read back as %q", c, s)
		}
	})
}

// TestCSVNeutralisesAfterLeadingSpaceOrQuote: a spreadsheet that trims
// spaces, line breaks or quotes from a cell on import still runs what
// follows as a formula, so those cells are neutralised too.
func TestCSVNeutralisesAfterLeadingSpaceOrQuote(t *testing.T) {
	for _, s := range []string{" =cmd|' /C calc'!A0", "  +1+1", "\n=1+1", "\"=HYPERLINK(\"http://x\")",
		"\" @SUM(1)", "\u00a0=1", "\ufeff=1", "\v-cmd", " \"\t=1"} {
		if got := report.Neutralise(s); got != "'"+s {
			t.Errorf("Neutralise(%q) = %q, want it quoted", s, got)
		}
	}
	for _, s := range []string{" -5", "\"plain\"", " x=1", "-3.5", "'=already"} {
		if got := report.Neutralise(s); got != s {
			t.Errorf("Neutralise(%q) = %q, want it unchanged", s, got)
		}
	}
}

// formulaStart reports whether a spreadsheet that trims leading spaces
// and quotes could read c as a formula.
func formulaStart(c string) bool {
	if c != "" && strings.ContainsRune("\t\r", rune(c[0])) {
		return true
	}
	tr := strings.TrimLeftFunc(c, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\ufeff' || r == '\u200b' })
	return tr != "" && strings.ContainsRune("=+@-", rune(tr[0])) && !negNumber.MatchString(tr)
}

var negNumber = regexp.MustCompile(`^-[0-9]+(\.[0-9]+)?$`)

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestIsProduction(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		path     string
		want     bool
	}{
		{nil, "secret/data/prod/db", true},
		{nil, "secret/data/Production/db", true},
		{nil, "secret/data/products/db", false},
		{nil, "prod-kv/data/app", false},
		{nil, "secret/data/app/prod", true},
		{[]string{"secret/data/live/*"}, "secret/data/live/x", true},
		{[]string{"secret/data/live/*"}, "secret/data/prod/x", false},
		{[]string{"secret/+/+/db"}, "secret/data/team/db", true},
		{[]string{"live"}, "kv/live/x", true},
	} {
		if got := report.IsProduction(c.patterns, c.path); got != c.want {
			t.Errorf("IsProduction(%q, %q) = %v, want %v", c.patterns, c.path, got, c.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	now := time.Date(2026, 4, 11, 12, 0, 0, 0, time.UTC)
	p, err := report.ParseParams("access-map", map[string]any{"since": "48h", "until": "2026-04-11T06:00:00+02:00", "format": "CSV"}, now)
	if err != nil || p.Format != "csv" || !p.Since.Equal(now.Add(-48*time.Hour)) || !p.Until.Equal(time.Date(2026, 4, 11, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseParams = %+v, %v", p, err)
	}
	p, err = report.ParseParams("unread", map[string]any{"days": "7"}, now)
	if err != nil || p.Days != 7 || p.Format != "json" {
		t.Errorf("days: %+v, %v", p, err)
	}
	p, err = report.ParseParams("leases-near-max", map[string]any{"within": "2d"}, now)
	if err != nil || p.Within != 48*time.Hour {
		t.Errorf("within: %+v, %v", p, err)
	}
	for name, data := range map[string]map[string]any{
		"unread":          {"days": "100000"},
		"leases-near-max": {"within": "0"},
		"secrets":         {"days": "3"}, // days is the unread report's
		"access-map":      {"since": "-1h"},
	} {
		if _, err := report.ParseParams(name, data, now); err == nil {
			t.Errorf("ParseParams(%s, %v) accepted", name, data)
		}
	}
}

// FuzzParseParams: any parameters parse or fail cleanly; what parses is
// in range, and an error never echoes a long value.
func FuzzParseParams(f *testing.F) {
	f.Add("access-map", "2026-01-01T00:00:00Z", "24h", "", "", "json")
	f.Add("unread", "", "", "30", "", "csv")
	f.Add("leases-near-max", "", "", "", "7d", "")
	f.Add("secrets", "x", "y", "z", "w", "xml")
	now := time.Date(2026, 4, 11, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, name, since, until, days, within, format string) {
		data := map[string]any{}
		for k, v := range map[string]string{"since": since, "until": until, "days": days, "within": within, "format": format} {
			if v != "" {
				data[k] = v
			}
		}
		p, err := report.ParseParams(name, data, now)
		if err != nil {
			for _, v := range []string{since, until, days, within, format} {
				if len(v) > 48 && strings.Contains(err.Error(), v) {
					t.Fatalf("error echoes a value: %v", err)
				}
			}
			return
		}
		if p.Format != "json" && p.Format != "csv" {
			t.Errorf("format %q", p.Format)
		}
		if p.Days < 1 || p.Days > 36500 || p.Within <= 0 {
			t.Errorf("out of range: %+v", p)
		}
		if !p.Since.IsZero() && p.Until.Before(p.Since) {
			t.Errorf("until %v before since %v", p.Until, p.Since)
		}
	})
}

func TestParsePolicy(t *testing.T) {
	p, err := report.ParsePolicy("app", map[string]any{"pattern": "secret/data/app/*", "max_age": "30d"})
	if err != nil || p.MaxAge != 30*24*time.Hour || p.Pattern != "secret/data/app/*" {
		t.Errorf("ParsePolicy = %+v, %v", p, err)
	}
	for _, c := range []struct {
		name string
		data map[string]any
	}{
		{"app", map[string]any{"pattern": "secret/*"}},
		{"app", map[string]any{"pattern": "secret/*/x", "max_age": "1h"}},
		{"app", map[string]any{"pattern": "", "max_age": "1h"}},
		{"app", map[string]any{"pattern": "secret/*", "max_age": "0"}},
		{"../x", map[string]any{"pattern": "secret/*", "max_age": "1h"}},
		{"app", map[string]any{"pattern": "secret/*", "max_age": "1h", "other": 1}},
	} {
		if _, err := report.ParsePolicy(c.name, c.data); err == nil {
			t.Errorf("ParsePolicy(%q, %v) accepted", c.name, c.data)
		}
	}
}

// FuzzParsePolicy: a rotation policy that parses has a name fit for a
// storage key, a pattern with * only at its end, and a max_age of at
// least a second.
func FuzzParsePolicy(f *testing.F) {
	f.Add("app", "secret/data/app/*", "30d")
	f.Add("../x", "secret/*/x", "-1")
	f.Add("a", "+/+/*", "3600")
	f.Fuzz(func(t *testing.T, name, pattern, maxAge string) {
		p, err := report.ParsePolicy(name, map[string]any{"pattern": pattern, "max_age": maxAge})
		if err != nil {
			return
		}
		if strings.ContainsAny(p.Name, "/\\") || p.Name == "." || p.Name == ".." || p.Name == "" {
			t.Errorf("name %q accepted", p.Name)
		}
		if strings.Contains(strings.TrimSuffix(p.Pattern, "*"), "*") || p.Pattern == "" {
			t.Errorf("pattern %q accepted", p.Pattern)
		}
		if p.MaxAge < time.Second {
			t.Errorf("max_age %v accepted", p.MaxAge)
		}
	})
}
