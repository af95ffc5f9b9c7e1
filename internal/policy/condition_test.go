package policy_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/policy"
)

func at(tb testing.TB, zone, s string) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func utc(tb testing.TB, s string) time.Time { return at(tb, "UTC", s) }

// TestConditionTable evaluates one conditional rule per case against a
// request context built with an injected clock.
func TestConditionTable(t *testing.T) {
	addr := netip.MustParseAddr
	// 2026-03-29 is the EU spring-forward (02:00 CET -> 03:00 CEST) and a
	// Sunday; 2026-10-25 the EU fall-back; 2026-03-08 and 2026-11-01 the
	// US ones. 2026-12-07 is a Monday.
	mon := utc(t, "2026-12-07 12:00")
	cases := []struct {
		name string
		cond string
		rc   policy.RequestContext
		want bool
	}{
		// CIDR v4 / v6
		{"v4 inside", `source_cidrs = ["10.0.0.0/8"]`, policy.RequestContext{RemoteAddr: addr("10.1.2.3")}, true},
		{"v4 outside", `source_cidrs = ["10.0.0.0/8"]`, policy.RequestContext{RemoteAddr: addr("11.0.0.1")}, false},
		{"v4 unknown address", `source_cidrs = ["10.0.0.0/8"]`, policy.RequestContext{}, false},
		{"v4 mapped in v6", `source_cidrs = ["10.0.0.0/8"]`, policy.RequestContext{RemoteAddr: addr("::ffff:10.0.0.9")}, true},
		{"v4 single address", `source_cidrs = ["192.0.2.7"]`, policy.RequestContext{RemoteAddr: addr("192.0.2.7")}, true},
		{"v4 single address other", `source_cidrs = ["192.0.2.7"]`, policy.RequestContext{RemoteAddr: addr("192.0.2.8")}, false},
		{"v6 inside", `source_cidrs = ["2001:db8::/32"]`, policy.RequestContext{RemoteAddr: addr("2001:db8:1::5")}, true},
		{"v6 outside", `source_cidrs = ["2001:db8::/32"]`, policy.RequestContext{RemoteAddr: addr("2001:db9::1")}, false},
		{"v6 rule v4 caller", `source_cidrs = ["2001:db8::/32"]`, policy.RequestContext{RemoteAddr: addr("10.0.0.1")}, false},
		{"v4 rule v6 caller", `source_cidrs = ["0.0.0.0/0"]`, policy.RequestContext{RemoteAddr: addr("2001:db8::1")}, false},
		{"several cidrs", `source_cidrs = ["10.0.0.0/8", "fd00::/8"]`, policy.RequestContext{RemoteAddr: addr("fd12::1")}, true},
		{"loopback", `source_cidrs = ["127.0.0.1/32", "::1/128"]`, policy.RequestContext{RemoteAddr: addr("::1")}, true},
		// Time windows, UTC
		{"office hours inside", `time_window { start = "08:00" end = "18:00" }`, policy.RequestContext{Time: mon}, true},
		{"office hours at start", `time_window { start = "08:00" end = "18:00" }`, policy.RequestContext{Time: utc(t, "2026-12-07 08:00")}, true},
		{"office hours at end is outside", `time_window { start = "08:00" end = "18:00" }`, policy.RequestContext{Time: utc(t, "2026-12-07 18:00")}, false},
		{"office hours before", `time_window { start = "08:00" end = "18:00" }`, policy.RequestContext{Time: utc(t, "2026-12-07 07:59")}, false},
		{"time unknown", `time_window { start = "08:00" end = "18:00" }`, policy.RequestContext{}, false},
		{"until 24:00", `time_window { start = "20:00" end = "24:00" }`, policy.RequestContext{Time: utc(t, "2026-12-07 23:59")}, true},
		// Across midnight
		{"night evening", `time_window { start = "22:00" end = "06:00" }`, policy.RequestContext{Time: utc(t, "2026-12-07 23:30")}, true},
		{"night morning", `time_window { start = "22:00" end = "06:00" }`, policy.RequestContext{Time: utc(t, "2026-12-08 05:59")}, true},
		{"night midday", `time_window { start = "22:00" end = "06:00" }`, policy.RequestContext{Time: utc(t, "2026-12-08 12:00")}, false},
		{"night at end", `time_window { start = "22:00" end = "06:00" }`, policy.RequestContext{Time: utc(t, "2026-12-08 06:00")}, false},
		{"friday night into saturday", `time_window { start = "22:00" end = "06:00" weekdays = ["fri"] }`, policy.RequestContext{Time: utc(t, "2026-12-12 03:00")}, true},
		{"saturday night not friday", `time_window { start = "22:00" end = "06:00" weekdays = ["fri"] }`, policy.RequestContext{Time: utc(t, "2026-12-12 23:00")}, false},
		{"sunday morning belongs to saturday", `time_window { start = "22:00" end = "06:00" weekdays = ["fri"] }`, policy.RequestContext{Time: utc(t, "2026-12-13 03:00")}, false},
		// Weekdays
		{"weekday monday", `time_window { weekdays = ["mon", "tue", "wed", "thu", "fri"] }`, policy.RequestContext{Time: mon}, true},
		{"weekday saturday", `time_window { weekdays = ["mon", "tue", "wed", "thu", "fri"] }`, policy.RequestContext{Time: utc(t, "2026-12-12 12:00")}, false},
		{"weekday upper case", `time_window { weekdays = ["SAT"] }`, policy.RequestContext{Time: utc(t, "2026-12-12 12:00")}, true},
		{"weekday in zone differs from utc", `time_window { weekdays = ["tue"] time_zone = "Asia/Tokyo" }`, policy.RequestContext{Time: utc(t, "2026-12-07 20:00")}, true},
		// DST: Europe/Berlin
		{"berlin 09:00 CET in winter", `time_window { start = "08:00" end = "18:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-01-15 08:00")}, true},
		{"berlin 07:00 CET in winter", `time_window { start = "08:00" end = "18:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-01-15 06:00")}, false},
		{"berlin 08:00 CEST in summer", `time_window { start = "08:00" end = "18:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-07-15 06:00")}, true},
		{"berlin 19:00 CEST in summer", `time_window { start = "08:00" end = "18:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-07-15 17:00")}, false},
		{"berlin spring forward: 01:59 CET", `time_window { start = "02:00" end = "03:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-03-29 00:59")}, false},
		{"berlin spring forward: 03:00 CEST right after", `time_window { start = "02:00" end = "03:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-03-29 01:00")}, false},
		{"berlin spring forward night window after jump", `time_window { start = "22:00" end = "06:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-03-29 03:30")}, true},
		{"berlin spring forward 06:30 CEST outside", `time_window { start = "22:00" end = "06:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-03-29 04:30")}, false},
		{"berlin fall back first 02:30", `time_window { start = "02:00" end = "03:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-10-25 00:30")}, true},
		{"berlin fall back second 02:30", `time_window { start = "02:00" end = "03:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-10-25 01:30")}, true},
		{"berlin fall back 03:00 CET", `time_window { start = "02:00" end = "03:00" time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-10-25 02:00")}, false},
		{"berlin sunday by local day", `time_window { weekdays = ["sun"] time_zone = "Europe/Berlin" }`, policy.RequestContext{Time: utc(t, "2026-03-28 23:30")}, true},
		// DST: America/New_York
		{"new york spring forward 01:59 EST", `time_window { start = "09:00" end = "17:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-03-08 14:00")}, true},
		{"new york 09:00 EDT after change", `time_window { start = "09:00" end = "17:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-03-09 13:00")}, true},
		{"new york 08:00 EDT after change", `time_window { start = "09:00" end = "17:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-03-09 12:00")}, false},
		{"new york 17:00 EST after fall back", `time_window { start = "09:00" end = "17:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-11-02 22:00")}, false},
		{"new york 16:00 EST after fall back", `time_window { start = "09:00" end = "17:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-11-02 21:00")}, true},
		{"new york fall back repeated 01:30", `time_window { start = "01:00" end = "02:00" time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-11-01 06:30")}, true},
		{"new york overnight across change", `time_window { start = "23:00" end = "02:00" weekdays = ["sat"] time_zone = "America/New_York" }`, policy.RequestContext{Time: utc(t, "2026-11-01 06:30")}, true},
		// MFA
		{"mfa fresh", `mfa_max_age = "15m"`, policy.RequestContext{Time: mon, MFATime: mon.Add(-5 * time.Minute)}, true},
		{"mfa exactly at limit", `mfa_max_age = "15m"`, policy.RequestContext{Time: mon, MFATime: mon.Add(-15 * time.Minute)}, true},
		{"mfa stale", `mfa_max_age = "15m"`, policy.RequestContext{Time: mon, MFATime: mon.Add(-16 * time.Minute)}, false},
		{"mfa absent", `mfa_max_age = "15m"`, policy.RequestContext{Time: mon}, false},
		{"mfa in the future", `mfa_max_age = "15m"`, policy.RequestContext{Time: mon, MFATime: mon.Add(time.Minute)}, false},
		{"mfa no clock", `mfa_max_age = "15m"`, policy.RequestContext{MFATime: mon}, false},
		// Entities and groups
		{"entity listed", `entity_ids = ["e-1", "e-2"]`, policy.RequestContext{EntityID: "e-2"}, true},
		{"entity not listed", `entity_ids = ["e-1"]`, policy.RequestContext{EntityID: "e-3"}, false},
		{"entity absent", `entity_ids = ["e-1"]`, policy.RequestContext{}, false},
		{"group member", `group_names = ["ops"]`, policy.RequestContext{GroupNames: []string{"dev", "ops"}}, true},
		{"group not member", `group_names = ["ops"]`, policy.RequestContext{GroupNames: []string{"dev"}}, false},
		{"group membership unknown", `group_names = ["ops"]`, policy.RequestContext{}, false},
		// Claims
		{"claim matches", `claims = { environment = ["prod"] }`, policy.RequestContext{Claims: map[string]string{"environment": "prod"}}, true},
		{"claim differs", `claims = { environment = ["prod"] }`, policy.RequestContext{Claims: map[string]string{"environment": "staging"}}, false},
		{"claim missing", `claims = { environment = ["prod"] }`, policy.RequestContext{Claims: map[string]string{"ref": "x"}}, false},
		{"claims all required", `claims = { environment = ["prod"], ref = ["refs/heads/main"] }`, policy.RequestContext{Claims: map[string]string{"environment": "prod", "ref": "refs/heads/dev"}}, false},
		{"claims all present", `claims = { environment = ["prod"], ref = ["refs/heads/main"] }`, policy.RequestContext{Claims: map[string]string{"environment": "prod", "ref": "refs/heads/main"}}, true},
		{"claim glob", `claims = { repository = ["octo/*"] }`, policy.RequestContext{Claims: map[string]string{"repository": "octo/app"}}, true},
		{"claim glob other owner", `claims = { repository = ["octo/*"] }`, policy.RequestContext{Claims: map[string]string{"repository": "evil/octo"}}, false},
		{"claim case sensitive", `claims = { environment = ["prod"] }`, policy.RequestContext{Claims: map[string]string{"environment": "Prod"}}, false},
		// Token TTL
		{"ttl below max", `max_token_ttl = "1h"`, policy.RequestContext{TokenTTL: 30 * time.Minute}, true},
		{"ttl equal max", `max_token_ttl = "1h"`, policy.RequestContext{TokenTTL: time.Hour}, true},
		{"ttl above max", `max_token_ttl = "1h"`, policy.RequestContext{TokenTTL: 2 * time.Hour}, false},
		{"ttl never expires", `max_token_ttl = "1h"`, policy.RequestContext{}, false},
		// Environments
		{"env match", `environment_match = true`, policy.RequestContext{Environment: "prod", PathEnvironment: "prod"}, true},
		{"env mismatch", `environment_match = true`, policy.RequestContext{Environment: "staging", PathEnvironment: "prod"}, false},
		{"env caller unknown", `environment_match = true`, policy.RequestContext{PathEnvironment: "prod"}, false},
		{"env path unlabelled", `environment_match = true`, policy.RequestContext{Environment: "prod"}, false},
		{"env both unknown", `environment_match = true`, policy.RequestContext{}, false},
		{"env listed", `environments = ["staging", "dev"]`, policy.RequestContext{Environment: "dev"}, true},
		{"env not listed", `environments = ["staging"]`, policy.RequestContext{Environment: "prod"}, false},
		// Combinations (AND within a block)
		{"cidr and window both hold", `source_cidrs = ["10.0.0.0/8"]
			time_window { start = "08:00" end = "18:00" time_zone = "Europe/Berlin" weekdays = ["mon"] }`,
			policy.RequestContext{RemoteAddr: addr("10.0.0.1"), Time: mon}, true},
		{"cidr holds window fails", `source_cidrs = ["10.0.0.0/8"]
			time_window { start = "08:00" end = "12:00" time_zone = "Europe/Berlin" }`,
			policy.RequestContext{RemoteAddr: addr("10.0.0.1"), Time: mon}, false},
		{"everything", `source_cidrs = ["10.0.0.0/8"]
			time_window { start = "08:00" end = "18:00" weekdays = ["mon"] }
			mfa_max_age = "15m"
			entity_ids = ["e1"]
			group_names = ["ops"]
			claims = { environment = ["prod"] }
			max_token_ttl = "1h"
			environment_match = true`,
			policy.RequestContext{RemoteAddr: addr("10.9.9.9"), Time: mon, MFATime: mon.Add(-time.Minute), EntityID: "e1",
				GroupNames: []string{"ops"}, Claims: map[string]string{"environment": "prod"}, TokenTTL: time.Hour,
				Environment: "prod", PathEnvironment: "prod"}, true},
		{"everything but the group", `source_cidrs = ["10.0.0.0/8"]
			mfa_max_age = "15m"
			group_names = ["ops"]
			environment_match = true`,
			policy.RequestContext{RemoteAddr: addr("10.9.9.9"), Time: mon, MFATime: mon.Add(-time.Minute),
				Environment: "prod", PathEnvironment: "prod"}, false},
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, `path "secret/data/prod/*" {
  capabilities = ["read"]
  condition {
`+tc.cond+`
  }
}`)
			acl, err := policy.Compile([]*policy.Policy{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rc := tc.rc
			d := acl.CheckRequest("secret/data/prod/db", policy.OpRead, nil, nil, &rc)
			if d.Allowed != tc.want {
				e := acl.Explain("secret/data/prod/db", policy.OpRead, nil, &rc)
				t.Errorf("CheckRequest with %+v = %v, want %v (%s)", tc.rc, d.Allowed, tc.want, e.Reason)
			}
			if !d.Conditional {
				t.Error("Decision.Conditional = false")
			}
			// Without a context the condition cannot be evaluated: denied.
			if acl.Check("secret/data/prod/db", policy.OpRead, nil).Allowed {
				t.Error("Check without a request context allowed a conditional rule")
			}
			caps := acl.CapabilitiesRequest("secret/data/prod/db", &rc)
			if got := caps[0] == "read"; got != tc.want {
				t.Errorf("CapabilitiesRequest = %v, want read %v", caps, tc.want)
			}
		})
	}
}

// TestConditionBlocksAnyMatch: several condition blocks are alternatives.
func TestConditionBlocksAnyMatch(t *testing.T) {
	p := mustParse(t, `path "db/creds/prod" {
  capabilities = ["read"]
  condition { source_cidrs = ["10.0.0.0/8"] }
  condition { group_names = ["oncall"] }
}`)
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rc   policy.RequestContext
		want bool
	}{
		{policy.RequestContext{RemoteAddr: netip.MustParseAddr("10.0.0.1")}, true},
		{policy.RequestContext{RemoteAddr: netip.MustParseAddr("192.0.2.1"), GroupNames: []string{"oncall"}}, true},
		{policy.RequestContext{RemoteAddr: netip.MustParseAddr("192.0.2.1")}, false},
	} {
		if got := acl.CheckRequest("db/creds/prod", policy.OpRead, nil, nil, &tc.rc).Allowed; got != tc.want {
			t.Errorf("CheckRequest(%+v) = %v, want %v", tc.rc, got, tc.want)
		}
	}
}

// TestConditionMerge: an unconditional grant from one policy and a
// conditional one from another add up per capability; a deny from any
// policy still wins.
func TestConditionMerge(t *testing.T) {
	a := mustParse(t, `path "secret/data/app" { capabilities = ["read"] }`)
	b, err := policy.Parse("b", `path "secret/data/app" {
  capabilities = ["update"]
  condition { source_cidrs = ["10.0.0.0/8"] }
}`)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := policy.Compile([]*policy.Policy{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &policy.RequestContext{RemoteAddr: netip.MustParseAddr("10.0.0.1")}
	out := &policy.RequestContext{RemoteAddr: netip.MustParseAddr("192.0.2.1")}
	if !acl.CheckRequest("secret/data/app", policy.OpRead, nil, nil, out).Allowed {
		t.Error("unconditional read lost")
	}
	if acl.CheckRequest("secret/data/app", policy.OpUpdate, nil, nil, out).Allowed {
		t.Error("update allowed from outside the CIDR")
	}
	if !acl.CheckRequest("secret/data/app", policy.OpUpdate, nil, nil, in).Allowed {
		t.Error("update denied from inside the CIDR")
	}
	if got := strings.Join(acl.Capabilities("secret/data/app"), ","); got != "read" {
		t.Errorf("Capabilities without context = %s, want read", got)
	}
	deny, err := policy.Parse("d", `path "secret/data/app" { capabilities = ["deny"] }`)
	if err != nil {
		t.Fatal(err)
	}
	acl, err = policy.Compile([]*policy.Policy{b, deny}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acl.CheckRequest("secret/data/app", policy.OpUpdate, nil, nil, in).Allowed {
		t.Error("deny lost to a conditional grant")
	}
}

func TestConditionParseErrors(t *testing.T) {
	for name, text := range map[string]string{
		"empty block":       `condition { }`,
		"bad cidr":          `condition { source_cidrs = ["10.0.0.0/33"] }`,
		"zone in cidr":      `condition { source_cidrs = ["fe80::1%eth0/64"] }`,
		"bad zone":          `condition { time_window { time_zone = "Mars/Olympus" } }`,
		"relative zone":     `condition { time_window { time_zone = "../etc/passwd" } }`,
		"bad clock":         `condition { time_window { start = "8:00" end = "18:00" } }`,
		"bad hour":          `condition { time_window { start = "25:00" end = "18:00" } }`,
		"half window":       `condition { time_window { start = "08:00" } }`,
		"empty window":      `condition { time_window { start = "08:00" end = "08:00" } }`,
		"bad weekday":       `condition { time_window { weekdays = ["monday"] } }`,
		"unknown key":       `condition { source_cidr = ["10.0.0.0/8"] }`,
		"bad duration":      `condition { mfa_max_age = "soon" }`,
		"env not bool":      `condition { environment_match = "yes" }`,
		"empty claim":       `condition { claims = { ref = [] } }`,
		"empty groups":      `condition { group_names = [] }`,
		"condition on deny": `condition { source_cidrs = ["10.0.0.0/8"] }` + "\n capabilities = [\"deny\"]",
	} {
		t.Run(name, func(t *testing.T) {
			caps := `capabilities = ["read"]`
			if strings.Contains(text, "capabilities") {
				caps = ""
			}
			if p, err := policy.Parse("p", `path "a" { `+caps+"\n"+text+` }`); err == nil {
				t.Errorf("Parse accepted %s: %+v", text, p.Rules)
			}
		})
	}
}

// TestConditionJSON: the JSON policy syntax takes a list of condition
// objects.
func TestConditionJSON(t *testing.T) {
	p, err := policy.Parse("j", `{"path": {"a/*": {"capabilities": ["read"], "condition": [{"source_cidrs": ["10.0.0.0/8"]}, {"group_names": ["ops"]}]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Rules[0].Conditions); n != 2 {
		t.Fatalf("%d conditions, want 2", n)
	}
}

func TestExplain(t *testing.T) {
	a := mustParse(t, `path "secret/data/prod/*" {
  capabilities = ["read"]
  condition { environment_match = true }
}`)
	acl, err := policy.Compile([]*policy.Policy{a}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := acl.Explain("secret/data/prod/db", policy.OpRead, nil, &policy.RequestContext{Environment: "staging", PathEnvironment: "prod"})
	if e.Allowed || e.Pattern != "secret/data/prod/*" || len(e.Rules) != 1 || e.Rules[0].Applies ||
		!strings.Contains(e.Reason, `environment_match: caller environment "staging", path environment "prod"`) {
		t.Errorf("Explain = %+v", e)
	}
	e = acl.Explain("secret/data/prod/db", policy.OpRead, nil, &policy.RequestContext{Environment: "prod", PathEnvironment: "prod"})
	if !e.Allowed || !strings.Contains(e.Reason, "allowed") {
		t.Errorf("Explain = %+v", e)
	}
	if e := acl.Explain("secret/data/dev/db", policy.OpRead, nil, nil); e.Allowed || e.Reason != "no rule matches the path" {
		t.Errorf("Explain = %+v", e)
	}
}

func TestEnvironments(t *testing.T) {
	envs, err := policy.NewEnvironments(map[string]string{"secret/data/prod": "prod", "secret/data/prod/sandbox/": "dev", "kv-prod/": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"secret/data/prod":              "prod",
		"secret/data/prod/db":           "prod",
		"secret/data/production/db":     "",
		"secret/data/prod/sandbox/x":    "dev",
		"kv-prod/data/x":                "prod",
		"kv-prodx/data/x":               "",
		"secret/data/staging/prod/copy": "",
	} {
		if got := envs.Lookup(path); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", path, got, want)
		}
	}
	for _, bad := range []map[string]string{{"a/*": "prod"}, {"a": "Prod"}, {"": "prod"}, {"a/../b": "x"}} {
		if _, err := policy.NewEnvironments(bad); err == nil {
			t.Errorf("NewEnvironments(%v) accepted", bad)
		}
	}
}

func TestLintEnvironments(t *testing.T) {
	envs, err := policy.NewEnvironments(map[string]string{"secret/data/prod": "prod", "secret/data/staging": "staging"})
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, `
path "secret/data/*" { capabilities = ["read"] }
path "secret/data/prod/db" {
  capabilities = ["read"]
  condition { environment_match = true }
}
path "secret/data/staging/*" { capabilities = ["read"] }
path "secret/data/+/app" { capabilities = ["read", "list"] }
path "secret/data/prod/x" {
  capabilities = ["read"]
  condition { claims = { environment = ["prod*"] } }
}`)
	got := policy.LintEnvironments(p, envs)
	if len(got) != 3 || !strings.Contains(got[0], `path "secret/data/*"`) || !strings.Contains(got[1], `"secret/data/+/app"`) ||
		!strings.Contains(got[2], `"secret/data/prod/x"`) {
		t.Errorf("LintEnvironments = %q", got)
	}
}
