package policy_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/policy"
)

// A conditional rule's settings apply only while its condition holds: its
// parameter constraints and wrapping bounds must not loosen an
// unconditional rule on the same path when the condition fails (the
// unconditional grant keeps its own constraints), and must hold when it
// does.
func TestConditionalRuleDoesNotLoosenOthers(t *testing.T) {
	strict, err := policy.Parse("strict", `
path "db/roles/app" {
  capabilities = ["update"]
  allowed_parameters = { "role" = ["readonly"] }
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "5m"
}`)
	if err != nil {
		t.Fatal(err)
	}
	office, err := policy.Parse("office", `
path "db/roles/app" {
  capabilities = ["update"]
  allowed_parameters = { "role" = [] }
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "24h"
  condition { source_cidrs = ["10.0.0.0/8"] }
}`)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := policy.Compile([]*policy.Policy{strict, office}, nil)
	if err != nil {
		t.Fatal(err)
	}
	outside := &policy.RequestContext{RemoteAddr: netip.MustParseAddr("192.0.2.7"), Time: time.Now()}
	inside := &policy.RequestContext{RemoteAddr: netip.MustParseAddr("10.1.2.3"), Time: time.Now()}
	admin := map[string]any{"role": "admin"}
	if d := acl.CheckRequest("db/roles/app", policy.OpUpdate, admin, nil, outside); d.Allowed {
		t.Errorf("from outside the office: role=admin allowed through the failing condition's allowed_parameters")
	}
	if d := acl.CheckRequest("db/roles/app", policy.OpUpdate, map[string]any{"role": "readonly"}, nil, outside); !d.Allowed {
		t.Errorf("from outside the office: role=readonly refused, want the strict grant: %+v", d)
	}
	if d := acl.CheckRequest("db/roles/app", policy.OpUpdate, admin, nil, inside); !d.Allowed {
		t.Errorf("from the office: role=admin refused, want the conditional grant: %+v", d)
	}
	if minW, maxW := acl.WrappingTTLs("db/roles/app"); minW != time.Minute || maxW != 5*time.Minute {
		t.Errorf("wrapping bounds = %s..%s, want the unconditional 1m..5m (a conditional rule may not widen them)", minW, maxW)
	}
}
