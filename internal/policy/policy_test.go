package policy_test

import (
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/policy"
)

func compile(t testing.TB, ident *policy.Identity, texts ...string) *policy.ACL {
	t.Helper()
	var ps []*policy.Policy
	for _, text := range texts {
		ps = append(ps, mustParse(t, text))
	}
	acl, err := policy.Compile(ps, ident)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return acl
}

const kvTeamA = `path "secret/data/team-a/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }`

const listButDenyPrivate = `
path "foo/metadata/*" { capabilities = ["list", "read"] }
path "foo/metadata/private/*" { capabilities = ["deny"] }`

var alice = &policy.Identity{
	EntityID:       "e-123",
	EntityName:     "alice",
	EntityMetadata: map[string]string{"team": "team-a", "evil": "*"},
	Aliases: map[string]policy.Alias{
		"auth_userpass_1": {Name: "alice-up", Metadata: map[string]string{"region": "eu"}},
	},
}

func TestCheck(t *testing.T) {
	type params = map[string]any
	tests := []struct {
		name     string
		policies []string
		ident    *policy.Identity
		path     string
		op       policy.Operation
		params   params
		want     bool
	}{
		// Exact paths and globs.
		{"exact read", []string{`path "secret/x" { capabilities = ["read"] }`}, nil, "secret/x", policy.OpRead, nil, true},
		{"exact does not cover child", []string{`path "secret/x" { capabilities = ["read"] }`}, nil, "secret/x/y", policy.OpRead, nil, false},
		{"exact does not cover prefix", []string{`path "secret/xy" { capabilities = ["read"] }`}, nil, "secret/x", policy.OpRead, nil, false},
		{"glob covers child", []string{`path "secret/a/*" { capabilities = ["read"] }`}, nil, "secret/a/b/c", policy.OpRead, nil, true},
		{"glob dir does not cover bare dir name", []string{`path "secret/a/*" { capabilities = ["read"] }`}, nil, "secret/a", policy.OpRead, nil, false},
		{"partial segment glob", []string{`path "secret/team*" { capabilities = ["read"] }`}, nil, "secret/team-b/x", policy.OpRead, nil, true},
		{"star matches all", []string{`path "*" { capabilities = ["read"] }`}, nil, "sys/anything", policy.OpRead, nil, true},
		{"capability missing", []string{`path "secret/*" { capabilities = ["read"] }`}, nil, "secret/x", policy.OpUpdate, nil, false},
		{"no rule matches", []string{`path "secret/*" { capabilities = ["read"] }`}, nil, "other/x", policy.OpRead, nil, false},
		{"empty capabilities", []string{`path "secret/*" { }`}, nil, "secret/x", policy.OpRead, nil, false},
		{"unknown operation", []string{`path "*" { capabilities = ["read", "update"] }`}, nil, "secret/x", policy.Operation("help"), nil, false},
		{"no policies", nil, nil, "secret/x", policy.OpRead, nil, false},

		// "+" segments.
		{"plus one segment", []string{`path "secret/+/x" { capabilities = ["read"] }`}, nil, "secret/a/x", policy.OpRead, nil, true},
		{"plus not two segments", []string{`path "secret/+/x" { capabilities = ["read"] }`}, nil, "secret/a/b/x", policy.OpRead, nil, false},
		{"plus exact length", []string{`path "secret/+/x" { capabilities = ["read"] }`}, nil, "secret/a/x/y", policy.OpRead, nil, false},
		{"plus then glob", []string{`path "secret/+/x*" { capabilities = ["read"] }`}, nil, "secret/a/xy/z", policy.OpRead, nil, true},
		{"plus then glob prefix mismatch", []string{`path "secret/+/x*" { capabilities = ["read"] }`}, nil, "secret/a/y/x", policy.OpRead, nil, false},
		{"leading plus", []string{`path "+/data/*" { capabilities = ["read"] }`}, nil, "kv/data/a", policy.OpRead, nil, true},
		{"plus dir glob needs segment", []string{`path "secret/+/*" { capabilities = ["read"] }`}, nil, "secret/a", policy.OpRead, nil, false},
		{"plus matches trailing empty on list", []string{`path "secret/+" { capabilities = ["list"] }`}, nil, "secret/", policy.OpList, nil, true},

		// Deny wins on the same pattern; otherwise the most specific pattern decides.
		{"deny merged on same pattern", []string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/*" { capabilities = ["deny"] }`}, nil, "secret/x", policy.OpRead, nil, false},
		{"deny first then grant", []string{`path "secret/*" { capabilities = ["deny"] }`, `path "secret/*" { capabilities = ["read", "sudo"] }`}, nil, "secret/x", policy.OpRead, nil, false},
		{"deny in same policy twice", []string{"path \"secret/*\" { capabilities = [\"read\"] }\npath \"secret/*\" { capabilities = [\"deny\"] }"}, nil, "secret/x", policy.OpRead, nil, false},
		{"union on same pattern", []string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/*" { capabilities = ["update"] }`}, nil, "secret/x", policy.OpUpdate, nil, true},
		{"specific deny beats broad grant", []string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/data/*" { capabilities = ["deny"] }`}, nil, "secret/data/x", policy.OpRead, nil, false},
		{"specific grant beats broad deny", []string{`path "secret/*" { capabilities = ["deny"] }`, `path "secret/data/*" { capabilities = ["read"] }`}, nil, "secret/data/x", policy.OpRead, nil, true},
		{"exact beats glob deny", []string{`path "secret/*" { capabilities = ["deny"] }`, `path "secret/x" { capabilities = ["read"] }`}, nil, "secret/x", policy.OpRead, nil, true},
		{"exact beats plus", []string{`path "secret/+" { capabilities = ["deny"] }`, `path "secret/x" { capabilities = ["read"] }`}, nil, "secret/x", policy.OpRead, nil, true},
		{"later glob beats earlier plus", []string{`path "secret/data/*" { capabilities = ["read"] }`, `path "secret/+/x" { capabilities = ["deny"] }`}, nil, "secret/data/x", policy.OpRead, nil, true},
		{"later plus beats earlier glob", []string{`path "secret/*" { capabilities = ["deny"] }`, `path "secret/data/+" { capabilities = ["read"] }`}, nil, "secret/data/x", policy.OpRead, nil, true},
		{"tie: non-glob beats glob", []string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/+/x" { capabilities = ["update"] }`}, nil, "secret/a/x", policy.OpRead, nil, false},
		{"tie: fewer plus wins", []string{`path "a/+/+/d" { capabilities = ["read"] }`, `path "a/+/c/d" { capabilities = ["update"] }`}, nil, "a/b/c/d", policy.OpRead, nil, false},
		{"tie: longer wins", []string{`path "a/+/c*" { capabilities = ["read"] }`, `path "a/+/cd*" { capabilities = ["update"] }`}, nil, "a/x/cde", policy.OpRead, nil, false},
		{"tie: lexicographically larger wins", []string{`path "a/+/b/+" { capabilities = ["read"] }`, `path "a/+/+/c" { capabilities = ["update"] }`}, nil, "a/x/b/c", policy.OpRead, nil, true},
		{"longer prefix glob wins", []string{`path "secret/data/team*" { capabilities = ["deny"] }`, `path "secret/data/*" { capabilities = ["read"] }`}, nil, "secret/data/team-a", policy.OpRead, nil, false},

		// Sudo-only endpoints: the ACL reports sudo; callers require it (T12).
		{"sys/audit read", []string{`path "sys/audit" { capabilities = ["read"] }`}, nil, "sys/audit", policy.OpRead, nil, true},

		// Directory listing.
		{"list dir with slash", []string{`path "secret/metadata/*" { capabilities = ["list"] }`}, nil, "secret/metadata/", policy.OpList, nil, true},
		{"list dir without slash", []string{`path "secret/metadata/*" { capabilities = ["list"] }`}, nil, "secret/metadata", policy.OpList, nil, true},
		{"list exact rule without slash", []string{`path "secret/metadata/team" { capabilities = ["list"] }`}, nil, "secret/metadata/team/", policy.OpList, nil, true},
		{"read on dir needs read", []string{`path "secret/metadata/*" { capabilities = ["list"] }`}, nil, "secret/metadata/x", policy.OpRead, nil, false},
		// T09 in docs/security-tests.md: deny beats list.
		{"deny beats list: list private without slash", []string{listButDenyPrivate}, nil, "foo/metadata/private", policy.OpList, nil, false},
		{"deny beats list: list private with slash", []string{listButDenyPrivate}, nil, "foo/metadata/private/", policy.OpList, nil, false},
		{"deny beats list: list private child", []string{listButDenyPrivate}, nil, "foo/metadata/private/x/", policy.OpList, nil, false},
		{"deny beats list: read private child", []string{listButDenyPrivate}, nil, "foo/metadata/private/x", policy.OpRead, nil, false},
		{"deny beats list: list public", []string{listButDenyPrivate}, nil, "foo/metadata/public/", policy.OpList, nil, true},
		{"deny beats list: list root dir", []string{listButDenyPrivate}, nil, "foo/metadata", policy.OpList, nil, true},

		// T08 in docs/security-tests.md: KV v2 sibling endpoints each need their own grant.
		{"kv sibling: data allowed", []string{kvTeamA}, nil, "secret/data/team-a/x", policy.OpRead, nil, true},
		{"kv sibling: metadata", []string{kvTeamA}, nil, "secret/metadata/team-a/x", policy.OpRead, nil, false},
		{"kv sibling: metadata delete", []string{kvTeamA}, nil, "secret/metadata/team-a/x", policy.OpDelete, nil, false},
		{"kv sibling: delete", []string{kvTeamA}, nil, "secret/delete/team-a/x", policy.OpUpdate, nil, false},
		{"kv sibling: destroy", []string{kvTeamA}, nil, "secret/destroy/team-a/x", policy.OpUpdate, nil, false},
		{"kv sibling: undelete", []string{kvTeamA}, nil, "secret/undelete/team-a/x", policy.OpUpdate, nil, false},
		{"kv sibling: metadata list team-b", []string{kvTeamA}, nil, "secret/metadata/team-b", policy.OpList, nil, false},
		{"kv sibling: data team-b", []string{kvTeamA}, nil, "secret/data/team-b/x", policy.OpRead, nil, false},
		{"kv sibling: data team-a prefix sibling", []string{kvTeamA}, nil, "secret/data/team-ab/x", policy.OpRead, nil, false},

		// T07 in docs/security-tests.md: non-canonical paths are denied even under a catch-all grant.
		{"non-canonical: dotdot", []string{`path "*" { capabilities = ["read"] }`}, nil, "secret/data/team-a/../../sys/x", policy.OpRead, nil, false},
		{"non-canonical: double slash", []string{`path "*" { capabilities = ["read"] }`}, nil, "secret//x", policy.OpRead, nil, false},
		{"non-canonical: leading slash", []string{`path "*" { capabilities = ["read"] }`}, nil, "/secret/x", policy.OpRead, nil, false},
		{"non-canonical: nul", []string{`path "*" { capabilities = ["delete"] }`}, nil, "secret/x\x00", policy.OpDelete, nil, false},
		{"non-canonical: encoded dots", []string{`path "*" { capabilities = ["list"] }`}, nil, "secret/%2e%2e/", policy.OpList, nil, false},

		// Parameter constraints.
		{"allowed value", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = ["dev", "ops"] } }`}, nil, "a", policy.OpUpdate, params{"role": "ops"}, true},
		{"allowed value mismatch", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = ["dev", "ops"] } }`}, nil, "a", policy.OpUpdate, params{"role": "admin"}, false},
		{"allowed key not listed", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = [] } }`}, nil, "a", policy.OpUpdate, params{"role": "x", "ttl": "1h"}, false},
		{"allowed star any key", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "*" = [] } }`}, nil, "a", policy.OpUpdate, params{"anything": "x"}, true},
		{"allowed star plus constrained key", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "*" = [], "role" = ["dev"] } }`}, nil, "a", policy.OpUpdate, params{"other": 1.0, "role": "ops"}, false},
		{"allowed glob prefix", []string{`path "a" { capabilities = ["create"]
allowed_parameters = { "db" = ["prod-*"] } }`}, nil, "a", policy.OpCreate, params{"db": "prod-main"}, true},
		{"allowed glob suffix", []string{`path "a" { capabilities = ["create"]
allowed_parameters = { "db" = ["*-ro"] } }`}, nil, "a", policy.OpCreate, params{"db": "main-ro"}, true},
		{"allowed glob contains", []string{`path "a" { capabilities = ["create"]
allowed_parameters = { "db" = ["*mid*"] } }`}, nil, "a", policy.OpCreate, params{"db": "a-mid-b"}, true},
		{"allowed glob no match", []string{`path "a" { capabilities = ["create"]
allowed_parameters = { "db" = ["prod-*"] } }`}, nil, "a", policy.OpCreate, params{"db": "dev-prod-x"}, false},
		{"allowed lone star is literal", []string{`path "a" { capabilities = ["create"]
allowed_parameters = { "db" = ["*"] } }`}, nil, "a", policy.OpCreate, params{"db": "x"}, false},
		{"allowed number", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "ttl" = [10] } }`}, nil, "a", policy.OpUpdate, params{"ttl": 10.0}, true},
		{"allowed list all elements", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "p" = ["x", "y"] } }`}, nil, "a", policy.OpUpdate, params{"p": []any{"x", "y"}}, true},
		{"allowed list one element bad", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "p" = ["x", "y"] } }`}, nil, "a", policy.OpUpdate, params{"p": []any{"x", "z"}}, false},
		{"allowed map value not permitted", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "p" = ["x"] } }`}, nil, "a", policy.OpUpdate, params{"p": map[string]any{"x": "x"}}, false},
		{"denied any value", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "password" = [] } }`}, nil, "a", policy.OpUpdate, params{"password": "x"}, false},
		{"denied name case-insensitive", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "password" = [] } }`}, nil, "a", policy.OpUpdate, params{"PassWord": "x"}, false},
		{"denied specific value", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "role" = ["admin*"] } }`}, nil, "a", policy.OpUpdate, params{"role": "admin2"}, false},
		{"denied other value ok", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "role" = ["admin*"] } }`}, nil, "a", policy.OpUpdate, params{"role": "dev"}, true},
		{"denied value hidden in list", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "role" = ["admin"] } }`}, nil, "a", policy.OpUpdate, params{"role": []any{"dev", "admin"}}, false},
		{"denied value hidden in map", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "role" = ["admin"] } }`}, nil, "a", policy.OpUpdate, params{"role": map[string]any{"r": "admin"}}, false},
		{"denied star", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "*" = [] } }`}, nil, "a", policy.OpUpdate, params{"x": "y"}, false},
		{"denied star no params", []string{`path "a" { capabilities = ["update"]
denied_parameters = { "*" = [] } }`}, nil, "a", policy.OpUpdate, nil, true},
		{"denied beats allowed", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = [] }
denied_parameters = { "role" = ["admin"] } }`}, nil, "a", policy.OpUpdate, params{"role": "admin"}, false},
		{"required missing", []string{`path "a" { capabilities = ["update"]
required_parameters = ["reason"] }`}, nil, "a", policy.OpUpdate, params{"x": "y"}, false},
		{"required present", []string{`path "a" { capabilities = ["update"]
required_parameters = ["reason"] }`}, nil, "a", policy.OpUpdate, params{"Reason": "y"}, true},
		{"required missing no params", []string{`path "a" { capabilities = ["update"]
required_parameters = ["reason"] }`}, nil, "a", policy.OpUpdate, nil, false},
		{"params ignored on delete", []string{`path "a" { capabilities = ["delete"]
denied_parameters = { "*" = [] } }`}, nil, "a", policy.OpDelete, params{"x": "y"}, true},
		{"params checked on read", []string{`path "a" { capabilities = ["read"]
denied_parameters = { "version" = [] } }`}, nil, "a", policy.OpRead, params{"version": "1"}, false},
		{"allowed merged across policies", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = ["dev"] } }`, `path "a" { capabilities = ["update"]
allowed_parameters = { "role" = ["ops"] } }`}, nil, "a", policy.OpUpdate, params{"role": "ops"}, true},
		{"allowed merged empty wins", []string{`path "a" { capabilities = ["update"]
allowed_parameters = { "role" = ["dev"] } }`, `path "a" { capabilities = ["update"]
allowed_parameters = { "role" = [] } }`}, nil, "a", policy.OpUpdate, params{"role": "root"}, true},
		{"denied merged across policies", []string{`path "a" { capabilities = ["update"] }`, `path "a" { capabilities = ["update"]
denied_parameters = { "role" = ["admin"] } }`}, nil, "a", policy.OpUpdate, params{"role": "admin"}, false},

		// Identity templates (T10).
		{"template entity name", []string{`path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`}, alice, "secret/data/alice/x", policy.OpRead, nil, true},
		{"template other entity", []string{`path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`}, alice, "secret/data/bob/x", policy.OpRead, nil, false},
		{"template entity id in segment", []string{`path "secret/data/user-{{identity.entity.id}}" { capabilities = ["read"] }`}, alice, "secret/data/user-e-123", policy.OpRead, nil, true},
		{"template metadata", []string{`path "secret/data/{{identity.entity.metadata.team}}/*" { capabilities = ["read"] }`}, alice, "secret/data/team-a/x", policy.OpRead, nil, true},
		{"template alias name", []string{`path "secret/data/{{identity.entity.aliases.auth_userpass_1.name}}" { capabilities = ["read"] }`}, alice, "secret/data/alice-up", policy.OpRead, nil, true},
		{"template alias metadata", []string{`path "kv/{{ identity.entity.aliases.auth_userpass_1.metadata.region }}/*" { capabilities = ["read"] }`}, alice, "kv/eu/x", policy.OpRead, nil, true},
		{"template missing alias", []string{`path "secret/data/{{identity.entity.aliases.auth_other.name}}/*" { capabilities = ["read"] }`}, alice, "secret/data/alice/x", policy.OpRead, nil, false},
		{"template missing metadata", []string{`path "secret/data/{{identity.entity.metadata.nope}}/*" { capabilities = ["read"] }`}, alice, "secret/data/x", policy.OpRead, nil, false},
		{"template glob value dropped", []string{`path "secret/data/{{identity.entity.metadata.evil}}" { capabilities = ["read"] }`}, alice, "secret/data/x", policy.OpRead, nil, false},
		{"template no identity", []string{`path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`}, nil, "secret/data/alice/x", policy.OpRead, nil, false},
		{"template dropped leaves others", []string{`path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "secret/data/shared/*" { capabilities = ["read"] }`}, nil, "secret/data/shared/x", policy.OpRead, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acl := compile(t, tc.ident, tc.policies...)
			d := acl.Check(tc.path, tc.op, tc.params)
			if d.Allowed != tc.want {
				t.Errorf("Check(%q, %s, %v) = %+v, want Allowed=%v", tc.path, tc.op, tc.params, d, tc.want)
			}
		})
	}
	if len(tests) < 60 {
		t.Fatalf("only %d cases", len(tests))
	}
}

func TestCheckSudo(t *testing.T) {
	acl := compile(t, nil, `
path "sys/audit" { capabilities = ["read", "sudo"] }
path "sys/config/cors" { capabilities = ["read", "update"] }
path "sys/raw/*" { capabilities = ["read"] }`)
	tests := []struct {
		path           string
		op             policy.Operation
		allowed, sudo  bool
		wantCapability policy.Capability
	}{
		{"sys/audit", policy.OpRead, true, true, policy.CapRead | policy.CapSudo},
		{"sys/audit", policy.OpUpdate, false, true, policy.CapRead | policy.CapSudo},
		{"sys/config/cors", policy.OpUpdate, true, false, policy.CapRead | policy.CapUpdate},
		{"sys/raw/core/keyring", policy.OpRead, true, false, policy.CapRead},
		{"sys/mounts", policy.OpRead, false, false, 0},
	}
	for _, tc := range tests {
		d := acl.Check(tc.path, tc.op, nil)
		if d.Allowed != tc.allowed || d.Sudo != tc.sudo || d.Capabilities != tc.wantCapability {
			t.Errorf("Check(%q, %s) = %+v, want allowed=%v sudo=%v caps=%v", tc.path, tc.op, d, tc.allowed, tc.sudo, tc.wantCapability)
		}
	}
}

func TestCheckDeniedParamName(t *testing.T) {
	acl := compile(t, nil, `path "a" {
  capabilities = ["update"]
  denied_parameters = { "password" = [] }
}`)
	d := acl.Check("a", policy.OpUpdate, map[string]any{"password": "s3cr3t-value"})
	if d.Allowed || d.DeniedParam != "password" {
		t.Fatalf("Check = %+v, want denied on parameter name", d)
	}
}

func TestCapabilities(t *testing.T) {
	acl := compile(t, nil, `
path "secret/*" { capabilities = ["update", "read", "list", "sudo"] }
path "secret/private/*" { capabilities = ["deny"] }
path "secret/empty" { }`)
	tests := []struct {
		path string
		want []string
	}{
		{"secret/x", []string{"list", "read", "sudo", "update"}},
		{"secret/private/x", []string{"deny"}},
		{"secret/empty", []string{"deny"}},
		{"other", []string{"deny"}},
		{"secret/../sys", []string{"deny"}},
	}
	for _, tc := range tests {
		if got := acl.Capabilities(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("Capabilities(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	var nilACL *policy.ACL
	if got := nilACL.Capabilities("x"); !slices.Equal(got, []string{"deny"}) {
		t.Errorf("nil ACL Capabilities = %v", got)
	}
	if nilACL.Check("x", policy.OpRead, nil).Allowed {
		t.Error("nil ACL allowed a request")
	}
}

func TestWrappingTTLsMerge(t *testing.T) {
	acl := compile(t, nil,
		`path "sys/wrapping/wrap" { capabilities = ["update"]
min_wrapping_ttl = "1m"
max_wrapping_ttl = "1h" }`,
		`path "sys/wrapping/wrap" { capabilities = ["update"]
min_wrapping_ttl = "30s"
max_wrapping_ttl = "2h" }`)
	lo, hi := acl.WrappingTTLs("sys/wrapping/wrap")
	if lo.String() != "30s" || hi.String() != "2h0m0s" {
		t.Fatalf("WrappingTTLs = %v, %v; want 30s, 2h", lo, hi)
	}
}

// TestRootIsNotSpecial is T11 at this layer: a policy named "root" grants
// exactly what its rules say, and Compile never grants by name.
func TestRootIsNotSpecial(t *testing.T) {
	p, err := policy.Parse(policy.RootName, `path "secret/x" { capabilities = ["read"] }`)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acl.Check("sys/policies/acl/root", policy.OpUpdate, nil).Allowed {
		t.Fatal("policy named root granted access beyond its rules")
	}
	empty, _ := policy.Compile([]*policy.Policy{{Name: policy.RootName}}, nil)
	if got := empty.Capabilities("sys/raw"); !slices.Equal(got, []string{"deny"}) {
		t.Fatalf("empty root-named policy Capabilities = %v", got)
	}
}

func TestCompileRejectsInvalidRules(t *testing.T) {
	for _, path := range []string{"a/../b", "a/{{identity.nope}}", "a/*/b", ""} {
		p := &policy.Policy{Name: "manual", Rules: []policy.Rule{{Path: path, Capabilities: policy.CapRead}}}
		if _, err := policy.Compile([]*policy.Policy{p}, alice); err == nil {
			t.Errorf("Compile accepted rule path %q", path)
		}
	}
}

func TestHasAccessUnder(t *testing.T) {
	tests := []struct {
		rules  string
		prefix string
		want   bool
	}{
		{`path "secret/data/app/*" { capabilities = ["read"] }`, "secret/", true},
		{`path "secret/data/app/*" { capabilities = ["read"] }`, "kv/", false},
		{`path "secre*" { capabilities = ["read"] }`, "secret/", true},
		{`path "+/data/x" { capabilities = ["read"] }`, "secret/", true},
		{`path "secret/*" { capabilities = ["deny"] }`, "secret/", false},
		{`path "secret" { capabilities = ["read"] }`, "secret/", true},
		{`path "secretx/a" { capabilities = ["read"] }`, "secret/", false},
		{`path "*" { capabilities = ["list"] }`, "anything/", true},
	}
	for _, tt := range tests {
		p, err := policy.Parse("p", tt.rules)
		if err != nil {
			t.Fatal(err)
		}
		acl, err := policy.Compile([]*policy.Policy{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := acl.HasAccessUnder(tt.prefix); got != tt.want {
			t.Errorf("HasAccessUnder(%q) with %s = %v, want %v", tt.prefix, tt.rules, got, tt.want)
		}
	}
}
