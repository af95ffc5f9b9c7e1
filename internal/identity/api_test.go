package identity_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// write writes through the official client and fails the test on error.
func write(t testing.TB, c *vault.Client, path string, data map[string]any) *vault.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

func read(t testing.TB, c *vault.Client, path string) *vault.Secret {
	t.Helper()
	s, err := c.Logical().Read(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return s
}

func list(t testing.TB, c *vault.Client, path string) []string {
	t.Helper()
	s, err := c.Logical().List(path)
	if err != nil {
		t.Fatalf("list %s: %v", path, err)
	}
	if s == nil {
		return nil
	}
	var out []string
	for _, k := range s.Data["keys"].([]any) {
		out = append(out, k.(string))
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// wantStatus checks that err is a Vault API error with status code.
func wantStatus(t testing.TB, err error, code int, what string) {
	t.Helper()
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != code {
		t.Fatalf("%s: %v, want status %d", what, err, code)
	}
}

func authAccessor(t testing.TB, c *vault.Client, path string) string {
	t.Helper()
	auths := must[map[string]*vault.AuthMount](t)(c.Sys().ListAuth())
	m, ok := auths[path]
	if !ok {
		t.Fatalf("no auth mount %s", path)
	}
	return m.Accessor
}

// Entities and entity aliases through the official client: create, read by
// id and name, update, list, lookups, uniqueness, merge and delete, in
// Vault's shapes.
func TestEntitiesAndAliases(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().EnableAuthWithOptions("userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	acc := authAccessor(t, c, "userpass/")

	created := write(t, c, "identity/entity", map[string]any{
		"name": "alice", "metadata": map[string]any{"team": "payments"}, "policies": []string{"Dev", "ops"},
	})
	id, _ := created.Data["id"].(string)
	if id == "" || created.Data["name"] != "alice" {
		t.Fatalf("create answered %v", created.Data)
	}
	e := read(t, c, "identity/entity/id/"+id)
	if e.Data["name"] != "alice" || e.Data["disabled"] != false ||
		!slices.Equal(strs(e.Data["policies"]), []string{"dev", "ops"}) ||
		e.Data["metadata"].(map[string]any)["team"] != "payments" {
		t.Fatalf("read by id = %v", e.Data)
	}
	for _, k := range []string{"aliases", "creation_time", "last_update_time", "group_ids", "direct_group_ids", "inherited_group_ids", "namespace_id"} {
		if _, ok := e.Data[k]; !ok {
			t.Errorf("entity read lacks %q", k)
		}
	}
	byName := read(t, c, "identity/entity/name/alice")
	if byName.Data["id"] != id {
		t.Fatalf("read by name = %v", byName.Data)
	}
	// An update by name changes only what it names; by id it may rename.
	if s := write(t, c, "identity/entity/name/alice", map[string]any{"policies": "ops"}); s != nil {
		t.Fatalf("update answered %v, want 204", s.Data)
	}
	if got := strs(read(t, c, "identity/entity/name/alice").Data["policies"]); !slices.Equal(got, []string{"ops"}) {
		t.Fatalf("policies after update = %v", got)
	}
	write(t, c, "identity/entity/id/"+id, map[string]any{"name": "alice2"})
	if read(t, c, "identity/entity/name/alice") != nil {
		t.Fatal("the old name still reads after a rename")
	}
	bob := write(t, c, "identity/entity/name/bob", map[string]any{"metadata": "k=v"}).Data["id"].(string)
	if _, err := c.Logical().Write("identity/entity/id/"+bob, map[string]any{"name": "alice2"}); err == nil {
		t.Fatal("a rename onto a taken name succeeded")
	}
	if got := list(t, c, "identity/entity/name"); !slices.Equal(got, []string{"alice2", "bob"}) {
		t.Fatalf("list by name = %v", got)
	}
	ids := must[*vault.Secret](t)(c.Logical().List("identity/entity/id"))
	if keys := strs(ids.Data["keys"]); len(keys) != 2 || ids.Data["key_info"].(map[string]any)[id].(map[string]any)["name"] != "alice2" {
		t.Fatalf("list by id = %v", ids.Data)
	}

	// Aliases: one per (mount, name), one per entity and mount.
	al := write(t, c, "identity/entity-alias", map[string]any{"name": "alice", "canonical_id": id, "mount_accessor": acc})
	aliasID := al.Data["id"].(string)
	if al.Data["canonical_id"] != id {
		t.Fatalf("alias create = %v", al.Data)
	}
	ar := read(t, c, "identity/entity-alias/id/"+aliasID)
	if ar.Data["mount_path"] != "auth/userpass/" || ar.Data["mount_type"] != "userpass" || ar.Data["name"] != "alice" {
		t.Fatalf("alias read = %v", ar.Data)
	}
	_, err := c.Logical().Write("identity/entity-alias", map[string]any{"name": "alice", "canonical_id": bob, "mount_accessor": acc})
	wantStatus(t, err, http.StatusBadRequest, "a second alias with the same mount and name")
	_, err = c.Logical().Write("identity/entity-alias", map[string]any{"name": "other", "canonical_id": id, "mount_accessor": acc})
	wantStatus(t, err, http.StatusBadRequest, "a second alias of one entity on one mount")
	_, err = c.Logical().Write("identity/entity-alias", map[string]any{"name": "x", "canonical_id": id, "mount_accessor": "auth_nothing_1"})
	wantStatus(t, err, http.StatusBadRequest, "an alias on an unknown mount")
	if got := read(t, c, "identity/entity/id/"+id).Data["aliases"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != aliasID {
		t.Fatalf("entity read shows aliases %v", got)
	}
	if got := list(t, c, "identity/entity-alias/id"); !slices.Equal(got, []string{aliasID}) {
		t.Fatalf("alias list = %v", got)
	}

	// Lookups: by id, name, alias id, alias name and mount; no match is 204.
	for _, q := range []map[string]any{
		{"id": id}, {"name": "alice2"}, {"alias_id": aliasID}, {"alias_name": "alice", "alias_mount_accessor": acc},
	} {
		s := write(t, c, "identity/lookup/entity", q)
		if s == nil || s.Data["id"] != id {
			t.Errorf("lookup %v = %v", q, s)
		}
	}
	if s := write(t, c, "identity/lookup/entity", map[string]any{"name": "nobody"}); s != nil {
		t.Errorf("lookup of nobody = %v, want no content", s.Data)
	}
	for _, q := range []map[string]any{{}, {"id": id, "name": "alice2"}, {"alias_name": "alice"}, {"nmae": "x"}} {
		_, err := c.Logical().Write("identity/lookup/entity", q)
		wantStatus(t, err, http.StatusBadRequest, "a lookup with bad criteria")
	}

	// Merge: bob's policies, metadata and aliases move to alice2; bob goes.
	write(t, c, "identity/entity/id/"+bob, map[string]any{"policies": "bob-only"})
	write(t, c, "sys/auth/approle", map[string]any{"type": "approle"})
	arAcc := authAccessor(t, c, "approle/")
	write(t, c, "identity/entity-alias", map[string]any{"name": "bob-role", "canonical_id": bob, "mount_accessor": arAcc})
	write(t, c, "identity/entity/merge", map[string]any{"from_entity_ids": []string{bob}, "to_entity_id": id})
	m := read(t, c, "identity/entity/id/"+id)
	if got := strs(m.Data["policies"]); !slices.Equal(got, []string{"bob-only", "ops"}) {
		t.Fatalf("policies after merge = %v", got)
	}
	if len(m.Data["aliases"].([]any)) != 2 || m.Data["metadata"].(map[string]any)["k"] != "v" {
		t.Fatalf("entity after merge = %v", m.Data)
	}
	if read(t, c, "identity/entity/id/"+bob) != nil {
		t.Fatal("the merged entity still reads")
	}
	if s := write(t, c, "identity/lookup/entity", map[string]any{"alias_name": "bob-role", "alias_mount_accessor": arAcc}); s == nil || s.Data["id"] != id {
		t.Fatalf("the moved alias looks up to %v", s)
	}

	// Delete by name and by id; the aliases go with the entity.
	must[*vault.Secret](t)(c.Logical().Delete("identity/entity/name/alice2"))
	if read(t, c, "identity/entity-alias/id/"+aliasID) != nil {
		t.Fatal("the alias outlived its entity")
	}
	if got := list(t, c, "identity/entity/id"); got != nil {
		t.Fatalf("entities left: %v", got)
	}

	// Bad input is a 400 that names the problem.
	for _, bad := range []map[string]any{{"name": "a/b"}, {"name": " x"}, {"policies": "root"}, {"polices": "x"}, {"metadata": "novalue"}} {
		_, err := c.Logical().Write("identity/entity", bad)
		wantStatus(t, err, http.StatusBadRequest, "entity write of "+strings.Join(slices.Sorted(mapsKeys(bad)), ","))
	}
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Groups: internal groups with member entities and member groups (cycles
// refused), external groups with one alias each, and group lookups.
func TestGroupsAndGroupAliases(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	write(t, c, "sys/auth/jwt", map[string]any{"type": "jwt"})
	acc := authAccessor(t, c, "jwt/")
	alice := write(t, c, "identity/entity", map[string]any{"name": "alice"}).Data["id"].(string)

	devs := write(t, c, "identity/group", map[string]any{"name": "devs", "policies": "dev", "member_entity_ids": alice}).Data["id"].(string)
	eng := write(t, c, "identity/group", map[string]any{"name": "eng", "policies": []string{"eng"}, "member_group_ids": []string{devs}}).Data["id"].(string)
	g := read(t, c, "identity/group/name/devs")
	if g.Data["type"] != "internal" || !slices.Equal(strs(g.Data["member_entity_ids"]), []string{alice}) ||
		!slices.Equal(strs(g.Data["parent_group_ids"]), []string{eng}) {
		t.Fatalf("devs = %v", g.Data)
	}
	e := read(t, c, "identity/entity/id/"+alice)
	if !slices.Equal(strs(e.Data["direct_group_ids"]), []string{devs}) || !slices.Equal(strs(e.Data["inherited_group_ids"]), []string{eng}) {
		t.Fatalf("alice's groups = %v / %v", e.Data["direct_group_ids"], e.Data["inherited_group_ids"])
	}
	// eng is devs' parent: devs may not take eng as a member, nor itself.
	_, err := c.Logical().Write("identity/group/id/"+devs, map[string]any{"member_group_ids": []string{eng}})
	wantStatus(t, err, http.StatusBadRequest, "a cycle")
	_, err = c.Logical().Write("identity/group/id/"+devs, map[string]any{"member_group_ids": []string{devs}})
	wantStatus(t, err, http.StatusBadRequest, "a group as its own member")
	_, err = c.Logical().Write("identity/group", map[string]any{"name": "x", "member_entity_ids": "no-such-entity"})
	wantStatus(t, err, http.StatusBadRequest, "an unknown member entity")

	// External groups: members come from logins, never from a write.
	ops := write(t, c, "identity/group", map[string]any{"name": "ops", "type": "external", "policies": "ops"}).Data["id"].(string)
	_, err = c.Logical().Write("identity/group/id/"+ops, map[string]any{"member_entity_ids": alice})
	wantStatus(t, err, http.StatusBadRequest, "members of an external group")
	_, err = c.Logical().Write("identity/group/id/"+ops, map[string]any{"type": "internal"})
	wantStatus(t, err, http.StatusBadRequest, "a type change")
	ga := write(t, c, "identity/group-alias", map[string]any{"name": "ops-team", "mount_accessor": acc, "canonical_id": ops})
	gaID := ga.Data["id"].(string)
	if ga.Data["canonical_id"] != ops {
		t.Fatalf("group alias create = %v", ga.Data)
	}
	if got := read(t, c, "identity/group/id/"+ops).Data["alias"].(map[string]any); got["name"] != "ops-team" || got["mount_path"] != "auth/jwt/" {
		t.Fatalf("group alias in the group = %v", got)
	}
	_, err = c.Logical().Write("identity/group-alias", map[string]any{"name": "ops-team", "mount_accessor": acc, "canonical_id": ops})
	wantStatus(t, err, http.StatusBadRequest, "a duplicate group alias")
	_, err = c.Logical().Write("identity/group-alias", map[string]any{"name": "devs", "mount_accessor": acc, "canonical_id": devs})
	wantStatus(t, err, http.StatusBadRequest, "an alias on an internal group")
	// An alias without canonical_id makes its external group.
	auto := write(t, c, "identity/group-alias", map[string]any{"name": "auditors", "mount_accessor": acc})
	if ag := read(t, c, "identity/group/id/"+auto.Data["canonical_id"].(string)); ag == nil || ag.Data["type"] != "external" {
		t.Fatalf("the alias's own group = %v", ag)
	}
	for _, q := range []map[string]any{{"id": ops}, {"name": "ops"}, {"alias_id": gaID}, {"alias_name": "ops-team", "alias_mount_accessor": acc}} {
		s := write(t, c, "identity/lookup/group", q)
		if s == nil || s.Data["id"] != ops {
			t.Errorf("group lookup %v = %v", q, s)
		}
	}
	if got := list(t, c, "identity/group/name"); len(got) != 4 || !slices.Contains(got, "ops") {
		t.Fatalf("group names = %v", got)
	}
	if got := list(t, c, "identity/group-alias/id"); len(got) != 2 || !slices.Contains(got, gaID) {
		t.Fatalf("group aliases = %v", got)
	}
	// Deleting a member group drops it from its parents.
	must[*vault.Secret](t)(c.Logical().Delete("identity/group/id/" + devs))
	if got := read(t, c, "identity/group/id/"+eng).Data["member_group_ids"]; len(got.([]any)) != 0 {
		t.Fatalf("eng still lists the deleted group: %v", got)
	}
	must[*vault.Secret](t)(c.Logical().Delete("identity/group-alias/id/" + gaID))
	if got := read(t, c, "identity/group/id/"+ops).Data["alias"].(map[string]any); len(got) != 0 {
		t.Fatalf("ops keeps a deleted alias: %v", got)
	}
}

// The store lives behind the barrier: a restarted server reads it back,
// indexes included.
func TestIdentitySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	c := n.Client(t)
	write(t, c, "sys/auth/userpass", map[string]any{"type": "userpass"})
	acc := authAccessor(t, c, "userpass/")
	id := write(t, c, "identity/entity", map[string]any{"name": "alice", "policies": "p1"}).Data["id"].(string)
	write(t, c, "identity/entity-alias", map[string]any{"name": "alice", "canonical_id": id, "mount_accessor": acc})
	gid := write(t, c, "identity/group", map[string]any{"name": "g", "member_entity_ids": id}).Data["id"].(string)
	root, shares := n.RootToken.Reveal(), n.Shares
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares})
	c2 := nodetest.VaultClient(t, n2.URL, root)
	if s := write(t, c2, "identity/lookup/entity", map[string]any{"alias_name": "alice", "alias_mount_accessor": acc}); s == nil || s.Data["id"] != id {
		t.Fatalf("alias lookup after restart = %v", s)
	}
	if got := strs(read(t, c2, "identity/entity/name/alice").Data["group_ids"]); !slices.Equal(got, []string{gid}) {
		t.Fatalf("group ids after restart = %v", got)
	}
}

// An entity is both id/ID and name/NAME: a deny on one of its paths holds
// on every way to it (normalise before you authorise).
func TestDenyOnOneNameCoversTheOthers(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	admin := write(t, c, "identity/entity", map[string]any{"name": "admin", "policies": "admin"}).Data["id"].(string)
	other := write(t, c, "identity/entity", map[string]any{"name": "other"}).Data["id"].(string)
	ops := write(t, c, "identity/group", map[string]any{"name": "ops"}).Data["id"].(string)
	if err := c.Sys().PutPolicy("helpdesk", `
path "identity/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "identity/entity/name/admin" { capabilities = ["deny"] }
path "identity/group/id/`+ops+`" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	tok := write(t, c, "auth/token/create", map[string]any{"policies": "helpdesk"}).Auth.ClientToken
	h := nodetest.VaultClient(t, n.URL, tok)
	for _, tc := range []struct {
		path string
		data map[string]any
	}{
		{"identity/entity/id/" + admin, map[string]any{"policies": "default"}},
		{"identity/entity", map[string]any{"id": admin, "policies": "default"}},
		{"identity/entity", map[string]any{"name": "admin", "policies": "default"}},
		{"identity/group/name/ops", map[string]any{"policies": "admin"}},
		{"identity/group", map[string]any{"name": "ops", "policies": "admin"}},
	} {
		_, err := h.Logical().Write(tc.path, tc.data)
		wantStatus(t, err, http.StatusForbidden, "write "+tc.path)
	}
	if _, err := h.Logical().Read("identity/entity/id/" + admin); err == nil {
		t.Fatal("read of the denied entity by id succeeded")
	}
	if _, err := h.Logical().Delete("identity/entity/id/" + admin); err == nil {
		t.Fatal("delete of the denied entity by id succeeded")
	}
	// Routes that change the entity from elsewhere are refused too: an
	// alias moved onto it, a merge, a batch delete.
	write(t, c, "sys/auth/userpass", map[string]any{"type": "userpass"})
	acc := authAccessor(t, c, "userpass/")
	for _, tc := range []struct {
		path string
		data map[string]any
	}{
		{"identity/entity-alias", map[string]any{"name": "mallory", "mount_accessor": acc, "canonical_id": admin}},
		{"identity/entity-alias", map[string]any{"name": "mallory", "mount_accessor": acc, "entity_id": admin}},
		{"identity/entity/merge", map[string]any{"from_entity_ids": []string{other}, "to_entity_id": admin}},
		{"identity/entity/merge", map[string]any{"from_entity_ids": []string{admin}, "to_entity_id": other}},
		{"identity/entity/batch-delete", map[string]any{"entity_ids": []string{other, admin}}},
	} {
		_, err := h.Logical().Write(tc.path, tc.data)
		wantStatus(t, err, http.StatusForbidden, "write "+tc.path)
	}
	mine := write(t, h, "identity/entity-alias", map[string]any{"name": "mallory", "mount_accessor": acc, "canonical_id": other}).Data["id"].(string)
	_, err := h.Logical().Write("identity/entity-alias/id/"+mine, map[string]any{"canonical_id": admin})
	wantStatus(t, err, http.StatusForbidden, "moving an alias onto the denied entity")
	ext := write(t, c, "identity/group", map[string]any{"name": "ext", "type": "external"}).Data["id"].(string)
	if err := c.Sys().PutPolicy("helpdesk2", `
path "identity/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "identity/group/name/ext" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	h2 := nodetest.VaultClient(t, n.URL, write(t, c, "auth/token/create", map[string]any{"policies": "helpdesk2"}).Auth.ClientToken)
	_, err = h2.Logical().Write("identity/group-alias", map[string]any{"name": "anyone", "mount_accessor": acc, "canonical_id": ext})
	wantStatus(t, err, http.StatusForbidden, "an alias onto the denied group")

	// Other entities stay reachable both ways.
	write(t, h, "identity/entity/id/"+other, map[string]any{"policies": "x"})
	write(t, h, "identity/entity/name/other", map[string]any{"policies": "y"})
	if got := strs(read(t, c, "identity/entity/id/"+admin).Data["policies"]); !slices.Equal(got, []string{"admin"}) {
		t.Fatalf("admin's policies changed to %v", got)
	}
}

// A write that gives an entity or group a name acts on the name's path as
// well: a deny on identity/entity/name/NAME or identity/group/name/NAME
// holds before anything has that name, whether the write creates it under
// the name or renames another entity or group to it.
func TestDenyOnANameCoversRenamesAndCreates(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	other := write(t, c, "identity/entity", map[string]any{"name": "other"}).Data["id"].(string)
	team := write(t, c, "identity/group", map[string]any{"name": "team"}).Data["id"].(string)
	if err := c.Sys().PutPolicy("helpdesk", `
path "identity/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "identity/entity/name/admin" { capabilities = ["deny"] }
path "identity/group/name/oncall" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	h := nodetest.VaultClient(t, n.URL, write(t, c, "auth/token/create", map[string]any{"policies": "helpdesk"}).Auth.ClientToken)
	for _, tc := range []struct {
		path string
		data map[string]any
	}{
		{"identity/entity", map[string]any{"name": "admin"}},
		{"identity/entity", map[string]any{"id": other, "name": "admin"}},
		{"identity/entity/id/" + other, map[string]any{"name": "admin"}},
		{"identity/group", map[string]any{"name": "oncall"}},
		{"identity/group", map[string]any{"id": team, "name": "oncall"}},
		{"identity/group/id/" + team, map[string]any{"name": "oncall"}},
	} {
		_, err := h.Logical().Write(tc.path, tc.data)
		wantStatus(t, err, http.StatusForbidden, "write "+tc.path)
	}
	if s, _ := c.Logical().Read("identity/entity/name/admin"); s != nil {
		t.Fatal("an entity named admin was made through the deny")
	}
	if s, _ := c.Logical().Read("identity/group/name/oncall"); s != nil {
		t.Fatal("a group named oncall was made through the deny")
	}
	// Other names stay free to give.
	write(t, h, "identity/entity/id/"+other, map[string]any{"name": "other2"})
	write(t, h, "identity/group", map[string]any{"id": team, "name": "team2"})
	write(t, h, "identity/entity", map[string]any{"name": "fresh"})
}

// A lookup reads the entity or group it finds, so a deny on that entity's
// or group's paths refuses the lookup too, whichever criterion found it.
func TestDenyCoversLookups(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	write(t, c, "sys/auth/userpass", map[string]any{"type": "userpass"})
	acc := authAccessor(t, c, "userpass/")
	admin := write(t, c, "identity/entity", map[string]any{"name": "admin", "metadata": map[string]any{"pager": "555-0100"}}).Data["id"].(string)
	alias := write(t, c, "identity/entity-alias", map[string]any{"name": "root-user", "mount_accessor": acc, "canonical_id": admin}).Data["id"].(string)
	ops := write(t, c, "identity/group", map[string]any{"name": "ops", "policies": "ops"}).Data["id"].(string)
	write(t, c, "identity/entity", map[string]any{"name": "other"})
	if err := c.Sys().PutPolicy("finder", `
path "identity/lookup/*" { capabilities = ["update"] }
path "identity/entity/name/admin" { capabilities = ["deny"] }
path "identity/group/id/`+ops+`" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	h := nodetest.VaultClient(t, n.URL, write(t, c, "auth/token/create", map[string]any{"policies": "finder"}).Auth.ClientToken)
	for _, tc := range []struct {
		path string
		data map[string]any
	}{
		{"identity/lookup/entity", map[string]any{"id": admin}},
		{"identity/lookup/entity", map[string]any{"name": "admin"}},
		{"identity/lookup/entity", map[string]any{"alias_id": alias}},
		{"identity/lookup/entity", map[string]any{"alias_name": "root-user", "alias_mount_accessor": acc}},
		{"identity/lookup/group", map[string]any{"name": "ops"}},
		{"identity/lookup/group", map[string]any{"id": ops}},
	} {
		_, err := h.Logical().Write(tc.path, tc.data)
		wantStatus(t, err, http.StatusForbidden, "lookup "+tc.path+" of a denied entity or group")
	}
	if s := write(t, h, "identity/lookup/entity", map[string]any{"name": "other"}); s == nil || s.Data["name"] != "other" {
		t.Fatalf("lookup of another entity = %v", s)
	}
}
