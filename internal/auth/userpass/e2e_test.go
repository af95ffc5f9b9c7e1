package userpass_test

import (
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// T25 over HTTP with the Vault client: name variants share one counter,
// and TOTP codes work once.
func TestEndToEndLockoutAndTOTP(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "pw-alice"}); err != nil {
		t.Fatal(err)
	}
	c := nodetest.VaultClient(t, n.URL, "")
	login := func(name, pw, code string) error {
		d := map[string]any{"password": pw}
		if code != "" {
			d["totp"] = code
		}
		_, err := c.Logical().Write("auth/userpass/login/"+name, d)
		return err
	}
	if err := login("alice", "pw-alice", ""); err != nil {
		t.Fatalf("login: %v", err)
	}
	for _, v := range []string{"alice", "Alice", "ALICE", " alice", "alice "} {
		if login(v, "wrong", "") == nil {
			t.Fatalf("wrong password accepted for %q", v)
		}
	}
	if err := login("alice", "pw-alice", ""); err == nil {
		t.Fatal("right password accepted while locked")
	}
	lockedErr, unknownErr := login("Alice", "pw-alice", ""), login("nobody", "pw-alice", "")
	if lockedErr == nil || unknownErr == nil || lockedErr.(*vault.ResponseError).StatusCode != unknownErr.(*vault.ResponseError).StatusCode ||
		lockedErr.(*vault.ResponseError).Errors[0] != unknownErr.(*vault.ResponseError).Errors[0] {
		t.Fatalf("locked and unknown users answer differently: %v / %v", lockedErr, unknownErr)
	}

	if _, err := root.Logical().Write("auth/userpass/users/bob", map[string]any{"password": "pw-bob", "mfa_required": true}); err != nil {
		t.Fatal(err)
	}
	g, err := root.Logical().Write("auth/userpass/users/bob/mfa/totp/generate", nil)
	if err != nil {
		t.Fatal(err)
	}
	key := keyFrom(t, g.Data["secret"].(string))
	code, _ := key.Code(key.Step(time.Now()))
	if err := login("bob", "pw-bob", ""); err == nil {
		t.Fatal("login without TOTP code succeeded")
	}
	if err := login("bob", "pw-bob", code); err != nil {
		// The step may have just turned; one retry with the new code.
		code, _ = key.Code(key.Step(time.Now()))
		if err := login("bob", "pw-bob", code); err != nil {
			t.Fatalf("login with TOTP: %v", err)
		}
	}
	if err := login("bob", "pw-bob", code); err == nil {
		t.Fatal("TOTP code accepted twice")
	}
}
