package identity

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The identity store keeps entities (one per person or workload across auth
methods), their aliases per auth mount, internal groups (members set here)
and external groups (members set at login from an auth method's groups,
through group aliases). Entities and groups carry policies, which apply to
every token of the entity on its next request.`

type ops = map[logical.Operation]logical.Handler

// Backend returns the logical.Backend serving the identity/ routes over s.
func (s *Store) Backend() logical.Backend {
	return &backend{Router: logical.NewRouter(backendHelp, s.routes()...), s: s}
}

type backend struct {
	*logical.Router
	s *Store
}

var (
	idDoc   = logical.Field{Name: "id", InPath: true, Description: "The id."}
	nameDoc = logical.Field{Name: "name", InPath: true, Description: "The name."}
)

var entityDocs = logical.Fields{
	{Name: "name", Description: "The entity's name (unique; generated when absent)."},
	{Name: "id", Description: "The id of the entity to update (absent: create)."},
	{Name: "metadata", Type: logical.TypeKVPairs, Description: "Metadata, readable by policy templates as identity.entity.metadata.KEY."},
	{Name: "policies", Type: logical.TypeSlice, Description: "Policies every token of the entity gets, evaluated at each request."},
	{Name: "disabled", Type: logical.TypeBool, Description: "Refuse every token of the entity (they are not revoked).", Default: false},
}

var entityAliasDocs = logical.Fields{
	{Name: "name", Description: "The alias name: the caller's name on the auth mount (a JWT's user claim, a username)."},
	{Name: "id", Description: "The id of the alias to update (absent: create)."},
	{Name: "canonical_id", Description: "The id of the entity the alias belongs to."},
	{Name: "entity_id", Description: "Deprecated name of canonical_id."},
	{Name: "mount_accessor", Description: "The accessor of the auth mount the alias is on."},
	{Name: "custom_metadata", Type: logical.TypeKVPairs, Description: "Operator metadata of the alias."},
}

var groupDocs = logical.Fields{
	{Name: "name", Description: "The group's name (unique; generated when absent)."},
	{Name: "id", Description: "The id of the group to update (absent: create)."},
	{Name: "type", Description: "internal (members set here) or external (members set at login through a group alias); fixed at creation.", Default: TypeInternal},
	{Name: "metadata", Type: logical.TypeKVPairs, Description: "Metadata of the group."},
	{Name: "policies", Type: logical.TypeSlice, Description: "Policies of every member, evaluated at each request."},
	{Name: "member_entity_ids", Type: logical.TypeSlice, Description: "Member entities (internal groups only)."},
	{Name: "member_group_ids", Type: logical.TypeSlice, Description: "Member groups, whose members are members of this group too (internal groups only)."},
}

var groupAliasDocs = logical.Fields{
	{Name: "name", Description: "The group name the auth method reports (a value of a JWT's groups claim)."},
	{Name: "id", Description: "The id of the group alias to update (absent: create)."},
	{Name: "mount_accessor", Description: "The accessor of the auth mount the name comes from."},
	{Name: "canonical_id", Description: "The id of the external group the alias belongs to."},
}

var lookupDocs = logical.Fields{
	{Name: "id", Description: "Look up by id."},
	{Name: "name", Description: "Look up by name."},
	{Name: "alias_id", Description: "Look up by the id of an alias."},
	{Name: "alias_name", Description: "Look up by an alias name (with alias_mount_accessor)."},
	{Name: "alias_mount_accessor", Description: "The mount accessor of alias_name."},
}

func (s *Store) routes() []logical.Route {
	return []logical.Route{
		{Pattern: "entity", Ops: ops{logical.UpdateOperation: s.writeEntity}, Synopsis: "Create an entity, or update one by id.", Fields: entityDocs},
		{Pattern: "entity/id", Ops: ops{logical.ListOperation: s.listEntitiesByID}, Synopsis: "List the entities by id."},
		{Pattern: "entity/id/{id}", Ops: ops{
			logical.ReadOperation: s.readEntity, logical.UpdateOperation: s.writeEntity, logical.DeleteOperation: s.deleteEntity,
		}, Exists: s.entityExists, Synopsis: "Read, update or delete an entity by id.", Fields: entityDocs[:1].With(entityDocs[2:]...).With(idDoc)},
		{Pattern: "entity/name", Ops: ops{logical.ListOperation: s.listEntitiesByName}, Synopsis: "List the entities by name."},
		{Pattern: "entity/name/{name}", Ops: ops{
			logical.ReadOperation: s.readEntity, logical.UpdateOperation: s.writeEntity, logical.DeleteOperation: s.deleteEntity,
		}, Exists: s.entityExists, Synopsis: "Create, read, update or delete an entity by name.", Fields: entityDocs[2:].With(nameDoc)},
		{Pattern: "entity/merge", Ops: ops{logical.UpdateOperation: s.mergeEntities}, Synopsis: "Merge entities into one.",
			Description: "The aliases, policies, metadata (to_entity_id's win) and group memberships of from_entity_ids move to to_entity_id; tokens of the merged entities act as to_entity_id.",
			Fields: logical.Fields{
				{Name: "from_entity_ids", Type: logical.TypeSlice, Description: "The entities to merge (and delete)."},
				{Name: "to_entity_id", Description: "The entity to merge into."},
				{Name: "force", Type: logical.TypeBool, Description: "Merge even when two entities have an alias on the same mount (the from alias is dropped)."},
				{Name: "conflicting_alias_ids_to_keep", Type: logical.TypeSlice, Description: "On a conflict, the alias ids to keep."},
			}},
		{Pattern: "entity/batch-delete", Ops: ops{logical.UpdateOperation: s.batchDeleteEntities}, Synopsis: "Delete entities by id.",
			Fields: logical.Fields{{Name: "entity_ids", Type: logical.TypeSlice, Description: "The entities to delete."}}},

		{Pattern: "entity-alias", Ops: ops{logical.UpdateOperation: s.writeEntityAlias}, Synopsis: "Create an entity alias, or update one by id.", Fields: entityAliasDocs},
		{Pattern: "entity-alias/id", Ops: ops{logical.ListOperation: s.listEntityAliases}, Synopsis: "List the entity aliases by id."},
		{Pattern: "entity-alias/id/{id}", Ops: ops{
			logical.ReadOperation: s.readEntityAlias, logical.UpdateOperation: s.writeEntityAlias, logical.DeleteOperation: s.deleteEntityAlias,
		}, Synopsis: "Read, update or delete an entity alias by id.", Fields: entityAliasDocs[:1].With(entityAliasDocs[2:]...).With(idDoc)},

		{Pattern: "group", Ops: ops{logical.UpdateOperation: s.writeGroup}, Synopsis: "Create a group, or update one by id.", Fields: groupDocs},
		{Pattern: "group/id", Ops: ops{logical.ListOperation: s.listGroupsByID}, Synopsis: "List the groups by id."},
		{Pattern: "group/id/{id}", Ops: ops{
			logical.ReadOperation: s.readGroup, logical.UpdateOperation: s.writeGroup, logical.DeleteOperation: s.deleteGroup,
		}, Exists: s.groupExists, Synopsis: "Read, update or delete a group by id.", Fields: groupDocs[:1].With(groupDocs[2:]...).With(idDoc)},
		{Pattern: "group/name", Ops: ops{logical.ListOperation: s.listGroupsByName}, Synopsis: "List the groups by name."},
		{Pattern: "group/name/{name}", Ops: ops{
			logical.ReadOperation: s.readGroup, logical.UpdateOperation: s.writeGroup, logical.DeleteOperation: s.deleteGroup,
		}, Exists: s.groupExists, Synopsis: "Create, read, update or delete a group by name.", Fields: groupDocs[2:].With(nameDoc)},

		{Pattern: "group-alias", Ops: ops{logical.UpdateOperation: s.writeGroupAlias}, Synopsis: "Create a group alias, or update one by id.", Fields: groupAliasDocs},
		{Pattern: "group-alias/id", Ops: ops{logical.ListOperation: s.listGroupAliases}, Synopsis: "List the group aliases by id."},
		{Pattern: "group-alias/id/{id}", Ops: ops{
			logical.ReadOperation: s.readGroupAlias, logical.UpdateOperation: s.writeGroupAlias, logical.DeleteOperation: s.deleteGroupAlias,
		}, Synopsis: "Read, update or delete a group alias by id.", Fields: groupAliasDocs[:1].With(groupAliasDocs[2:]...).With(idDoc)},

		{Pattern: "lookup/entity", Ops: ops{logical.UpdateOperation: s.lookupEntity}, Synopsis: "Find an entity by id, name or alias.",
			Description: "Give exactly one of id, name, alias_id, or alias_name with alias_mount_accessor. No match answers 204.", Fields: lookupDocs},
		{Pattern: "lookup/group", Ops: ops{logical.UpdateOperation: s.lookupGroup}, Synopsis: "Find a group by id, name or alias.",
			Description: "Give exactly one of id, name, alias_id, or alias_name with alias_mount_accessor. No match answers 204.", Fields: lookupDocs},
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// aliasData is an alias as Vault's reads show it. mu must be held.
func (s *Store) aliasData(a *Alias) map[string]any {
	m, _ := s.mountF(a.MountAccessor)
	return map[string]any{
		"id":                        a.ID,
		"canonical_id":              a.CanonicalID,
		"name":                      a.Name,
		"mount_accessor":            a.MountAccessor,
		"mount_path":                m.Path,
		"mount_type":                m.Type,
		"metadata":                  orEmptyMap(a.Metadata),
		"custom_metadata":           orEmptyMap(a.CustomMetadata),
		"merged_from_canonical_ids": a.MergedFromCanonicalIDs,
		"creation_time":             stamp(a.CreationTime),
		"last_update_time":          stamp(a.LastUpdateTime),
		"local":                     false,
		"namespace_id":              "root",
	}
}

// entityData is an entity as Vault's reads show it. mu must be held.
func (s *Store) entityData(e *Entity) map[string]any {
	aliases := make([]any, 0, len(e.Aliases))
	for _, a := range e.Aliases {
		aliases = append(aliases, s.aliasData(a))
	}
	direct, inherited := s.groupsOf(e.ID)
	all := append(slices.Clone(direct), inherited...)
	slices.Sort(all)
	return map[string]any{
		"id":                  e.ID,
		"name":                e.Name,
		"aliases":             aliases,
		"metadata":            orEmptyMap(e.Metadata),
		"policies":            orEmpty(slices.Clone(e.Policies)),
		"disabled":            e.Disabled,
		"direct_group_ids":    orEmpty(direct),
		"inherited_group_ids": orEmpty(inherited),
		"group_ids":           orEmpty(all),
		"merged_entity_ids":   e.MergedEntityIDs,
		"creation_time":       stamp(e.CreationTime),
		"last_update_time":    stamp(e.LastUpdateTime),
		"namespace_id":        "root",
		"mfa_secrets":         map[string]any{},
	}
}

// groupData is a group as Vault's reads show it. mu must be held.
func (s *Store) groupData(g *Group) map[string]any {
	alias := map[string]any{}
	if g.Alias != nil {
		alias = s.aliasData(g.Alias)
	}
	parents := make([]string, 0, len(s.parents[g.ID]))
	for pid := range s.parents[g.ID] {
		if s.groups[pid] != nil {
			parents = append(parents, pid)
		}
	}
	slices.Sort(parents)
	return map[string]any{
		"id":                g.ID,
		"name":              g.Name,
		"type":              g.Type,
		"metadata":          orEmptyMap(g.Metadata),
		"policies":          orEmpty(slices.Clone(g.Policies)),
		"member_entity_ids": orEmpty(slices.Clone(g.MemberEntityIDs)),
		"member_group_ids":  orEmpty(slices.Clone(g.MemberGroupIDs)),
		"parent_group_ids":  parents,
		"alias":             alias,
		"modify_index":      g.ModifyIndex,
		"creation_time":     stamp(g.CreationTime),
		"last_update_time":  stamp(g.LastUpdateTime),
		"namespace_id":      "root",
	}
}

// lookupCriteria reads a lookup's fields: exactly one criterion.
func lookupCriteria(data map[string]any) (field, value, accessor string, err error) {
	if err := logical.UnknownFields(data, lookupDocs.Names()...); err != nil {
		return "", "", "", err
	}
	var set []string
	vals := map[string]string{}
	for _, f := range []string{"id", "name", "alias_id", "alias_name", "alias_mount_accessor"} {
		v, ok, err := logical.Str(data, f)
		if err != nil {
			return "", "", "", err
		}
		if ok && v != "" {
			vals[f] = v
			if f != "alias_mount_accessor" {
				set = append(set, f)
			}
		}
	}
	if len(set) != 1 {
		return "", "", "", logical.BadRequest("give exactly one of id, name, alias_id, or alias_name with alias_mount_accessor")
	}
	field = set[0]
	_, hasAcc := vals["alias_mount_accessor"]
	if field == "alias_name" && !hasAcc {
		return "", "", "", logical.BadRequest("alias_name needs alias_mount_accessor")
	}
	if field != "alias_name" && hasAcc {
		return "", "", "", logical.BadRequest("alias_mount_accessor goes only with alias_name")
	}
	return field, vals[field], vals["alias_mount_accessor"], nil
}

func (s *Store) lookupEntity(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	field, value, acc, err := lookupCriteria(req.Data)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.findEntity(field, value, acc)
	if e == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.entityData(e)}, nil
}

// findEntity finds the entity a lookup names; mu held.
func (s *Store) findEntity(field, value, acc string) *Entity {
	switch field {
	case "id":
		return s.entities[value]
	case "name":
		return s.entityByName[value]
	case "alias_id":
		if a := s.aliases[value]; a != nil {
			return s.entities[a.CanonicalID]
		}
	case "alias_name":
		if a := s.aliasByKey[aliasKey(acc, value)]; a != nil {
			return s.entities[a.CanonicalID]
		}
	}
	return nil
}

// findGroup finds the group a lookup names; mu held.
func (s *Store) findGroup(field, value, acc string) *Group {
	switch field {
	case "id":
		return s.groups[value]
	case "name":
		return s.groupByName[value]
	case "alias_id":
		if a := s.groupAliases[value]; a != nil {
			return s.groups[a.CanonicalID]
		}
	case "alias_name":
		if a := s.gaByKey[aliasKey(acc, value)]; a != nil {
			return s.groups[a.CanonicalID]
		}
	}
	return nil
}

func (s *Store) lookupGroup(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	field, value, acc, err := lookupCriteria(req.Data)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.findGroup(field, value, acc)
	if g == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.groupData(g)}, nil
}

// listResponse is Vault's LIST answer; nothing to list is a 404.
func listResponse(keys []string, info map[string]any) *logical.Response {
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	d := map[string]any{"keys": keys}
	if info != nil {
		d["key_info"] = info
	}
	return &logical.Response{Data: d}
}

// OtherNames implements logical.OtherNamer: an entity or group is both
// id/ID and name/NAME (and a write to entity or group with an id acts on
// both, a lookup reads what it finds), so a policy that denies one of its
// paths denies every way to it.
func (b *backend) OtherNames(_ context.Context, req *logical.Request) ([]string, error) {
	s := b.s
	parts := strings.Split(strings.TrimSuffix(req.Path, "/"), "/")
	s.mu.RLock()
	defer s.mu.RUnlock()
	both := func(kind, id, name string) []string {
		out := []string{kind + "/id/" + id}
		if checkName(kind, name) == nil { // a stored name from before the check is left out
			out = append(out, kind+"/name/"+name)
		}
		return out
	}
	var names []string
	switch {
	case len(parts) == 1 && (parts[0] == "entity" || parts[0] == "group"):
		id, _, _ := logical.Str(req.Data, "id")
		name, _, _ := logical.Str(req.Data, "name")
		if parts[0] == "entity" {
			if e := s.entities[id]; e != nil {
				names = both("entity", e.ID, e.Name)
			} else if e := s.entityByName[name]; e != nil && id == "" {
				names = both("entity", e.ID, e.Name)
			}
		} else {
			if g := s.groups[id]; g != nil {
				names = both("group", g.ID, g.Name)
			} else if g := s.groupByName[name]; g != nil && id == "" {
				names = both("group", g.ID, g.Name)
			}
		}
	case len(parts) == 3 && parts[0] == "entity" && parts[1] == "id":
		if e := s.entities[parts[2]]; e != nil {
			names = both("entity", e.ID, e.Name)
		}
	case len(parts) == 3 && parts[0] == "entity" && parts[1] == "name":
		if e := s.entityByName[parts[2]]; e != nil {
			names = both("entity", e.ID, e.Name)
		}
	case len(parts) == 3 && parts[0] == "group" && parts[1] == "id":
		if g := s.groups[parts[2]]; g != nil {
			names = both("group", g.ID, g.Name)
		}
	case len(parts) == 3 && parts[0] == "group" && parts[1] == "name":
		if g := s.groupByName[parts[2]]; g != nil {
			names = both("group", g.ID, g.Name)
		}
	case len(parts) == 2 && parts[0] == "lookup":
		// A lookup reads what it finds.
		if field, value, acc, err := lookupCriteria(req.Data); err == nil {
			if e := s.findEntity(field, value, acc); e != nil && parts[1] == "entity" {
				names = both("entity", e.ID, e.Name)
			}
			if g := s.findGroup(field, value, acc); g != nil && parts[1] == "group" {
				names = both("group", g.ID, g.Name)
			}
		}
	}
	// Writes that change an entity or group through another route act on
	// it too: an alias moved onto an entity gives its owner the entity's
	// policies, a merge or batch delete rewrites the entities it names.
	entityPaths := func(id string) {
		if e := s.entities[id]; e != nil {
			names = append(names, both("entity", e.ID, e.Name)...)
		}
	}
	groupPaths := func(id string) {
		if g := s.groups[id]; g != nil {
			names = append(names, both("group", g.ID, g.Name)...)
		}
	}
	if req.Operation != logical.ReadOperation && req.Operation != logical.ListOperation {
		// A write that names the entity or group (creating it, or renaming
		// it) acts on the name's path too, before anything has that name.
		if (parts[0] == "entity" || parts[0] == "group") && (len(parts) == 1 || (len(parts) == 3 && parts[1] == "id")) {
			if nn, _, _ := logical.Str(req.Data, "name"); nn != "" && checkName(parts[0], nn) == nil {
				names = append(names, parts[0]+"/name/"+nn)
			}
		}
		canon, _, _ := logical.Str(req.Data, "canonical_id")
		aliasID, _, _ := logical.Str(req.Data, "id")
		if len(parts) == 3 && parts[1] == "id" {
			aliasID = parts[2]
		}
		switch parts[0] {
		case "entity-alias":
			if canon == "" {
				canon, _, _ = logical.Str(req.Data, "entity_id")
			}
			entityPaths(canon)
			if a := s.aliases[aliasID]; a != nil {
				entityPaths(a.CanonicalID)
			}
		case "group-alias":
			groupPaths(canon)
			if a := s.groupAliases[aliasID]; a != nil {
				groupPaths(a.CanonicalID)
			}
		case "entity":
			if len(parts) == 2 && (parts[1] == "merge" || parts[1] == "batch-delete") {
				ids, _, _ := logical.Strings(req.Data, "from_entity_ids")
				more, _, _ := logical.Strings(req.Data, "entity_ids")
				to, _, _ := logical.Str(req.Data, "to_entity_id")
				for _, id := range append(append(ids, more...), to) {
					entityPaths(id)
				}
			}
		}
	}
	self := strings.TrimSuffix(req.Path, "/")
	return slices.DeleteFunc(names, func(p string) bool { return p == self }), nil
}
