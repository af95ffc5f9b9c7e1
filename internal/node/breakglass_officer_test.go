package node_test

import (
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// An officer named by entity (entity:ID) approves only with a token of
// their own login: a child token (which inherits the entity id) does not
// count, nor does a login of a disabled entity, nor a token whose auth
// method was disabled since.
func TestBreakGlassEntityOfficerNeedsOwnLogin(t *testing.T) {
	n, root, _, _ := bgSetup(t)
	rootTok := n.RootToken.Reveal()
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().EnableAuthWithOptions("up2", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("bg-officer", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	login := func(mount, user string) (tok, entity string) {
		t.Helper()
		if _, err := root.Logical().Write("auth/"+mount+"/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": "bg-officer"}); err != nil {
			t.Fatal(err)
		}
		sec, err := root.Logical().Write("auth/"+mount+"/login/"+user, map[string]any{"password": "pw-" + user})
		if err != nil {
			t.Fatal(err)
		}
		return sec.Auth.ClientToken, sec.Auth.EntityID
	}
	alice, aliceEnt := login("userpass", "alice")
	bob, bobEnt := login("userpass", "bob")
	carol, carolEnt := login("up2", "carol")
	if aliceEnt == "" || bobEnt == "" || carolEnt == "" {
		t.Fatal("logins have no entity")
	}
	wantStatus(t, bgCall(t, n.URL, "PUT", "sys/break-glass/config", rootTok, map[string]any{"policies": []string{"emergency"},
		"holders": "officers", "quorum": 2, "officers": []string{"entity:" + aliceEnt, "entity:" + bobEnt, "entity:" + carolEnt},
		"officer_policy": "bg-officer"}), 204, "config")
	nonce, _ := startAttempt(t, n, "entity officers")
	approve := func(tok string) bgResp {
		return bgCall(t, n.URL, "PUT", "sys/break-glass/update", tok, map[string]any{"nonce": nonce})
	}

	// A child token of alice carries her entity id and the officer policy,
	// but it is not her login.
	child, err := nodetest.VaultClient(t, n.URL, alice).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"bg-officer"}})
	if err != nil {
		t.Fatal(err)
	}
	if child.Auth.EntityID != aliceEnt {
		t.Fatalf("child entity = %q, want alice's", child.Auth.EntityID)
	}
	wantStatus(t, approve(child.Auth.ClientToken), 403, "child token of an entity officer")

	// Bob's entity is disabled: his token is refused everywhere, so here too.
	if _, err := root.Logical().Write("identity/entity/id/"+bobEnt, map[string]any{"disabled": true}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, approve(bob), 403, "officer whose entity is disabled")

	// Carol's auth method is gone: her token is no longer honoured.
	if err := root.Sys().DisableAuth("up2"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, approve(carol), 403, "officer whose auth method was disabled")

	r := approve(alice)
	wantStatus(t, r, 200, "alice")
	if r.data["progress"] != float64(1) {
		t.Fatalf("progress after the refused approvals and alice: %s", r.body)
	}
}
