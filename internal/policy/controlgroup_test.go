package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/policy"
)

func TestControlGroupParse(t *testing.T) {
	p := mustParse(t, `path "database/creds/prod" {
  capabilities = ["read"]
  control_group {
    max_ttl = "4h"
    factor "ops" { identity { group_names = ["ops"]  approvals = 2 } }
    factor "sec" { identity { group_names = ["security", "secops"] } }
  }
}
path "secret/*" { capabilities = ["read"] }`)
	want := &policy.ControlGroup{MaxTTL: 4 * time.Hour, Factors: []policy.ControlGroupFactor{
		{Name: "ops", GroupNames: []string{"ops"}, Approvals: 2},
		{Name: "sec", GroupNames: []string{"security", "secops"}, Approvals: 1},
	}}
	if diff := cmp.Diff(want, p.Rules[0].ControlGroup); diff != "" {
		t.Fatalf("control group (-want +got):\n%s", diff)
	}
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := acl.Check("database/creds/prod", policy.OpRead, nil); !d.Allowed || d.ControlGroup == nil || d.ControlGroup.TTL() != 4*time.Hour {
		t.Fatalf("Check = %+v, want allowed with the control group", d)
	}
	if d := acl.Check("secret/x", policy.OpRead, nil); d.ControlGroup != nil {
		t.Fatalf("secret/x has a control group: %+v", d.ControlGroup)
	}
	if d := acl.Check("database/creds/prod", policy.OpUpdate, nil); d.Allowed || d.ControlGroup != nil {
		t.Fatalf("a denied request carries a control group: %+v", d)
	}
	// The JSON form parses to the same stanza.
	j := mustParse(t, `{"path": {"database/creds/prod": {"capabilities": ["read"], "control_group": {"max_ttl": "4h",
	  "factor": {"ops": {"identity": {"group_names": ["ops"], "approvals": 2}}, "sec": {"identity": {"group_names": ["security", "secops"]}}}}}}}`)
	if diff := cmp.Diff(want, j.Rules[0].ControlGroup); diff != "" {
		t.Fatalf("JSON control group (-want +got):\n%s", diff)
	}
}

// TestControlGroupMergeStricter: merging a rule without a control group
// into one with it keeps the group; two groups require every factor.
func TestControlGroupMergeStricter(t *testing.T) {
	a := mustParse(t, `path "db/creds/prod" { capabilities = ["read"] control_group { max_ttl = "1h" factor "ops" { identity { group_names = ["ops"] approvals = 1 } } } }`)
	b := mustParse(t, `path "db/creds/prod" { capabilities = ["read", "list"] }
path "db/creds/prod" { capabilities = ["read"] control_group { max_ttl = "2h" factor "ops" { identity { group_names = ["dba"] approvals = 3 } } factor "sec" { identity { group_names = ["sec"] } } } }`)
	b.Name = "b"
	acl, err := policy.Compile([]*policy.Policy{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := acl.ControlGroup("db/creds/prod")
	want := &policy.ControlGroup{MaxTTL: 2 * time.Hour, Factors: []policy.ControlGroupFactor{
		{Name: "ops", GroupNames: []string{"ops", "dba"}, Approvals: 3},
		{Name: "sec", GroupNames: []string{"sec"}, Approvals: 1},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("merged (-want +got):\n%s", diff)
	}
	// A deny on the pattern drops it (nothing is allowed to approve).
	d := mustParse(t, `path "db/creds/prod" { capabilities = ["deny"] }`)
	d.Name = "d"
	acl, err = policy.Compile([]*policy.Policy{a, d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dec := acl.Check("db/creds/prod", policy.OpRead, nil); dec.Allowed || dec.ControlGroup != nil {
		t.Fatalf("deny: %+v", dec)
	}
}

func TestControlGroupParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no factor", `control_group { max_ttl = "1h" }`, "at least one factor"},
		{"no groups", `control_group { factor "a" { identity { approvals = 1 } } }`, "needs group_names"},
		{"zero approvals", `control_group { factor "a" { identity { group_names = ["g"] approvals = 0 } } }`, "approvals must be"},
		{"huge approvals", `control_group { factor "a" { identity { group_names = ["g"] approvals = 1000 } } }`, "approvals must be"},
		{"negative approvals", `control_group { factor "a" { identity { group_names = ["g"] approvals = -1 } } }`, "approvals must be"},
		{"unknown key", `control_group { factor "a" { identity { group_names = ["g"] } } extra = 1 }`, "unknown key"},
		{"unknown factor key", `control_group { factor "a" { mfa { } } }`, "unknown key"},
		{"unnamed factor", `control_group { factor { identity { group_names = ["g"] } } }`, "factor"},
		{"duplicate factor", `control_group { factor "a" { identity { group_names = ["g"] } } factor "a" { identity { group_names = ["h"] } } }`, "duplicate factor"},
		{"bad ttl", `control_group { max_ttl = "soon" factor "a" { identity { group_names = ["g"] } } }`, "malformed duration"},
		{"not a block", `control_group = "x"`, "must be a block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("p", `path "a" { capabilities = ["read"] `+tc.body+` }`)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := policy.Parse("p", `path "a" { capabilities = ["deny"] control_group { factor "a" { identity { group_names = ["g"] } } } }`); err == nil {
		t.Fatal("a deny rule with a control group parsed")
	}
}

// FuzzControlGroup: a control_group stanza either fails to parse with a
// ParseError or round-trips through Format, and the compiled ACL reports
// a group (with every factor needing at least one approval) on an allowed
// request whenever the rule has one: a stanza is never silently dropped.
func FuzzControlGroup(f *testing.F) {
	f.Add(`max_ttl = "4h" factor "ops" { identity { group_names = ["ops"] approvals = 2 } }`)
	f.Add(`factor "a" { identity { group_names = ["x", "y"] } } factor "b" { identity { group_names = ["z"] approvals = "3" } }`)
	f.Add(`max_ttl = 3600 factor "ops" { identity { group_names = [] } }`)
	f.Fuzz(func(t *testing.T, body string) {
		text := `path "db/creds/prod" { capabilities = ["read"] control_group { ` + body + ` } }`
		checkRoundTrip(t, text, false)
		p, err := policy.Parse("fuzz", text)
		if err != nil {
			return
		}
		var cg *policy.ControlGroup
		for _, r := range p.Rules {
			if r.Path == "db/creds/prod" && r.ControlGroup != nil {
				cg = r.ControlGroup
			}
		}
		if cg == nil {
			return // the body closed the stanza early: another rule shape
		}
		acl, err := policy.Compile([]*policy.Policy{p}, nil)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		d := acl.Check("db/creds/prod", policy.OpRead, nil)
		if d.Allowed && d.ControlGroup == nil {
			t.Fatalf("control group dropped for %q", body)
		}
		if d.ControlGroup != nil {
			for _, fa := range d.ControlGroup.Factors {
				if fa.Approvals < 1 || len(fa.GroupNames) == 0 {
					t.Fatalf("factor %+v needs no approval, for %q", fa, body)
				}
			}
		}
	})
}
