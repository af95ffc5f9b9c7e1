package policy_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/policy"
)

// Group templates render from the groups the entity is in; an unknown
// group matches nothing, and a malformed expression does not parse.
func TestGroupTemplates(t *testing.T) {
	p := mustParse(t, `
path "secret/data/gid/{{identity.groups.names.ops.id}}" { capabilities = ["read"] }
path "secret/data/gname/{{identity.groups.ids.g-1.name}}/*" { capabilities = ["read"] }
path "secret/data/dotted/{{identity.groups.names.team.eu.id}}" { capabilities = ["read"] }`)
	ident := &policy.Identity{EntityID: "e", Groups: map[string]string{"g-1": "ops", "g-2": "team.eu"}}
	acl, err := policy.Compile([]*policy.Policy{p}, ident)
	if err != nil {
		t.Fatal(err)
	}
	for probe, want := range map[string]bool{
		"secret/data/gid/g-1":         true,
		"secret/data/gid/g-2":         false,
		"secret/data/gname/ops/x":     true,
		"secret/data/gname/team.eu/x": false,
		"secret/data/dotted/g-2":      true,
	} {
		if got := acl.Check(probe, policy.OpRead, nil).Allowed; got != want {
			t.Errorf("Check(%q) = %v, want %v", probe, got, want)
		}
	}
	none, err := policy.Compile([]*policy.Policy{p}, &policy.Identity{EntityID: "e"})
	if err != nil {
		t.Fatal(err)
	}
	for _, probe := range []string{"secret/data/gid/g-1", "secret/data/gname/ops/x", "secret/data/gid/"} {
		if none.Check(probe, policy.OpRead, nil).Allowed {
			t.Errorf("without groups, Check(%q) allowed", probe)
		}
	}
	for _, bad := range []string{"identity.groups.names.ops", "identity.groups.names..id", "identity.groups.ids.x.id",
		"identity.groups.ids.x", "identity.groups.names.ops.name", "identity.groups.x"} {
		if _, err := policy.Parse("bad", `path "a/{{`+bad+`}}" { capabilities = ["read"] }`); err == nil {
			t.Errorf("Parse accepted {{%s}}", bad)
		}
	}
}

// FuzzGroupTemplateNeverWidens: whatever a group's name or id, a group
// template grants only the literal rendering of it.
func FuzzGroupTemplateNeverWidens(f *testing.F) {
	for _, s := range []string{"ops", "*", "a/b", "..", "+", "a,b", "{{identity.entity.id}}", "", "team.eu"} {
		f.Add(s, "g-1", "secret/data/gname/ops/x")
	}
	p := mustParse(f, `path "secret/data/gname/{{identity.groups.ids.g-1.name}}/*" { capabilities = ["read"] }
path "secret/data/gid/{{identity.groups.names.ops.id}}" { capabilities = ["read"] }`)
	f.Fuzz(func(t *testing.T, name, id, probe string) {
		groups := map[string]string{"g-1": name, id: "ops"} // id may replace g-1
		acl, err := policy.Compile([]*policy.Policy{p}, &policy.Identity{Groups: groups})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if !acl.Check(probe, policy.OpRead, nil).Allowed {
			return
		}
		// The literal renderings the identity holds: the name of g-1, and
		// an id of a group called "ops".
		var rendered string
		if n, ok := groups["g-1"]; ok && strings.HasPrefix(probe, "secret/data/gname/"+n+"/") {
			rendered = n
		}
		for gid, n := range groups {
			if n == "ops" && probe == "secret/data/gid/"+gid {
				rendered = gid
			}
		}
		if rendered == "" {
			t.Fatalf("groups %q granted read on %q", groups, probe)
		}
		if strings.ContainsAny(rendered, "*+,{}\\") || strings.Contains(rendered, "..") {
			t.Fatalf("unsafe value %q was rendered (granted %q)", rendered, probe)
		}
	})
}
