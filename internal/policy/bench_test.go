package policy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/policy"
)

// benchPolicy returns a realistic policy of about 20 rules for team i.
func benchPolicy(tb testing.TB, i int) *policy.Policy {
	tb.Helper()
	var b strings.Builder
	rules := []struct{ path, caps string }{
		{"secret/data/team-%d/*", `"create", "read", "update", "delete"`},
		{"secret/metadata/team-%d/*", `"list", "read"`},
		{"secret/delete/team-%d/*", `"update"`},
		{"secret/undelete/team-%d/*", `"update"`},
		{"secret/data/team-%d/private/*", `"deny"`},
		{"kv/+/team-%d/config", `"read"`},
		{"kv/+/team-%d/apps/+/env", `"read", "update"`},
		{"database/creds/team-%d-ro", `"read"`},
		{"database/creds/team-%d-rw", `"read"`},
		{"pki/issue/team-%d", `"update"`},
		{"transit/encrypt/team-%d", `"update"`},
		{"transit/decrypt/team-%d", `"update"`},
		{"aws/creds/team-%d-*", `"read"`},
		{"sys/leases/lookup/team-%d/*", `"update", "list"`},
		{"auth/approle/role/team-%d/secret-id", `"update"`},
		{"auth/approle/role/team-%d/role-id", `"read"`},
		{"identity/group/name/team-%d", `"read"`},
		{"ssh/sign/team-%d", `"update"`},
		{"cubbyhole/team-%d/*", `"create", "read", "update", "delete", "list"`},
		{"sys/policies/acl/team-%d-*", `"read", "list"`},
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "path %q { capabilities = [%s] }\n", fmt.Sprintf(r.path, i), r.caps)
	}
	p, err := policy.Parse(fmt.Sprintf("team-%d", i), b.String())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		ps := []*policy.Policy{policy.Default()}
		for i := range n {
			ps = append(ps, benchPolicy(b, i))
		}
		acl, err := policy.Compile(ps, nil)
		if err != nil {
			b.Fatal(err)
		}
		probes := []struct {
			path string
			op   policy.Operation
		}{
			{"secret/data/team-0/app/db", policy.OpRead},     // prefix glob
			{"secret/data/team-0/private/x", policy.OpRead},  // longer deny glob
			{"kv/prod/team-0/config", policy.OpRead},         // + segment
			{"kv/prod/team-0/apps/web/env", policy.OpUpdate}, // two + segments
			{"database/creds/team-0-ro", policy.OpRead},      // exact
			{"auth/token/lookup-self", policy.OpRead},        // exact, default policy
			{"secret/data/team-9999/x", policy.OpRead},       // miss
			{"sys/policies/acl/root", policy.OpUpdate},       // miss
			{"secret/metadata/team-0/", policy.OpList},       // list with slash
			{"aws/creds/team-0-deploy", policy.OpRead},       // partial-segment glob
		}
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				pr := probes[i%len(probes)]
				acl.Check(pr.path, pr.op, nil)
				i++
			}
		})
	}
}

func BenchmarkCheckParams(b *testing.B) {
	p := mustParse(b, `path "database/roles/*" {
  capabilities = ["update"]
  allowed_parameters = { "db_name" = ["prod-*"], "ttl" = [] }
  denied_parameters = { "revocation_statements" = [] }
}`)
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		b.Fatal(err)
	}
	params := map[string]any{"db_name": "prod-main", "ttl": "1h"}
	b.ReportAllocs()
	for b.Loop() {
		acl.Check("database/roles/web", policy.OpUpdate, params)
	}
}

func BenchmarkCompile100(b *testing.B) {
	var ps []*policy.Policy
	for i := range 100 {
		ps = append(ps, benchPolicy(b, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Compile(ps, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	text := benchPolicy(b, 1).Format()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Parse("bench", text); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchPoliciesBehave(t *testing.T) {
	acl, err := policy.Compile([]*policy.Policy{benchPolicy(t, 0), benchPolicy(t, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"secret/data/team-0/app/db":    true,
		"secret/data/team-0/private/x": false,
		"kv/prod/team-1/config":        true,
		"kv/prod/team-2/config":        false,
		"aws/creds/team-1-deploy":      true,
	} {
		if got := acl.Check(path, policy.OpRead, nil).Allowed; got != want {
			t.Errorf("Check(%q, read) = %v, want %v", path, got, want)
		}
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	ps := []*policy.Policy{policy.Default()}
	for i := range 10 {
		ps = append(ps, benchPolicy(t, i))
	}
	acl, err := policy.Compile(ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"secret/data/team-3/app", "kv/prod/team-4/apps/web/env", "database/creds/team-1-ro", "nope/x"}
	dirs := []string{"secret/metadata/team-2/", "cubbyhole/", "nope/"} // LIST paths carry their "/"
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			acl.Check(p, policy.OpRead, nil)
		}
		for _, d := range dirs {
			acl.Check(d, policy.OpList, nil)
		}
		if _, err := policy.CleanPath("/secret/data/team-3/app"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Check/CleanPath allocated %v times per run, want 0", allocs)
	}
}

// BenchmarkCheckConditional measures a rule with a condition of every
// kind: it must not allocate.
func BenchmarkCheckConditional(b *testing.B) {
	p, err := policy.Parse("cond", `path "secret/data/prod/*" {
  capabilities = ["read"]
  condition {
    source_cidrs = ["10.0.0.0/8", "2001:db8::/32"]
    time_window {
      start     = "22:00"
      end       = "18:00"
      time_zone = "Europe/Berlin"
    }
    mfa_max_age       = "15m"
    group_names       = ["ops"]
    claims            = { environment = ["prod"], ref = ["refs/heads/*"] }
    max_token_ttl     = "1h"
    environment_match = true
  }
}`)
	if err != nil {
		b.Fatal(err)
	}
	acl, err := policy.Compile([]*policy.Policy{policy.Default(), p}, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rc := &policy.RequestContext{RemoteAddr: netip.MustParseAddr("10.1.2.3"), Time: now, MFATime: now.Add(-time.Minute),
		GroupNames: []string{"dev", "ops"}, Claims: map[string]string{"environment": "prod", "ref": "refs/heads/main"},
		TokenTTL: time.Hour, Environment: "prod", PathEnvironment: "prod"}
	b.ReportAllocs()
	for b.Loop() {
		if !acl.CheckRequest("secret/data/prod/db", policy.OpRead, nil, nil, rc).Allowed {
			b.Fatal("denied")
		}
	}
}
