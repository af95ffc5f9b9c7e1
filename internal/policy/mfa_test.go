package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/policy"
)

func TestMFAMethodsParseMergeDecide(t *testing.T) {
	a, err := policy.Parse("a", `
path "secret/data/prod/*" {
  capabilities = ["read"]
  mfa_methods  = ["totp-ops"]
}
path "secret/data/open" { capabilities = ["read"] }
`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.Parse("b", `
path "secret/data/prod/*" {
  capabilities = ["update"]
  mfa_methods  = ["hw", "totp-ops"]
}
`)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := policy.Compile([]*policy.Policy{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := acl.Check("secret/data/prod/db", policy.OpRead, nil)
	if !d.Allowed || !slices.Equal(d.MFAMethods, []string{"hw", "totp-ops"}) {
		t.Errorf("prod read = %+v, want allowed with [hw totp-ops]", d)
	}
	if d := acl.Check("secret/data/open", policy.OpRead, nil); !d.Allowed || d.MFAMethods != nil {
		t.Errorf("open read = %+v, want allowed without MFA", d)
	}
	// A deny wipes the requirement with every capability.
	c, _ := policy.Parse("c", `path "secret/data/prod/*" { capabilities = ["deny"] }`)
	acl, _ = policy.Compile([]*policy.Policy{a, c}, nil)
	if d := acl.Check("secret/data/prod/db", policy.OpRead, nil); d.Allowed || d.MFAMethods != nil {
		t.Errorf("denied read = %+v", d)
	}
	// Format keeps the list, and reparses equal.
	out := a.Format()
	if !strings.Contains(out, `mfa_methods = ["totp-ops"]`) {
		t.Errorf("Format lost mfa_methods:\n%s", out)
	}
}

func TestMFAMethodsRefused(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not a list", `mfa_methods = "totp"`},
		{"bad name", `mfa_methods = ["a/b"]`},
		{"empty name", `mfa_methods = [""]`},
		{"dot dot", `mfa_methods = [".."]`},
		{"duplicate", `mfa_methods = ["x", "x"]`},
		{"number", `mfa_methods = [1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("p", `path "secret/*" {
  capabilities = ["read"]
  `+tc.body+`
}`)
			if err == nil {
				t.Fatalf("Parse accepted %s", tc.body)
			}
		})
	}
}
