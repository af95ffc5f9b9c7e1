package policy_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/policy"
)

func seedPolicies(tb testing.TB) map[string]string {
	tb.Helper()
	files, err := filepath.Glob("testdata/policies/*")
	if err != nil || len(files) < 12 {
		tb.Fatalf("seed policies: %d files, %v", len(files), err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

func TestSeedPoliciesRoundTrip(t *testing.T) {
	for name, text := range seedPolicies(t) {
		t.Run(name, func(t *testing.T) {
			checkRoundTrip(t, text, true)
		})
	}
}

// checkRoundTrip asserts Format/Parse round-trips and that a parsed policy
// always compiles.
func checkRoundTrip(t *testing.T, text string, mustParse bool) {
	t.Helper()
	p, err := policy.Parse("fuzz", text)
	if err != nil {
		var pe *policy.ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("Parse error %T %v, want *ParseError", err, err)
		}
		if len(pe.Msg) > 300 {
			t.Fatalf("ParseError message is %d bytes", len(pe.Msg))
		}
		if mustParse {
			t.Fatalf("Parse: %v", err)
		}
		return
	}
	out := p.Format()
	q, err := policy.Parse("fuzz", out)
	if err != nil {
		t.Fatalf("Parse(Format()) = %v\ninput: %q\nformatted:\n%s", err, text, out)
	}
	if diff := cmp.Diff(p, q); diff != "" {
		t.Fatalf("round trip changed the policy (-parsed +reparsed):\n%s\ninput: %q", diff, text)
	}
	if again := q.Format(); again != out {
		t.Fatalf("Format not stable:\n%s\n---\n%s", out, again)
	}
	if _, err := policy.Compile([]*policy.Policy{p}, &policy.Identity{EntityID: "e", EntityName: "n"}); err != nil {
		t.Fatalf("Compile of a parsed policy: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, text := range seedPolicies(f) {
		f.Add(text)
	}
	f.Add(policy.DefaultPolicyText)
	f.Add(`path "a" { capabilities = ["read"] allowed_parameters = { "x\"y" = ["a\\b"] } }`)
	f.Fuzz(func(t *testing.T, text string) {
		checkRoundTrip(t, text, false)
	})
}

// TestTemplateInjection is T10: hostile identity values never broaden a
// templated rule.
func TestTemplateInjection(t *testing.T) {
	p := mustParse(t, `
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read", "list"] }
path "kv/+/{{identity.entity.metadata.team}}" { capabilities = ["read"] }
path "users/{{identity.entity.aliases.acc.name}}-home/*" { capabilities = ["read"] }`)
	hostile := []string{"*", "+", "..", ".", "", "a,b", "{{identity.entity.id}}", "a}}", "x\x00", "\u2024\u2024",
		"\uff0e\uff0e", "a\\b", "%2e%2e", "a*", "+/x", "/", "a/", "..a", "\xc0\xae", "x\ny"}
	probes := []string{"secret/data/x/y", "secret/data/a/b/c", "secret/data/", "secret/data/b/x", "secret/data/a,b/x",
		"kv/x/y", "kv/x/a/b", "users/x-home/y", "users/-home/y", "secret/data/*/x", "secret/data/+/x", "sys/policies/acl/root"}
	for _, v := range hostile {
		ident := &policy.Identity{EntityName: v, EntityMetadata: map[string]string{"team": v},
			Aliases: map[string]policy.Alias{"acc": {Name: v}}}
		acl, err := policy.Compile([]*policy.Policy{p}, ident)
		if err != nil {
			t.Fatalf("Compile with value %q: %v", v, err)
		}
		for _, probe := range probes {
			for _, op := range []policy.Operation{policy.OpRead, policy.OpList} {
				if d := acl.Check(probe, op, nil); d.Allowed {
					t.Errorf("value %q: Check(%q, %s) allowed", v, probe, op)
				}
			}
		}
	}
}

// TestTemplateMultiSegmentValue: a value with "/" (GitHub's repository
// claim "owner/repo") renders as a longer literal path and grants nothing
// beside it.
func TestTemplateMultiSegmentValue(t *testing.T) {
	p := mustParse(t, `path "secret/data/ci/{{identity.entity.metadata.repository}}/*" { capabilities = ["read"] }`)
	acl, err := policy.Compile([]*policy.Policy{p}, &policy.Identity{EntityMetadata: map[string]string{"repository": "octo/app"}})
	if err != nil {
		t.Fatal(err)
	}
	for probe, want := range map[string]bool{
		"secret/data/ci/octo/app/db":     true,
		"secret/data/ci/octo/app/x/y":    true,
		"secret/data/ci/octo/app-evil/x": false,
		"secret/data/ci/octo/other/db":   false,
		"secret/data/ci/octo/db":         false,
		"secret/data/ci/octo/app":        false,
	} {
		if got := acl.Check(probe, policy.OpRead, nil).Allowed; got != want {
			t.Errorf("Check(%q) = %v, want %v", probe, got, want)
		}
	}
}

// FuzzTemplateNeverWidens: whatever the identity value, the templated rule
// only grants paths under the literal rendering of that value.
func FuzzTemplateNeverWidens(f *testing.F) {
	for _, s := range []string{"alice", "*", "a/b", "..", "+", "a,b", "{{identity.entity.id}}", ""} {
		f.Add(s, "secret/data/alice/x")
	}
	p := mustParse(f, `path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "kv/+/{{identity.entity.metadata.team}}" { capabilities = ["read"] }`)
	f.Fuzz(func(t *testing.T, value, probe string) {
		ident := &policy.Identity{EntityName: value, EntityMetadata: map[string]string{"team": value}}
		acl, err := policy.Compile([]*policy.Policy{p}, ident)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if !acl.Check(probe, policy.OpRead, nil).Allowed {
			return
		}
		underName := strings.HasPrefix(probe, "secret/data/"+value+"/")
		// kv/+/VALUE: one wildcard segment, then exactly the value.
		kvMatch := false
		if rest, ok := strings.CutPrefix(probe, "kv/"); ok {
			if _, tail, ok := strings.Cut(rest, "/"); ok && tail == value {
				kvMatch = true
			}
		}
		if !underName && !kvMatch {
			t.Fatalf("value %q granted read on %q", value, probe)
		}
		if value == "" || strings.ContainsAny(value, "*+,{}\\") || strings.Contains(value, "..") ||
			strings.HasPrefix(value, "/") || strings.HasSuffix(value, "/") || strings.Contains(value, "//") {
			t.Fatalf("unsafe value %q was rendered (granted %q)", value, probe)
		}
	})
}

// FuzzCondition: whatever the condition block, a parsed rule round-trips
// through Format, and under any request context it never grants more than
// the same rule without conditions.
func FuzzCondition(f *testing.F) {
	f.Add(`source_cidrs = ["10.0.0.0/8"]`, "10.1.2.3", int64(1700000000), "prod", "ops")
	f.Add(`time_window { start = "22:00" end = "06:00" time_zone = "Europe/Berlin" weekdays = ["fri"] }`, "::1", int64(1774746000), "", "")
	f.Add(`mfa_max_age = "15m" claims = { environment = ["prod*"] } max_token_ttl = 3600`, "", int64(0), "staging", "")
	f.Add(`environment_match = true group_names = ["ops"] entity_ids = ["e"]`, "2001:db8::1", int64(-1), "prod", "ops")
	f.Fuzz(func(t *testing.T, cond, addr string, unix int64, env, group string) {
		text := "path \"a/*\" {\n  capabilities = [\"read\"]\n  condition {\n" + cond + "\n  }\n}\n"
		checkRoundTrip(t, text, false)
		p, err := policy.Parse("fuzz", text)
		if err != nil {
			return
		}
		acl, err := policy.Compile([]*policy.Policy{p}, nil)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		rc := &policy.RequestContext{Time: time.Unix(unix, 0), MFATime: time.Unix(unix-60, 0), Environment: env,
			PathEnvironment: env, GroupNames: []string{group}, EntityID: group, TokenTTL: time.Duration(unix),
			Claims: map[string]string{"environment": env}}
		rc.RemoteAddr, _ = netip.ParseAddr(addr)
		for _, probe := range []string{"a/x", "b/x", "a", "sys/policies/acl/root"} {
			for _, op := range []policy.Operation{policy.OpRead, policy.OpUpdate, policy.OpList} {
				d := acl.CheckRequest(probe, op, nil, nil, rc)
				if d.Allowed && (op != policy.OpRead || !strings.HasPrefix(probe, "a/")) {
					t.Fatalf("condition %q widened access: %s %s", cond, op, probe)
				}
				_ = acl.Explain(probe, op, nil, rc)
			}
		}
	})
}
