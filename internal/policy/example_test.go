package policy_test

import (
	"fmt"

	"github.com/keyward/keyward/internal/policy"
)

func Example() {
	p, err := policy.Parse("team-a", `
path "secret/data/team-a/*" {
  capabilities = ["read", "update"]
}
path "secret/data/team-a/admin/*" {
  capabilities = ["deny"]
}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	acl, err := policy.Compile([]*policy.Policy{policy.Default(), p}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The HTTP layer canonicalises first; traversal never reaches the ACL.
	if _, err := policy.CleanRawPath("secret/data/team-a/%2e%2e/team-b/x"); err != nil {
		fmt.Println(err)
	}
	path, _ := policy.CleanPath("/secret/data/team-a/db")
	fmt.Println(acl.Check(path, policy.OpRead, nil).Allowed)
	fmt.Println(acl.Check("secret/data/team-a/admin/root", policy.OpRead, nil).Allowed)
	fmt.Println(acl.Capabilities("secret/data/team-a/db"))
	// Output:
	// invalid path "secret/data/team-a/../team-b/x": dot segment
	// true
	// false
	// [read update]
}

// A grant that holds only for callers whose environment matches the
// path's, as the core fills the request context.
func ExampleACL_CheckRequest() {
	p, err := policy.Parse("deploy", `
path "kv-prod/data/*" {
  capabilities = ["read"]
  condition { environment_match = true }
}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, env := range []string{"staging", "prod"} {
		rc := &policy.RequestContext{Environment: env, PathEnvironment: "prod"}
		d := acl.CheckRequest("kv-prod/data/db", policy.OpRead, nil, nil, rc)
		fmt.Println(env, d.Allowed)
	}
	fmt.Println(acl.Explain("kv-prod/data/db", policy.OpRead, nil, &policy.RequestContext{Environment: "staging", PathEnvironment: "prod"}).Reason)
	// Output:
	// staging false
	// prod true
	// denied: pattern "kv-prod/data/*" grants read only under conditions, and none held: policy "deploy": environment_match: caller environment "staging", path environment "prod"
}
