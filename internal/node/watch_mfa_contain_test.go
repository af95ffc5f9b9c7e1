package node_test

import (
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

// require-mfa containment is enforced: after a userpass user reads a
// canary under a rule containing require-mfa, the user's next login is
// held for MFA (Vault's mfa_requirement, no token), though no login
// enforcement covers it; another user logs in as before.
func TestDetectRequireMFAHoldsNextLogin(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	d.must(t, "POST", "sys/auth/userpass", map[string]any{"type": "userpass"})
	d.must(t, "PUT", "sys/policies/acl/reader", map[string]any{"policy": `path "secret/data/*" { capabilities = ["read"] }`})
	for _, u := range []string{"erin", "frank"} {
		d.must(t, "PUT", "auth/userpass/users/"+u, map[string]any{"password": "pw-" + u + "-3f9a", "token_policies": "reader"})
	}
	d.must(t, "PUT", "sys/mfa/method/totp/ops-totp", map[string]any{"issuer": "Keyward"})
	d.must(t, "PUT", "secret/data/bait", map[string]any{"data": map[string]any{"key": "fake"}})
	d.must(t, "PUT", "sys/watch/canaries/secret/bait", map[string]any{"type": "generic"})
	d.tune(t, watch.RuleCanary, map[string]any{"contain": "require-mfa"})
	login := func(u string) (int, map[string]any) {
		return d.call(t, "PUT", "auth/userpass/login/"+u, "", "", map[string]any{"password": "pw-" + u + "-3f9a"})
	}
	code, out := login("erin")
	if code != 200 {
		t.Fatalf("first login = %d %v", code, out)
	}
	tok := out["auth"].(map[string]any)["client_token"].(string)
	d.call(t, "GET", "secret/data/bait", tok, "", nil)

	var contained *watch.Alert
	clocktest.Eventually(t, "canary alert contained", func() bool {
		for _, a := range d.alerts(t, watch.RuleCanary) {
			if len(a.Actions) == 1 && a.Actions[0].Kind == watch.ActionRequireMFA {
				contained = &a
				return true
			}
		}
		return false
	})
	if act := contained.Actions[0]; act.Error != "" || act.DryRun {
		t.Fatalf("require-mfa action = %+v", act)
	}
	code, out = login("erin")
	if code != 200 {
		t.Fatalf("login after containment = %d %v", code, out)
	}
	au, _ := out["auth"].(map[string]any)
	if au == nil || au["mfa_requirement"] == nil || au["client_token"] != "" && au["client_token"] != nil {
		t.Fatalf("login after require-mfa containment = %v, want an mfa_requirement and no token", au)
	}
	code, out = login("frank")
	if au, _ := out["auth"].(map[string]any); code != 200 || au == nil || au["client_token"] == nil || au["client_token"] == "" {
		t.Fatalf("another user's login = %d %v, want a token", code, out)
	}
}
