package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// aliasFields are the settable fields of an entity or group alias.
type aliasFields struct {
	id, name, canonical, accessor string
	hasName, hasCanon, hasAcc     bool
	custom                        map[string]string
	hasCustom                     bool
}

func readAliasFields(data map[string]any, p logical.Params, entity bool) (f aliasFields, err error) {
	allowed := []string{"name", "id", "canonical_id", "mount_accessor"}
	if entity {
		allowed = append(allowed, "entity_id", "custom_metadata")
	}
	if id, ok := p["id"]; ok {
		allowed = slices.DeleteFunc(allowed, func(s string) bool { return s == "id" })
		f.id = id
	}
	if err := logical.UnknownFields(data, allowed...); err != nil {
		return f, err
	}
	if f.id == "" {
		if f.id, _, err = logical.Str(data, "id"); err != nil {
			return f, err
		}
	}
	if f.name, f.hasName, err = logical.Str(data, "name"); err != nil {
		return f, err
	}
	if f.hasName {
		if f.name == "" || len(f.name) > maxNameLen {
			return f, logical.BadRequest("alias: the name must be 1 to %d bytes", maxNameLen)
		}
	}
	if f.canonical, f.hasCanon, err = logical.Str(data, "canonical_id"); err != nil {
		return f, err
	}
	if entity && !f.hasCanon {
		if f.canonical, f.hasCanon, err = logical.Str(data, "entity_id"); err != nil {
			return f, err
		}
	}
	if f.accessor, f.hasAcc, err = logical.Str(data, "mount_accessor"); err != nil {
		return f, err
	}
	if entity {
		if f.custom, f.hasCustom, err = logical.StringMap(data, "custom_metadata"); err != nil {
			return f, err
		}
		if err := checkMetadata("custom_metadata", f.custom); err != nil {
			return f, err
		}
	}
	f.hasCanon = f.hasCanon && f.canonical != ""
	f.hasAcc = f.hasAcc && f.accessor != ""
	return f, nil
}

// writeEntityAlias serves entity-alias and entity-alias/id/ID.
func (s *Store) writeEntityAlias(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	f, err := readAliasFields(req.Data, p, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	var old *Alias
	var na *Alias
	if f.id != "" {
		if old = s.aliases[f.id]; old == nil {
			return nil, notFound("no entity alias with id %q", f.id)
		}
		na = old.clone()
	} else {
		if !f.hasName || !f.hasAcc || !f.hasCanon {
			return nil, logical.BadRequest("name, mount_accessor and canonical_id are required")
		}
		na = &Alias{ID: uuid.New(), CreationTime: now}
	}
	if f.hasName {
		na.Name = f.name
	}
	if f.hasAcc {
		na.MountAccessor = f.accessor
	}
	if f.hasCanon {
		na.CanonicalID = f.canonical
	}
	if f.hasCustom {
		na.CustomMetadata = f.custom
	}
	na.LastUpdateTime = now
	if _, ok := s.mountF(na.MountAccessor); !ok {
		return nil, logical.BadRequest("invalid mount accessor %q", na.MountAccessor)
	}
	if other := s.aliasByKey[aliasKey(na.MountAccessor, na.Name)]; other != nil && other.ID != na.ID {
		return nil, logical.BadRequest("combination of mount and alias name is already in use")
	}
	target := s.entities[na.CanonicalID]
	if target == nil {
		return nil, logical.BadRequest("no entity with id %q", na.CanonicalID)
	}
	for _, a := range target.Aliases {
		if a.MountAccessor == na.MountAccessor && a.ID != na.ID {
			return nil, logical.BadRequest("alias already exists for requested entity and mount accessor")
		}
	}
	if old != nil && old.CanonicalID != na.CanonicalID {
		src := s.entities[old.CanonicalID]
		ns := src.clone()
		ns.Aliases = slices.DeleteFunc(ns.Aliases, func(a *Alias) bool { return a.ID == old.ID })
		ns.LastUpdateTime = now
		if err := s.putEntity(ctx, src, ns); err != nil {
			return nil, err
		}
		target = s.entities[na.CanonicalID]
	}
	nt := target.clone()
	nt.Aliases = slices.DeleteFunc(nt.Aliases, func(a *Alias) bool { return a.ID == na.ID })
	nt.Aliases = append(nt.Aliases, na)
	nt.LastUpdateTime = now
	if err := s.putEntity(ctx, target, nt); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"id": na.ID, "canonical_id": na.CanonicalID}}, nil
}

func (s *Store) readEntityAlias(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.aliases[p["id"]]
	if a == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.aliasData(a)}, nil
}

func (s *Store) deleteEntityAlias(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.aliases[p["id"]]
	if a == nil {
		return nil, nil
	}
	e := s.entities[a.CanonicalID]
	ne := e.clone()
	ne.Aliases = slices.DeleteFunc(ne.Aliases, func(x *Alias) bool { return x.ID == a.ID })
	ne.LastUpdateTime = s.now().UTC()
	return nil, s.putEntity(ctx, e, ne)
}

func (s *Store) listEntityAliases(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listAliases(s.aliases, true), nil
}

func (s *Store) listAliases(all map[string]*Alias, entity bool) *logical.Response {
	keys := make([]string, 0, len(all))
	info := make(map[string]any, len(all))
	for id, a := range all {
		keys = append(keys, id)
		m, _ := s.mountF(a.MountAccessor)
		ki := map[string]any{
			"canonical_id": a.CanonicalID, "name": a.Name,
			"mount_accessor": a.MountAccessor, "mount_path": m.Path, "mount_type": m.Type,
		}
		if entity {
			ki["custom_metadata"] = orEmptyMap(a.CustomMetadata)
			ki["local"] = false
		}
		info[id] = ki
	}
	return listResponse(keys, info)
}

// writeGroupAlias serves group-alias and group-alias/id/ID. An alias
// without canonical_id creates its external group, as in Vault.
func (s *Store) writeGroupAlias(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	f, err := readAliasFields(req.Data, p, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	var old *Alias
	var na *Alias
	if f.id != "" {
		if old = s.groupAliases[f.id]; old == nil {
			return nil, notFound("no group alias with id %q", f.id)
		}
		na = old.clone()
	} else {
		if !f.hasName || !f.hasAcc {
			return nil, logical.BadRequest("name and mount_accessor are required")
		}
		na = &Alias{ID: uuid.New(), CreationTime: now}
	}
	if f.hasName {
		na.Name = f.name
	}
	if f.hasAcc {
		na.MountAccessor = f.accessor
	}
	if f.hasCanon {
		na.CanonicalID = f.canonical
	}
	na.LastUpdateTime = now
	if _, ok := s.mountF(na.MountAccessor); !ok {
		return nil, logical.BadRequest("invalid mount accessor %q", na.MountAccessor)
	}
	if other := s.gaByKey[aliasKey(na.MountAccessor, na.Name)]; other != nil && other.ID != na.ID {
		return nil, logical.BadRequest("combination of mount and group alias name is already in use")
	}
	var target *Group
	if na.CanonicalID == "" {
		id := uuid.New()
		target = &Group{ID: id, Name: "group_" + strings.ReplaceAll(id, "-", "")[:8], Type: TypeExternal, CreationTime: now, LastUpdateTime: now}
		na.CanonicalID = id
	} else if target = s.groups[na.CanonicalID]; target == nil {
		return nil, logical.BadRequest("no group with id %q", na.CanonicalID)
	}
	if target.Type != TypeExternal {
		return nil, logical.BadRequest("group %q is internal: only external groups have aliases", target.Name)
	}
	if target.Alias != nil && target.Alias.ID != na.ID {
		return nil, logical.BadRequest("group %q already has an alias", target.Name)
	}
	mappingChanged := old == nil || old.Name != na.Name || old.MountAccessor != na.MountAccessor
	if old != nil && old.CanonicalID != na.CanonicalID {
		src := s.groups[old.CanonicalID]
		ns := src.clone()
		ns.Alias, ns.MemberEntityIDs, ns.LastUpdateTime = nil, nil, now
		if err := s.putGroup(ctx, src, ns); err != nil {
			return nil, err
		}
		mappingChanged = true
	}
	var existing *Group
	if s.groups[target.ID] != nil {
		existing = s.groups[target.ID]
		target = existing.clone()
	}
	target.Alias = na
	if mappingChanged && old != nil {
		// The members came from logins that matched the old mapping;
		// the next logins fill the group again.
		target.MemberEntityIDs = nil
	}
	target.LastUpdateTime = now
	if err := s.putGroup(ctx, existing, target); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"id": na.ID, "canonical_id": na.CanonicalID}}, nil
}

func (s *Store) readGroupAlias(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.groupAliases[p["id"]]
	if a == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.aliasData(a)}, nil
}

// deleteGroupAlias removes a group's alias and with it the members logins
// put there: nothing vouches for them any more.
func (s *Store) deleteGroupAlias(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.groupAliases[p["id"]]
	if a == nil {
		return nil, nil
	}
	g := s.groups[a.CanonicalID]
	ng := g.clone()
	ng.Alias, ng.MemberEntityIDs, ng.LastUpdateTime = nil, nil, s.now().UTC()
	return nil, s.putGroup(ctx, g, ng)
}

func (s *Store) listGroupAliases(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listAliases(s.groupAliases, false), nil
}
