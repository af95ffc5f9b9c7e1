package node_test

import (
	"testing"

	"github.com/keyward/keyward/internal/core"
)

// The emergency token is never a parent: every request it makes lands in
// the report and it ends at its TTL, so it may not mint a child token
// (whose requests the report would not see) or an orphan (which would
// outlive it), even when the emergency policy grants the token store.
func TestBreakGlassTokenMintsNoTokens(t *testing.T) {
	n, root, _, _ := bgSetup(t)
	rootTok := n.RootToken.Reveal()
	if err := root.Sys().PutPolicy("emergency-admin", `path "auth/token/*" { capabilities = ["create", "update", "read", "sudo"] }
path "secret/data/prod/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/token/roles/ops", map[string]any{"allowed_policies": "emergency-admin", "orphan": true}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency-admin"}, "ttl": "30m"}), 204, "config")
	nonce, otp := startAttempt(t, n, "token store outage")
	var res bgResp
	for i := range 3 {
		res = submitShare(t, n, nonce, n.Shares[i], "")
		wantStatus(t, res, 200, "share")
	}
	tok, err := core.DecodeBreakGlassToken(res.data["encoded_token"].(string), otp)
	if err != nil {
		t.Fatalf("no token: %s", res.body)
	}
	et := tok.Reveal()
	wantStatus(t, bgCall(t, n.URL, "GET", "secret/data/prod/db", et, nil), 200, "emergency read")
	for _, tc := range []struct{ path, what string }{
		{"auth/token/create", "child token"},
		{"auth/token/create-orphan", "orphan token"},
		{"auth/token/create/ops", "orphan token through a role"},
	} {
		r := bgCall(t, n.URL, "PUT", tc.path, et, map[string]any{"policies": []string{"emergency-admin"}, "ttl": "768h"})
		if r.status < 400 {
			t.Errorf("%s: the emergency token minted a token (status %d)", tc.what, r.status)
		}
	}
	r := bgCall(t, n.URL, "PUT", "auth/token/create", et, map[string]any{"policies": []string{"emergency-admin"}, "no_parent": true})
	if r.status < 400 {
		t.Errorf("no_parent: the emergency token minted an orphan (status %d)", r.status)
	}
}
