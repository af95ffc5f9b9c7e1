package identity_test

import (
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

const aud = "keyward"

// canRead reports whether token may read path; any answer but 403 fails
// the test.
func canRead(t testing.TB, n *nodetest.Node, token, path string) bool {
	t.Helper()
	c := nodetest.VaultClient(t, n.URL, token)
	_, err := c.Logical().Read(path)
	if err == nil {
		return true
	}
	wantStatus(t, err, http.StatusForbidden, "read "+path)
	return false
}

type jwtServer struct {
	n    *nodetest.Node
	root *vault.Client
	is   *jwttest.Issuer
	acc  string
}

// startJWT starts a server with the jwt method on the local test issuer,
// a role reading the groups claim, and secrets under secret/ops and
// secret/dev.
func startJWT(t testing.TB) *jwtServer {
	t.Helper()
	s := &jwtServer{n: nodetest.Start(t), is: jwttest.NewIssuer(t)}
	s.root = s.n.Client(t)
	write(t, s.root, "sys/auth/jwt", map[string]any{"type": "jwt"})
	s.acc = authAccessor(t, s.root, "jwt/")
	write(t, s.root, "auth/jwt/config", map[string]any{
		"oidc_discovery_url": s.is.URL, "oidc_discovery_ca_pem": s.is.CAPEM, "allow_private_network": true,
	})
	write(t, s.root, "auth/jwt/role/ci", map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{aud},
		"user_claim":      "sub",
		"groups_claim":    "groups",
		"bound_claims":    map[string]any{"repository": "octo/app"},
		"token_policies":  []string{"default"},
		"token_ttl":       "10m",
	})
	for _, p := range []string{"ops", "dev"} {
		if err := s.root.Sys().PutPolicy(p+"-read", `path "secret/data/`+p+`/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		write(t, s.root, "secret/data/"+p+"/db", map[string]any{"data": map[string]any{"v": p}})
	}
	return s
}

// login logs in as sub with the given groups claim (nil: no claim) and
// returns the login's auth.
func (s *jwtServer) login(t testing.TB, sub string, groups []any) *vault.SecretAuth {
	t.Helper()
	claims := jwttest.GitHub(s.is.URL, "octo/app", sub, aud, time.Now())
	if groups != nil {
		claims["groups"] = groups
	}
	vc := nodetest.VaultClient(t, s.n.URL, "")
	sec, err := vc.Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": jwttest.Sign(t, jwttest.KidRSA, claims, nil)})
	if err != nil {
		t.Fatalf("login of %s with groups %v: %v", sub, groups, err)
	}
	return sec.Auth
}

// A JWT login with a groups claim lands in the external group aliased by
// the claim's value on the jwt mount and gets its policies; a later login
// without the value, or deleting the alias, takes them away from every
// token of the entity at its next request (issue 18, "Done means").
func TestJWTGroupsClaimFillsExternalGroups(t *testing.T) {
	s := startJWT(t)
	ops := write(t, s.root, "identity/group", map[string]any{"name": "ops", "type": "external", "policies": "ops-read"}).Data["id"].(string)
	gaID := write(t, s.root, "identity/group-alias", map[string]any{"name": "ops-team", "mount_accessor": s.acc, "canonical_id": ops}).Data["id"].(string)

	canary := "canary-" + rand.Text()
	write(t, s.root, "identity/group/id/"+ops, map[string]any{"metadata": map[string]any{"ticket": canary}})
	first := s.login(t, "alice", []any{"ops-team", "unmapped"})
	if first.EntityID == "" || !slices.Equal(first.IdentityPolicies, []string{"ops-read"}) || !slices.Contains(first.Policies, "ops-read") ||
		slices.Contains(first.TokenPolicies, "ops-read") {
		t.Fatalf("login auth: entity %q policies %v token %v identity %v", first.EntityID, first.Policies, first.TokenPolicies, first.IdentityPolicies)
	}
	if !canRead(t, s.n, first.ClientToken, "secret/data/ops/db") {
		t.Fatal("the ops group member cannot read ops")
	}
	if canRead(t, s.n, first.ClientToken, "secret/data/dev/db") {
		t.Fatal("the ops group member reads dev")
	}
	g := read(t, s.root, "identity/group/id/"+ops)
	if !slices.Equal(strs(g.Data["member_entity_ids"]), []string{first.EntityID}) {
		t.Fatalf("ops members = %v", g.Data["member_entity_ids"])
	}
	// lookup-self shows the entity and its identity policies, as Vault does.
	self, err := nodetest.VaultClient(t, s.n.URL, first.ClientToken).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if self.Data["entity_id"] != first.EntityID || !slices.Equal(strs(self.Data["identity_policies"]), []string{"ops-read"}) {
		t.Fatalf("lookup-self: entity_id %v identity_policies %v", self.Data["entity_id"], self.Data["identity_policies"])
	}
	// Another login of the same subject is the same entity.
	second := s.login(t, "alice", []any{"ops-team"})
	if second.EntityID != first.EntityID {
		t.Fatalf("second login entity %s, first %s", second.EntityID, first.EntityID)
	}

	// The IdP drops alice from ops: the next login says so, and both
	// tokens lose ops at their next request.
	third := s.login(t, "alice", []any{})
	for i, tok := range []string{first.ClientToken, second.ClientToken, third.ClientToken} {
		if canRead(t, s.n, tok, "secret/data/ops/db") {
			t.Fatalf("token %d reads ops after the groups claim dropped it", i)
		}
	}
	if len(third.IdentityPolicies) != 0 {
		t.Fatalf("identity policies without the group: %v", third.IdentityPolicies)
	}

	// Back in ops, then the operator deletes the group alias: nothing
	// vouches for the membership any more.
	fourth := s.login(t, "alice", []any{"ops-team"})
	if !canRead(t, s.n, fourth.ClientToken, "secret/data/ops/db") {
		t.Fatal("back in the group, no access")
	}
	if _, err := s.root.Logical().Delete("identity/group-alias/id/" + gaID); err != nil {
		t.Fatal(err)
	}
	if canRead(t, s.n, fourth.ClientToken, "secret/data/ops/db") {
		t.Fatal("access survived deleting the group alias")
	}
	// A login without the groups claim at all is refused, as in Vault.
	vc := nodetest.VaultClient(t, s.n.URL, "")
	claims := jwttest.GitHub(s.is.URL, "octo/app", "alice", aud, time.Now())
	if _, err := vc.Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": jwttest.Sign(t, jwttest.KidRSA, claims, nil)}); err == nil {
		t.Fatal("a login without the groups claim succeeded")
	}
	// Identity metadata and the login's JWTs never reach the server log.
	logs := s.n.Logs.String()
	if strings.Contains(logs, canary) || strings.Contains(logs, "eyJ") {
		t.Fatal("the server log holds group metadata or a JWT")
	}
	if !strings.Contains(logs, first.EntityID) {
		t.Fatal("the log does not name the entity created at login (is the sweep reading the log?)")
	}
}

// Entity policies, internal groups (directly and through member groups)
// and disabling apply to existing tokens at their next request, without a
// new login; userpass users join external groups by group aliases named
// after them.
func TestIdentityPoliciesApplyLive(t *testing.T) {
	s := startJWT(t)
	c := s.root
	auth := s.login(t, "bob", []any{})
	tok := auth.ClientToken
	ent := auth.EntityID
	if canRead(t, s.n, tok, "secret/data/dev/db") {
		t.Fatal("bob reads dev before any grant")
	}
	// Entity policies.
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": "dev-read"})
	if !canRead(t, s.n, tok, "secret/data/dev/db") {
		t.Fatal("the entity's policy did not apply to its token")
	}
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": []string{}})
	if canRead(t, s.n, tok, "secret/data/dev/db") {
		t.Fatal("the removed entity policy still applies")
	}
	// An internal group, and a parent of it.
	team := write(t, c, "identity/group", map[string]any{"name": "team", "member_entity_ids": ent}).Data["id"].(string)
	write(t, c, "identity/group", map[string]any{"name": "org", "policies": "ops-read", "member_group_ids": team})
	if !canRead(t, s.n, tok, "secret/data/ops/db") {
		t.Fatal("the parent group's policy did not apply")
	}
	write(t, c, "identity/group/id/"+team, map[string]any{"policies": "dev-read"})
	if !canRead(t, s.n, tok, "secret/data/dev/db") {
		t.Fatal("the group's policy did not apply")
	}
	write(t, c, "identity/group/id/"+team, map[string]any{"member_entity_ids": []string{}})
	if canRead(t, s.n, tok, "secret/data/dev/db") || canRead(t, s.n, tok, "secret/data/ops/db") {
		t.Fatal("access survived leaving the group")
	}
	// Disabled: every token of the entity is refused, and so is a login.
	write(t, c, "identity/entity/id/"+ent, map[string]any{"disabled": true})
	if _, err := nodetest.VaultClient(t, s.n.URL, tok).Auth().Token().LookupSelf(); err == nil {
		t.Fatal("a disabled entity's token looked itself up")
	} else {
		wantStatus(t, err, http.StatusForbidden, "lookup-self of a disabled entity's token")
	}
	claims := jwttest.GitHub(s.is.URL, "octo/app", "bob", aud, time.Now())
	claims["groups"] = []any{}
	_, err := nodetest.VaultClient(t, s.n.URL, "").Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": jwttest.Sign(t, jwttest.KidRSA, claims, nil)})
	wantStatus(t, err, http.StatusForbidden, "login of a disabled entity")
	write(t, c, "identity/entity/id/"+ent, map[string]any{"disabled": false})
	if _, err := nodetest.VaultClient(t, s.n.URL, tok).Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("re-enabled entity's token: %v", err)
	}
	// A child token of the entity's token is the entity's too.
	if err := c.Sys().PutPolicy("mint", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": "mint"})
	child, err := nodetest.VaultClient(t, s.n.URL, tok).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": "dev-read"})
	if !canRead(t, s.n, child.Auth.ClientToken, "secret/data/dev/db") {
		t.Fatal("the child token lacks the entity's policy")
	}

	// userpass: a group alias named after the user on the userpass mount.
	write(t, c, "sys/auth/userpass", map[string]any{"type": "userpass"})
	upAcc := authAccessor(t, c, "userpass/")
	write(t, c, "auth/userpass/users/carol", map[string]any{"password": "correct horse battery", "token_policies": "default"})
	oncall := write(t, c, "identity/group", map[string]any{"name": "oncall", "type": "external", "policies": "ops-read"}).Data["id"].(string)
	write(t, c, "identity/group-alias", map[string]any{"name": "carol", "mount_accessor": upAcc, "canonical_id": oncall})
	up, err := nodetest.VaultClient(t, s.n.URL, "").Logical().Write("auth/userpass/login/carol", map[string]any{"password": "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if !canRead(t, s.n, up.Auth.ClientToken, "secret/data/ops/db") {
		t.Fatal("the userpass user's group alias gave no access")
	}
}

// Templated policies render from the entity: id, name, metadata, alias
// names and group names and ids; a missing value matches nothing.
func TestTemplatedIdentityPolicies(t *testing.T) {
	s := startJWT(t)
	c := s.root
	auth := s.login(t, "dana", []any{"ops-team"})
	ent := auth.EntityID
	write(t, c, "identity/entity/id/"+ent, map[string]any{"name": "dana", "metadata": map[string]any{"team": "payments"}})
	ops := write(t, c, "identity/group", map[string]any{"name": "platform", "member_entity_ids": ent}).Data["id"].(string)
	pol := `
path "secret/data/by-id/{{identity.entity.id}}" { capabilities = ["read"] }
path "secret/data/by-name/{{identity.entity.name}}" { capabilities = ["read"] }
path "secret/data/team/{{identity.entity.metadata.team}}" { capabilities = ["read"] }
path "secret/data/alias/{{identity.entity.aliases.` + s.acc + `.name}}" { capabilities = ["read"] }
path "secret/data/group-id/{{identity.groups.names.platform.id}}" { capabilities = ["read"] }
path "secret/data/group-name/{{identity.groups.ids.` + ops + `.name}}" { capabilities = ["read"] }
path "secret/data/absent/{{identity.entity.metadata.nothing}}" { capabilities = ["read"] }
`
	if err := c.Sys().PutPolicy("tmpl", pol); err != nil {
		t.Fatal(err)
	}
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": "tmpl"})
	allowed := []string{"by-id/" + ent, "by-name/dana", "team/payments", "alias/dana", "group-id/" + ops, "group-name/platform"}
	denied := []string{"by-id/other", "by-name/erin", "team/other", "alias/erin", "group-id/other", "group-name/other", "absent/x"}
	for _, p := range append(slices.Clone(allowed), denied...) {
		write(t, c, "secret/data/"+p, map[string]any{"data": map[string]any{"v": "x"}})
	}
	for _, p := range allowed {
		if !canRead(t, s.n, auth.ClientToken, "secret/data/"+p) {
			t.Errorf("template path %s denied", p)
		}
	}
	for _, p := range denied {
		if canRead(t, s.n, auth.ClientToken, "secret/data/"+p) {
			t.Errorf("template path %s allowed", p)
		}
	}
	// A rename applies at the next request.
	write(t, c, "identity/entity/id/"+ent, map[string]any{"name": "dana2"})
	write(t, c, "secret/data/by-name/dana2", map[string]any{"data": map[string]any{"v": "x"}})
	if !canRead(t, s.n, auth.ClientToken, "secret/data/by-name/dana2") || canRead(t, s.n, auth.ClientToken, "secret/data/by-name/dana") {
		t.Fatal("the template did not follow the rename")
	}
}

// A group template follows membership and renames at the next request:
// the compiled-ACL cache must not keep serving a rule rendered for a group
// the entity has left.
func TestGroupTemplatesFollowMembership(t *testing.T) {
	s := startJWT(t)
	c := s.root
	auth := s.login(t, "erin", []any{})
	ent := auth.EntityID
	ops := write(t, c, "identity/group", map[string]any{"name": "platform", "member_entity_ids": ent}).Data["id"].(string)
	if err := c.Sys().PutPolicy("tmpl", `
path "secret/data/group-id/{{identity.groups.names.platform.id}}" { capabilities = ["read"] }
path "secret/data/group-name/{{identity.groups.ids.`+ops+`.name}}" { capabilities = ["read"] }
`); err != nil {
		t.Fatal(err)
	}
	write(t, c, "identity/entity/id/"+ent, map[string]any{"policies": "tmpl"})
	for _, p := range []string{"group-id/" + ops, "group-name/platform", "group-name/platform2"} {
		write(t, c, "secret/data/"+p, map[string]any{"data": map[string]any{"v": "x"}})
	}
	if !canRead(t, s.n, auth.ClientToken, "secret/data/group-id/"+ops) || !canRead(t, s.n, auth.ClientToken, "secret/data/group-name/platform") {
		t.Fatal("group templates denied to a member")
	}
	// A rename: the ids template renders the new name.
	write(t, c, "identity/group/id/"+ops, map[string]any{"name": "platform2"})
	if canRead(t, s.n, auth.ClientToken, "secret/data/group-name/platform") || !canRead(t, s.n, auth.ClientToken, "secret/data/group-name/platform2") {
		t.Error("the group ids template did not follow the rename")
	}
	write(t, c, "identity/group/id/"+ops, map[string]any{"name": "platform"})
	if !canRead(t, s.n, auth.ClientToken, "secret/data/group-id/"+ops) {
		t.Fatal("group template denied after the name came back")
	}
	// Leaving the group ends both.
	write(t, c, "identity/group/id/"+ops, map[string]any{"member_entity_ids": []string{}})
	if canRead(t, s.n, auth.ClientToken, "secret/data/group-id/"+ops) {
		t.Error("a rule rendered from a group the entity left still grants (identity.groups.names)")
	}
	if canRead(t, s.n, auth.ClientToken, "secret/data/group-name/platform") {
		t.Error("a rule rendered from a group the entity left still grants (identity.groups.ids)")
	}
}
