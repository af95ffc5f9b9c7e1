package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// TestOutputsNeverLeak is the canary: every sample is planted, then every
// output form is searched for the full values (and their second halves).
func TestOutputsNeverLeak(t *testing.T) {
	ss := corpus.Samples(8)
	var in strings.Builder
	for _, s := range ss {
		in.WriteString(s.Text + "\n")
	}
	s := newScanner(t, scan.Options{})
	res, err := s.ScanReader(context.Background(), "canary.txt", strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) < len(ss) {
		t.Fatalf("%d findings for %d samples", len(res.Findings), len(ss))
	}
	rules, _, _ := (&scan.Config{}).Build()
	var text, js, sarif, base, gofmt bytes.Buffer
	if err := scan.WriteText(&text, res, res.Findings, scan.TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteJSON(&js, res, res.Findings); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteSARIF(&sarif, res, rules, res.Findings, "test"); err != nil {
		t.Fatal(err)
	}
	if err := scan.NewBaseline(res.Findings).Write(&base); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(&gofmt, "%v %+v %#v %s\n", f, f, f, f.Secret)
		raw, _ := json.Marshal(f)
		gofmt.Write(raw)
	}
	outs := map[string]string{"text": text.String(), "json": js.String(), "sarif": sarif.String(), "baseline": base.String(), "fmt": gofmt.String()}
	for name, out := range outs {
		for _, smp := range ss {
			if strings.Contains(out, smp.Secret) {
				t.Errorf("%s output contains the %s secret", name, smp.Rule)
			}
			if len(smp.Secret) >= 24 && strings.Contains(out, smp.Secret[len(smp.Secret)/2:]) {
				t.Errorf("%s output contains half the %s secret", name, smp.Rule)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "…"},
		{"abc", "…"},
		{"hunter2x", "hu…"},
		{"0123456789abcdef", "0123…"},
		{"-----BEGIN\nKEY", "---…"},
		{"ééééééé", "é…"},
	} {
		if got := scan.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	ss := corpus.Samples(9)
	s := newScanner(t, scan.Options{})
	res, err := s.ScanReader(context.Background(), "a.txt", strings.NewReader(ss[0].Text+"\n"+ss[1].Text+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := scan.NewBaseline(res.Findings[:1]).Write(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := scan.ReadBaseline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	left := b.Filter(res.Findings)
	if len(left) != len(res.Findings)-1 || left[0].Fingerprint == res.Findings[0].Fingerprint {
		t.Errorf("baseline of 1 left %d of %d findings", len(left), len(res.Findings))
	}
	for _, bad := range []string{`{`, `{"version":2,"findings":[]}`} {
		if _, err := scan.ReadBaseline(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadBaseline(%s): no error", bad)
		}
	}
	// the fingerprint depends on rule, path and secret, not the line
	if scan.Fingerprint("r", "p", "s") == scan.Fingerprint("r", "q", "s") || scan.Fingerprint("r", "p", "s") == scan.Fingerprint("r", "p", "t") {
		t.Error("fingerprint ignores path or secret")
	}
}

func TestConfig(t *testing.T) {
	gh := ""
	for _, s := range corpus.Samples(10) {
		if s.Rule == "github-pat" {
			gh = s.Text
		}
	}
	tests := []struct {
		name, format, cfg string
		input             string
		wantRules         []string
		wantErr           string
	}{
		{name: "builtin", format: "toml", input: gh, wantRules: []string{"github-pat"}},
		{name: "disable", format: "toml", cfg: `disable = ["github-pat"]`, input: gh},
		{name: "allow value regex", format: "yaml", cfg: "allow:\n  regexes: ['^gh']\n", input: gh},
		{name: "rule allowlist", format: "toml", cfg: "[[rules]]\nid = \"github-pat\"\n[rules.allow]\nregexes = ['^ghp_']\n", input: gh},
		{name: "custom rule", format: "toml", cfg: "[[rules]]\nid = \"acme\"\nregex = 'acme_([a-z0-9]{12})'\n", input: "k = acme_" + "q8w7e6r5t4y3", wantRules: []string{"acme"}},
		{name: "custom needs keywords", format: "toml", cfg: "[[rules]]\nid = \"x\"\nregex = '[a-z]{9}'\n", wantErr: "keywords are required"},
		{name: "bad regex", format: "yaml", cfg: "rules:\n- id: x\n  regex: '('\n", wantErr: "regex"},
		{name: "bad severity", format: "toml", cfg: "[[rules]]\nid = \"jwt\"\nseverity = \"loud\"\n", wantErr: "unknown severity"},
		{name: "unknown disable", format: "toml", cfg: `disable = ["nope"]`, wantErr: "unknown rule"},
		{name: "unknown key", format: "toml", cfg: `disabel = ["jwt"]`, wantErr: "unknown key"},
		{name: "unknown yaml key", format: "yaml", cfg: "rulez: []\n", wantErr: "not found"},
		{name: "no builtin", format: "toml", cfg: "no_builtin = true\n", input: gh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := scan.ParseConfig([]byte(tc.cfg), tc.format)
			var rules []*scan.Rule
			var allow scan.Allowlist
			if err == nil {
				rules, allow, err = c.Build()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := scan.NewEngine(rules, allow)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := scan.New(scan.Options{Engine: e, Allow: allow})
			res, err := s.ScanReader(context.Background(), "in", strings.NewReader(tc.input+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.RuleID)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantRules, ",") {
				t.Errorf("rules found = %v, want %v", got, tc.wantRules)
			}
		})
	}
}

func TestAllowCommentsAndPaths(t *testing.T) {
	var stripe corpus.Sample
	for _, s := range corpus.Samples(11) {
		if s.Rule == "stripe-secret-key" {
			stripe = s
		}
	}
	tests := []struct {
		name, suffix string
		want         int
	}{
		{"bare", " // keyward:allow", 0},
		{"named", " # keyward:allow stripe-secret-key", 0},
		{"list", " # keyward:allow jwt,stripe-secret-key", 0},
		{"html comment", " <!-- keyward:allow -->", 0},
		{"other rule", " # keyward:allow jwt", 1},
		{"none", "", 1},
	}
	s := newScanner(t, scan.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.ScanReader(context.Background(), "x", strings.NewReader("a\n"+stripe.Text+tc.suffix+"\nb\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Findings) != tc.want {
				t.Errorf("%d findings, want %d", len(res.Findings), tc.want)
			}
		})
	}
	for _, tc := range []struct {
		glob, path string
		want       bool
	}{
		{"*.lock", "a/b/yarn.lock", true},
		{"testdata/**", "testdata/x/y.txt", true},
		{"**/fixtures/*", "src/fixtures/a.json", true},
		{"docs/*.md", "docs/a/b.md", false},
		{"/build", "build/out.txt", true},
		{"vendor/", "src/vendor/x", false},
	} {
		a := scan.Allowlist{Paths: []string{tc.glob}}
		if got := a.AllowsPath(tc.path); got != tc.want {
			t.Errorf("AllowsPath(%q, %q) = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
	}
}

func TestSeverity(t *testing.T) {
	for i, n := range []string{"info", "low", "medium", "high", "critical"} {
		s, err := scan.ParseSeverity(strings.ToUpper(n))
		if err != nil || int(s) != i || s.String() != n {
			t.Errorf("ParseSeverity(%q) = %v, %v", n, s, err)
		}
	}
	if _, err := scan.ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity(severe): no error")
	}
	for s, want := range map[scan.Severity]string{scan.SeverityCritical: "error", scan.SeverityHigh: "error", scan.SeverityMedium: "warning", scan.SeverityLow: "note"} {
		if got := scan.SARIFLevel(s); got != want {
			t.Errorf("SARIFLevel(%v) = %q, want %q", s, got, want)
		}
	}
}

// TestBuiltinRulesCompile compiles every built-in expression, which scans
// otherwise do lazily, on first use.
func TestBuiltinRulesCompile(t *testing.T) {
	rules := scan.BuiltinRules()
	e, err := scan.NewEngine(rules, scan.Allowlist{})
	if err != nil {
		t.Fatal(err)
	}
	// every keyword of every rule, so each rule compiles and runs once
	var in strings.Builder
	for _, r := range e.Rules() {
		for _, k := range r.Keywords {
			in.WriteString(k + " = x\n")
		}
	}
	s, _ := scan.New(scan.Options{Engine: e})
	if _, err := s.ScanReader(context.Background(), "kw", strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range e.Rules() {
		if ids[r.ID] {
			t.Errorf("duplicate rule %s", r.ID)
		}
		ids[r.ID] = true
		if r.Description == "" || len(r.Keywords) == 0 {
			t.Errorf("rule %s lacks a description or keywords", r.ID)
		}
	}
}

// TestReportsCountHidden checks that every report format says how many
// findings it left out as test material, and shows each finding's
// confidence.
func TestReportsCountHidden(t *testing.T) {
	var key, pat corpus.Sample
	for _, s := range corpus.Samples(33) {
		switch s.Rule {
		case "private-key":
			key = s
		case "github-pat":
			pat = s
		}
	}
	s := newScanner(t, scan.Options{})
	res, err := s.ScanReader(context.Background(), "crypto/testdata/key.pem", strings.NewReader(key.Text+"\n"+pat.Text+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	shown, hidden := scan.Visible(res.Findings, scan.ConfidenceMedium)
	if len(shown) != 1 || shown[0].RuleID != "github-pat" || hidden != (scan.Hidden{Total: 1, TestMaterial: 1}) {
		t.Fatalf("shown %d, hidden %+v", len(shown), hidden)
	}
	res.Hidden = hidden
	var text, js, sarif bytes.Buffer
	if err := scan.WriteText(&text, res, shown, scan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteJSON(&js, res, shown); err != nil {
		t.Fatal(err)
	}
	if err := scan.WriteSARIF(&sarif, res, scan.BuiltinRules(), shown, "test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  confidence: high\n") || !strings.Contains(text.String(), "; 1 hidden as test material (--include-test-material shows them)\n") {
		t.Errorf("text report:\n%s", text.String())
	}
	var doc struct {
		Findings []struct {
			Confidence string `json:"confidence"`
		} `json:"findings"`
		Hidden scan.Hidden `json:"hidden"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Findings) != 1 || doc.Findings[0].Confidence != "high" || doc.Hidden.TestMaterial != 1 {
		t.Errorf("json report (%v):\n%s", err, js.String())
	}
	var log struct {
		Runs []struct {
			Invocations []struct {
				Properties    map[string]int `json:"properties"`
				Notifications []struct {
					Descriptor struct{ ID string } `json:"descriptor"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []struct {
				Rank       float64           `json:"rank"`
				Properties map[string]string `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarif.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	inv, r := log.Runs[0].Invocations[0], log.Runs[0].Results[0]
	if inv.Properties["hiddenTestMaterial"] != 1 || len(inv.Notifications) != 1 || inv.Notifications[0].Descriptor.ID != "keyward/hidden" || r.Properties["confidence"] != "high" || r.Rank != 90 {
		t.Errorf("sarif report:\n%s", sarif.String())
	}
}
