package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/policy"
)

func mustParse(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test", text)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return p
}

func TestParseHCLAndJSONAgree(t *testing.T) {
	hcl := `
# comment
path "secret/data/team-a/*" {
  capabilities = ["read", "list", "create"]
  allowed_parameters = {
    "Name" = ["a*", "b"]
    "*" = []
  }
  denied_parameters = {
    "password" = []
  }
  required_parameters = ["Name"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 3600
}
path "sys/audit" {
  capabilities = ["sudo", "read"]
}
`
	json := `{
  "path": {
    "secret/data/team-a/*": {
      "capabilities": ["read", "list", "create"],
      "allowed_parameters": {"Name": ["a*", "b"], "*": []},
      "denied_parameters": {"password": []},
      "required_parameters": ["Name"],
      "min_wrapping_ttl": "1m",
      "max_wrapping_ttl": 3600
    },
    "sys/audit": {"capabilities": ["sudo", "read"]}
  }
}`
	want := &policy.Policy{Name: "test", Rules: []policy.Rule{
		{
			Path:               "secret/data/team-a/*",
			Capabilities:       policy.CapRead | policy.CapList | policy.CapCreate,
			AllowedParameters:  map[string][]string{"name": {"a*", "b"}, "*": nil},
			DeniedParameters:   map[string][]string{"password": nil},
			RequiredParameters: []string{"name"},
			MinWrappingTTL:     time.Minute,
			MaxWrappingTTL:     time.Hour,
		},
		{Path: "sys/audit", Capabilities: policy.CapSudo | policy.CapRead},
	}}
	for name, text := range map[string]string{"hcl": hcl, "json": json} {
		t.Run(name, func(t *testing.T) {
			got := mustParse(t, text)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestParseSemantics(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []policy.Rule
	}{
		{"deny wipes other capabilities", `path "a" { capabilities = ["read", "deny", "sudo"] }`,
			[]policy.Rule{{Path: "a", Capabilities: policy.CapDeny}}},
		{"leading slash stripped", `path "/a/b" { capabilities = ["read"] }`,
			[]policy.Rule{{Path: "a/b", Capabilities: policy.CapRead}}},
		{"legacy write", `path "a/*" { policy = "write" }`,
			[]policy.Rule{{Path: "a/*", Capabilities: policy.CapCreate | policy.CapRead | policy.CapUpdate | policy.CapDelete | policy.CapList}}},
		{"legacy deny", `path "a/*" { policy = "deny" }`,
			[]policy.Rule{{Path: "a/*", Capabilities: policy.CapDeny}}},
		{"no capabilities", `path "a" { }`, []policy.Rule{{Path: "a"}}},
		{"comment key ignored", `path "a" { comment = "x"
capabilities = ["list"] }`, []policy.Rule{{Path: "a", Capabilities: policy.CapList}}},
		{"template path", `path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`,
			[]policy.Rule{{Path: "secret/data/{{identity.entity.name}}/*", Capabilities: policy.CapRead}}},
		{"numeric and bool values", `path "a" {
  capabilities = ["update"]
  allowed_parameters = { "ttl" = [10, 1.5, true] }
}`, []policy.Rule{{Path: "a", Capabilities: policy.CapUpdate, AllowedParameters: map[string][]string{"ttl": {"10", "1.5", "true"}}}}},
		{"plus segment and glob", `path "+/x/+/y*" { capabilities = ["read"] }`,
			[]policy.Rule{{Path: "+/x/+/y*", Capabilities: policy.CapRead}}},
		{"empty policy", ``, nil},
		{"dot-prefix glob", `path "secret/.*" { capabilities = ["read"] }`,
			[]policy.Rule{{Path: "secret/.*", Capabilities: policy.CapRead}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.text)
			if diff := cmp.Diff(tc.want, got.Rules); diff != "" {
				t.Errorf("Parse(%q) rules mismatch (-want +got):\n%s", tc.text, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantLine int
	}{
		{"unknown capability", "path \"a\" {\n  capabilities = [\"read\", \"subscribe\"]\n}", 2},
		{"capability case", "path \"a\" {\n  capabilities = [\"Read\"]\n}", 2},
		{"capabilities not list", "path \"a\" {\n  capabilities = \"read\"\n}", 2},
		{"unknown key", "path \"a\" {\n  capabilities = []\n  sentinel_policies = []\n}", 3},
		{"unknown top key", "\n\nfoo \"a\" {}", 3},
		{"duplicate key", "path \"a\" {\n capabilities = []\n capabilities = [\"read\"]\n}", 3},
		{"glob in middle", "path \"a/*/b\" { capabilities = [] }", 1},
		{"plus in segment", "path \"a/b+/c\" { capabilities = [] }", 1},
		{"traversal", "path \"a/../b\" { capabilities = [] }", 1},
		{"double slash", "path \"a//b\" { capabilities = [] }", 1},
		{"empty path", "path \"\" { capabilities = [] }", 1},
		{"unknown template", "path \"a/{{identity.groups.names}}\" { capabilities = [] }", 1},
		{"unclosed template", "path \"a/{{identity.entity.id\" { capabilities = [] }", 1},
		{"stray brace", "path \"a/{b\" { capabilities = [] }", 1},
		{"bad ttl", "path \"a\" {\n min_wrapping_ttl = \"soon\"\n}", 2},
		{"negative ttl", "path \"a\" {\n min_wrapping_ttl = \"-1s\"\n}", 2},
		{"min above max", "path \"a\" {\n min_wrapping_ttl = \"2h\"\n max_wrapping_ttl = \"1h\"\n}", 1},
		{"params not map", "path \"a\" {\n allowed_parameters = [\"x\"]\n}", 2},
		{"param values not list", "path \"a\" {\n allowed_parameters = { \"x\" = \"y\" }\n}", 2},
		{"syntax", "path \"a\" {\n capabilities = [\n}", 3},
		{"path not block", "path = \"a\"", 1},
		{"interpolation", "path \"a\" {\n allowed_parameters = { \"x\" = [\"${foo}\"] }\n}", 2},
		{"legacy unknown", "path \"a\" {\n policy = \"admin\"\n}", 2},
		{"deep nesting", "path \"a\" { x = " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + " }", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Parse("test", tc.text)
			var pe *policy.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %+v, %v; want *ParseError", tc.text, p, err)
			}
			if pe.Line != tc.wantLine {
				t.Errorf("Parse(%q) error %q at line %d, want line %d", tc.text, err, pe.Line, tc.wantLine)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("too large", func(t *testing.T) {
		text := "# " + strings.Repeat("x", policy.MaxPolicyBytes)
		if _, err := policy.Parse("test", text); err == nil {
			t.Fatal("Parse accepted text over the size limit")
		}
	})
	t.Run("too many blocks", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i <= policy.MaxPathBlocks; i++ {
			fmt.Fprintf(&b, "path \"p/%d\" { capabilities = [\"read\"] }\n", i)
		}
		_, err := policy.Parse("test", b.String())
		var pe *policy.ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "path blocks") {
			t.Fatalf("Parse with %d blocks: %v, want path block limit error", policy.MaxPathBlocks+1, err)
		}
	})
	t.Run("at block limit", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < policy.MaxPathBlocks; i++ {
			fmt.Fprintf(&b, "path \"p/%d\" { capabilities = [\"read\"] }\n", i)
		}
		if _, err := policy.Parse("test", b.String()); err != nil {
			t.Fatalf("Parse with %d blocks: %v", policy.MaxPathBlocks, err)
		}
	})
	t.Run("error does not echo content", func(t *testing.T) {
		long := strings.Repeat("s3cr3t", 1000)
		_, err := policy.Parse("test", "path \"a\" {\n capabilities = [\""+long+"\"]\n}")
		if err == nil || len(err.Error()) > 200 {
			t.Fatalf("Parse error = %v (%d bytes), want a short error", err, len(fmt.Sprint(err)))
		}
	})
}

// TestValidName is T11: no spelling of root other than "root" itself is a
// valid name, and nothing is normalised.
func TestValidName(t *testing.T) {
	valid := []string{"root", "default", "team-a.read_only", "0abc", strings.Repeat("a", 128)}
	invalid := []string{"", "Root", "ROOT", " root", "root ", "root\u200b", "r\u043e\u043et", "-root", ".root", "_x",
		"a/b", "a b", "a:b", strings.Repeat("a", 129), "ro\x00ot", "caf\u00e9"}
	for _, n := range valid {
		if err := policy.ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range invalid {
		if err := policy.ValidName(n); err == nil {
			t.Errorf("ValidName(%q) = nil, want error", n)
		}
		if _, err := policy.Parse(n, `path "a" { capabilities = ["read"] }`); err == nil {
			t.Errorf("Parse(%q, ...) accepted an invalid name", n)
		}
	}
}

func TestFormat(t *testing.T) {
	in := `path "b" { capabilities = ["update","read"]
denied_parameters = { "z" = [], "A" = ["x\"y"] } }
# c
path "a/*" { policy = "read"
 max_wrapping_ttl = 90 }`
	want := `path "b" {
  capabilities = ["read", "update"]
  denied_parameters = {
    "a" = ["x\"y"]
    "z" = []
  }
}

path "a/*" {
  capabilities = ["list", "read"]
  max_wrapping_ttl = "1m30s"
}
`
	got, err := policy.Format(in)
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	if got != want {
		t.Fatalf("Format() =\n%s\nwant\n%s", got, want)
	}
	again, err := policy.Format(got)
	if err != nil || again != got {
		t.Fatalf("Format is not idempotent: %v\n%s", err, again)
	}
	if _, err := policy.Format(`path "a" { capabilities = ["nope"] }`); err == nil {
		t.Fatal("Format accepted an invalid policy")
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := policy.Default()
	if p.Name != policy.DefaultName || len(p.Rules) < 15 {
		t.Fatalf("Default() = %q with %d rules", p.Name, len(p.Rules))
	}
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		path string
		op   policy.Operation
		want bool
	}{
		{"auth/token/lookup-self", policy.OpRead, true},
		{"auth/token/renew-self", policy.OpUpdate, true},
		{"auth/token/revoke-self", policy.OpUpdate, true},
		{"sys/capabilities-self", policy.OpUpdate, true},
		{"sys/internal/ui/resultant-acl", policy.OpRead, true},
		{"sys/wrapping/unwrap", policy.OpUpdate, true},
		{"cubbyhole/x", policy.OpCreate, true},
		{"cubbyhole/", policy.OpList, true},
		{"sys/tools/hash/sha2-256", policy.OpUpdate, true},
		{"sys/leases/lookup", policy.OpUpdate, true},
		{"identity/oidc/provider/p1/authorize", policy.OpRead, true},
		{"identity/oidc/provider/p1/authorize", policy.OpDelete, false},
		{"auth/token/create", policy.OpUpdate, false},
		{"sys/policies/acl/root", policy.OpUpdate, false},
		{"secret/data/x", policy.OpRead, false},
		{"identity/entity/id/e1", policy.OpRead, false}, // templated rule dropped without identity
	}
	for _, c := range checks {
		if got := acl.Check(c.path, c.op, nil).Allowed; got != c.want {
			t.Errorf("default: Check(%q, %s) = %v, want %v", c.path, c.op, got, c.want)
		}
	}
}
