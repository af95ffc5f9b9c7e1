package identity_test

import (
	"testing"
)

// A login enforcement on an external group holds the JWT login of a
// caller whose groups claim puts them in the group (membership is set by
// that very login) and not the login of another caller.
func TestJWTLoginOfEnforcedGroupIsChallenged(t *testing.T) {
	s := startJWT(t)
	ops := write(t, s.root, "identity/group", map[string]any{"name": "ops", "type": "external"}).Data["id"].(string)
	write(t, s.root, "identity/group-alias", map[string]any{"name": "ops-team", "mount_accessor": s.acc, "canonical_id": ops})
	method := write(t, s.root, "identity/mfa/method/totp", map[string]any{"method_name": "ops-totp", "issuer": "Keyward"}).Data["method_id"].(string)
	write(t, s.root, "identity/mfa/login-enforcement/ops", map[string]any{"mfa_method_ids": []string{method}, "identity_group_ids": []string{ops}})

	held := s.login(t, "alice", []any{"ops-team"})
	if held.ClientToken != "" || held.MFARequirement == nil || held.MFARequirement.MFAConstraints["ops"] == nil {
		t.Fatalf("login in the enforced group = %+v, want an mfa_requirement and no token", held)
	}
	if other := s.login(t, "bob", []any{"dev"}); other.ClientToken == "" || other.MFARequirement != nil {
		t.Fatalf("login outside the group = %+v, want a token", other)
	}
}
