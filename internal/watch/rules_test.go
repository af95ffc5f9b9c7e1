package watch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	base, _ := DefaultRule(RuleOffHours)
	r, err := ParseRule(base, map[string]any{"business_hours": "22:00-06:00", "time_zone": "America/New_York",
		"weekdays": []any{"mon", "Tuesday"}, "severity": "high", "contain": []any{"revoke-token"}, "dry_run": true})
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 12, 7, 23, 0, 0, 0, ny), true},  // Monday night shift
		{time.Date(2026, 12, 8, 3, 0, 0, 0, ny), true},   // Monday's shift past midnight
		{time.Date(2026, 12, 8, 12, 0, 0, 0, ny), false}, // Tuesday noon
		{time.Date(2026, 12, 9, 3, 0, 0, 0, ny), true},   // Wednesday 03:00 is Tuesday's shift
		{time.Date(2026, 12, 10, 3, 0, 0, 0, ny), false}, // Thursday 03:00 is Wednesday's, not a working day
	} {
		if got := r.inBusinessHours(tt.at.UTC()); got != tt.want {
			t.Errorf("inBusinessHours(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
	for _, bad := range []map[string]any{
		{"business_hours": "9-9"}, {"business_hours": "25:00-26:00"}, {"business_hours": "nine-five"},
		{"time_zone": "Mars/Olympus"}, {"weekdays": []any{"funday"}}, {"severity": "extreme"},
		{"contain": []any{"nuke"}}, {"allowed_cidrs": []any{"10.0.0.0/33"}}, {"paths": []any{"a*b"}},
		{"threshold": -1}, {"window": "0s"}, {"unknown_field": 1},
	} {
		if _, err := ParseRule(base, bad); err == nil {
			t.Errorf("ParseRule(%v) accepted", bad)
		}
	}
	st, _ := DefaultRule(RuleStolenToken)
	if _, err := ParseRule(st, map[string]any{"threshold": 1}); err == nil || !strings.Contains(err.Error(), "2 networks") {
		t.Errorf("stolen-token threshold 1: %v", err)
	}
	// A stored rule reads back the same.
	data, _ := json.Marshal(&r)
	back, err := DecodeRule(RuleOffHours, data)
	if err != nil || back.BusinessHours != r.BusinessHours || back.days != r.days || back.Severity != SeverityHigh {
		t.Errorf("DecodeRule = %+v, %v", back, err)
	}
}

func TestWindowBounded(t *testing.T) {
	var w window
	t0 := time.Unix(0, 0)
	for i := 0; i < 3*maxWindowKeys; i++ {
		w.add(string(rune(i)), t0.Add(time.Duration(i)*time.Millisecond), time.Hour)
	}
	if len(w.seen) > maxWindowKeys {
		t.Errorf("window holds %d keys", len(w.seen))
	}
	if n := w.add("late", t0.Add(3*time.Hour), time.Minute); n != 1 {
		t.Errorf("after the window passed, count = %d", n)
	}
}

func TestCanaryMatch(t *testing.T) {
	s := newCanarySet([]Canary{{Path: "secret/app/aws"}, {Path: "kv/team/db"}, {Path: "database/creds/bait"}})
	for path, mount := range map[string]string{"secret/data/app/aws": "secret/", "kv/team/db": "kv/", "kv/team/data/db": "kv/team/",
		"database/creds/bait": "database/"} {
		if _, ok := s.match(&Event{Path: path, Mount: mount}); !ok {
			t.Errorf("%s not matched", path)
		}
	}
	for _, path := range []string{"secret/metadata/app/aws", "secret/data/app/aws2", "secret/data/app"} {
		if _, ok := s.match(&Event{Path: path, Mount: "secret/"}); ok {
			t.Errorf("%s matched", path)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	f.Add(`{"business_hours":"09:00-17:00","time_zone":"Europe/Berlin","weekdays":["mon"]}`)
	f.Add(`{"threshold":5,"window":"30s","allowed_cidrs":["10.0.0.0/8","::1"]}`)
	f.Add(`{"paths":["secret/data/prod/*"],"contain":["seal"],"dry_run":true,"severity":"critical"}`)
	f.Add(`{"business_hours":"23:59-00:01","weekdays":["s"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var data map[string]any
		if json.Unmarshal([]byte(body), &data) != nil {
			return
		}
		for _, name := range Rules {
			base, _ := DefaultRule(name)
			r, err := ParseRule(base, data)
			if err != nil {
				continue
			}
			raw, err := json.Marshal(&r)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if _, err := DecodeRule(name, raw); err != nil {
				t.Fatalf("a parsed rule does not read back: %v (%s)", err, raw)
			}
			r.inBusinessHours(time.Unix(1e9, 0))
		}
		_, _ = CleanCanaryPath(body)
	})
}

func TestRoleWidening(t *testing.T) {
	before := map[string]any{"bound_audiences": []any{"keyward"}, "bound_claims": map[string]any{"repo": []any{"a"}, "env": "prod"},
		"token_bound_cidrs": []any{"10.0.0.0/8"}, "token_policies": []any{"app"}, "bound_subject": "repo:x"}
	same := map[string]any{"bound_audiences": []any{"keyward"}, "bound_claims": map[string]any{"repo": []any{"a"}, "env": "prod"},
		"token_bound_cidrs": []any{}, "token_policies": []any{"app"}, "bound_subject": "repo:x"}
	same["token_bound_cidrs"] = []any{"10.0.0.0/8"}
	if got := roleWidening(before, same); len(got) != 0 {
		t.Errorf("unchanged role: %v", got)
	}
	after := map[string]any{"bound_audiences": []any{"keyward", "other"}, "bound_claims": map[string]any{"repo": []any{"a", "b"}},
		"token_bound_cidrs": []any{}, "token_policies": []any{"app", "root"}, "bound_subject": ""}
	got := strings.Join(roleWidening(before, after), "; ")
	for _, want := range []string{"bound_audiences loosened", "bound_claims.env removed", "bound_claims.repo widened",
		"bound_subject removed", "token_bound_cidrs removed", "token_policies added root"} {
		if !strings.Contains(got, want) {
			t.Errorf("roleWidening = %q, lacks %q", got, want)
		}
	}
}
