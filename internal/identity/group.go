package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

func (s *Store) groupExists(_ context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.groupFor(p) != nil, nil
}

// groupFor finds the group of an id/ID or name/NAME route; mu held.
func (s *Store) groupFor(p logical.Params) *Group {
	if id, ok := p["id"]; ok {
		return s.groups[id]
	}
	return s.groupByName[p["name"]]
}

// writeGroup serves group (create, or update by id or an existing name),
// group/id/ID and group/name/NAME.
func (s *Store) writeGroup(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	allowed := []string{"name", "id", "type", "metadata", "policies", "member_entity_ids", "member_group_ids"}
	_, byID := p["id"]
	pathName, byName := p["name"]
	switch {
	case byID:
		allowed = slices.DeleteFunc(allowed, func(f string) bool { return f == "id" })
	case byName:
		allowed = slices.DeleteFunc(allowed, func(f string) bool { return f == "id" || f == "name" })
	}
	d := req.Data
	if err := logical.UnknownFields(d, allowed...); err != nil {
		return nil, err
	}
	name, hasName, err := logical.Str(d, "name")
	if err != nil {
		return nil, err
	}
	if byName {
		name, hasName = pathName, true
	}
	if hasName {
		if err := checkName("group", name); err != nil {
			return nil, err
		}
	}
	id := p["id"]
	if !byID {
		if id, _, err = logical.Str(d, "id"); err != nil {
			return nil, err
		}
	}
	typ, hasType, err := logical.Str(d, "type")
	if err != nil {
		return nil, err
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if hasType && typ != "" && typ != TypeInternal && typ != TypeExternal {
		return nil, logical.BadRequest("group type must be %q or %q", TypeInternal, TypeExternal)
	}
	hasType = hasType && typ != ""
	meta, hasMeta, err := logical.StringMap(d, "metadata")
	if err != nil {
		return nil, err
	}
	if err := checkMetadata("metadata", meta); err != nil {
		return nil, err
	}
	pols, hasPols, err := logical.Strings(d, "policies")
	if err != nil {
		return nil, err
	}
	if pols, err = tokenparams.RolePolicies("policies", pols); err != nil {
		return nil, err
	}
	members, hasMembers, err := logical.Strings(d, "member_entity_ids")
	if err != nil {
		return nil, err
	}
	memberGroups, hasMemberGroups, err := logical.Strings(d, "member_group_ids")
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var old *Group
	switch {
	case id != "":
		if old = s.groups[id]; old == nil {
			return nil, notFound("no group with id %q", id)
		}
	case hasName:
		old = s.groupByName[name]
	}
	now := s.now().UTC()
	var g *Group
	if old != nil {
		g = old.clone()
		if hasType && typ != g.Type {
			return nil, logical.BadRequest("the type of group %q cannot be changed", g.Name)
		}
	} else {
		g = &Group{ID: uuid.New(), Type: TypeInternal, CreationTime: now}
		if hasType {
			g.Type = typ
		}
		if !hasName {
			name, hasName = "group_"+strings.ReplaceAll(g.ID, "-", "")[:8], true
		}
	}
	if hasName && name != g.Name {
		if other := s.groupByName[name]; other != nil && other.ID != g.ID {
			return nil, logical.BadRequest("group name %q is already in use", name)
		}
		g.Name = name
	}
	if hasMeta {
		g.Metadata = meta
	}
	if hasPols {
		g.Policies = pols
	}
	if g.Type == TypeExternal && (len(members) > 0 || len(memberGroups) > 0) {
		return nil, logical.BadRequest("the members of external group %q are set at login through its group alias, not here", g.Name)
	}
	if hasMembers && g.Type == TypeInternal {
		slices.Sort(members)
		members = slices.Compact(members)
		for _, m := range members {
			if s.entities[m] == nil {
				return nil, logical.BadRequest("member_entity_ids: no entity with id %q", m)
			}
		}
		g.MemberEntityIDs = members
	}
	if hasMemberGroups && g.Type == TypeInternal {
		slices.Sort(memberGroups)
		memberGroups = slices.Compact(memberGroups)
		for _, m := range memberGroups {
			switch {
			case m == g.ID:
				return nil, logical.BadRequest("member_group_ids: group %q cannot be its own member", g.Name)
			case s.groups[m] == nil:
				return nil, logical.BadRequest("member_group_ids: no group with id %q", m)
			case s.reaches(g.ID, m):
				return nil, logical.BadRequest("member_group_ids: group %q is already a parent of %q; adding it would make a cycle", s.groups[m].Name, g.Name)
			}
		}
		g.MemberGroupIDs = memberGroups
	}
	g.LastUpdateTime = now
	if err := s.putGroup(ctx, old, g); err != nil {
		return nil, err
	}
	if old != nil {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"id": g.ID, "name": g.Name}}, nil
}

func (s *Store) readGroup(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groupFor(p)
	if g == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.groupData(g)}, nil
}

func (s *Store) deleteGroup(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupFor(p)
	if g == nil {
		return nil, nil
	}
	return nil, s.deleteGroupLocked(ctx, g)
}

func (s *Store) listGroupsByID(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.groups))
	info := make(map[string]any, len(s.groups))
	for id, g := range s.groups {
		keys = append(keys, id)
		info[id] = map[string]any{
			"name":                g.Name,
			"num_member_entities": len(g.MemberEntityIDs),
			"num_parent_groups":   len(s.parents[id]),
		}
	}
	return listResponse(keys, info), nil
}

func (s *Store) listGroupsByName(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.groupByName))
	for n := range s.groupByName {
		keys = append(keys, n)
	}
	return listResponse(keys, nil), nil
}
