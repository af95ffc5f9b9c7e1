package core_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/watch"
)

// The login's entity id reaches the token, the login response and the
// access events of the login and of the token's requests.
func TestLoginEntityInTokenAndEvents(t *testing.T) {
	hub := watch.NewHub(watch.Options{})
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Events: hub,
		AuthMethods: map[string]logical.Factory{"claims": func(context.Context, *logical.BackendConfig) (logical.Backend, error) { return claimsAuth{}, nil }}})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	sub := hub.Subscribe(watch.Filter{Paths: []string{"auth/ci/*", "auth/token/*"}})
	resp := mustCall(t, c, "", logical.UpdateOperation, "auth/ci/login", map[string]any{"alias": "job-1", "repository": "octo/app"})
	ent := resp.Auth.EntityID
	if ent == "" {
		t.Fatal("the login has no entity")
	}
	look := mustCall(t, c, resp.Auth.ClientToken.Reveal(), logical.ReadOperation, "auth/token/lookup-self", nil)
	if look.Data["entity_id"] != ent {
		t.Fatalf("lookup-self entity_id %v, want %s", look.Data["entity_id"], ent)
	}
	login, self := <-sub.C(), <-sub.C()
	if login.Identity.EntityID != ent || self.Identity.EntityID != ent {
		t.Fatalf("event entity ids %q (login), %q (lookup-self); want %s", login.Identity.EntityID, self.Identity.EntityID, ent)
	}
	e := mustCall(t, c, root, logical.UpdateOperation, "identity/lookup/entity", map[string]any{"id": ent})
	aliases, _ := e.Data["aliases"].([]any)
	if len(aliases) != 1 || aliases[0].(map[string]any)["name"] != "job-1" || e.Data["name"] != "entity_"+strings.ReplaceAll(ent, "-", "")[:8] {
		t.Fatalf("entity of the login = %v", e.Data)
	}
}
