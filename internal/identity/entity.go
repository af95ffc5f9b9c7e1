package identity

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/uuid"
)

// maxNameLen bounds entity, group and alias names.
const maxNameLen = 512

// checkName refuses names that cannot round-trip through a path segment:
// empty, too long, with a "/" or control characters, or with leading or
// trailing space. what names the kind in the error; the value is not
// echoed (a confused client may have sent a secret).
func checkName(what, n string) error {
	switch {
	case n == "":
		return logical.BadRequest("%s: a name is required", what)
	case len(n) > maxNameLen:
		return logical.BadRequest("%s: the name is longer than %d bytes", what, maxNameLen)
	case strings.TrimSpace(n) != n:
		return logical.BadRequest("%s: the name has leading or trailing space", what)
	case strings.ContainsRune(n, '/'):
		return logical.BadRequest("%s: the name contains \"/\"", what)
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return logical.BadRequest("%s: the name contains a control character", what)
	}
	// The name is a path segment (entity/name/NAME), checked by the same
	// rules as every request path, so a policy can name it.
	if c, err := policy.CleanPath(n); err != nil || c != n {
		return logical.BadRequest("%s: the name is not usable as a path segment (dot segments, look-alike or invisible characters)", what)
	}
	return nil
}

// checkMetadata bounds metadata: at most 64 keys, each key a valid name
// of at most 128 bytes and each value at most 512 bytes.
func checkMetadata(field string, m map[string]string) error {
	if len(m) > 64 {
		return logical.BadRequest("field %q: at most 64 keys", field)
	}
	for k, v := range m {
		if k == "" || len(k) > 128 || strings.IndexFunc(k, unicode.IsControl) >= 0 || strings.ContainsAny(k, " \t") {
			return logical.BadRequest("field %q: keys are 1 to 128 bytes without spaces or control characters", field)
		}
		if len(v) > 512 {
			return logical.BadRequest("field %q: the value of %q is longer than 512 bytes", field, k)
		}
	}
	return nil
}

func notFound(format string, args ...any) error {
	return logical.Errorf(http.StatusNotFound, format, args...)
}

// entityFields are the settable fields of an entity write.
type entityFields struct {
	name                     string
	hasName                  bool
	metadata                 map[string]string
	hasMeta, hasPols, hasDis bool
	policies                 []string
	disabled                 bool
}

func readEntityFields(data map[string]any) (f entityFields, err error) {
	if f.name, f.hasName, err = logical.Str(data, "name"); err != nil {
		return f, err
	}
	if f.hasName {
		if err := checkName("entity", f.name); err != nil {
			return f, err
		}
	}
	if f.metadata, f.hasMeta, err = logical.StringMap(data, "metadata"); err != nil {
		return f, err
	}
	if err := checkMetadata("metadata", f.metadata); err != nil {
		return f, err
	}
	var pols []string
	if pols, f.hasPols, err = logical.Strings(data, "policies"); err != nil {
		return f, err
	}
	if f.policies, err = tokenparams.RolePolicies("policies", pols); err != nil {
		return f, err
	}
	if f.disabled, f.hasDis, err = logical.Bool(data, "disabled"); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Store) entityExists(_ context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id, ok := p["id"]; ok {
		return s.entities[id] != nil, nil
	}
	return s.entityByName[p["name"]] != nil, nil
}

// writeEntity serves identity/entity (create, or update by id or by an
// existing name), entity/id/ID (update) and entity/name/NAME (create or
// update).
func (s *Store) writeEntity(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	allowed := []string{"name", "id", "metadata", "policies", "disabled"}
	_, byID := p["id"]
	pathName, byName := p["name"]
	switch {
	case byID:
		allowed = []string{"name", "metadata", "policies", "disabled"}
	case byName:
		allowed = []string{"metadata", "policies", "disabled"}
	}
	if err := logical.UnknownFields(req.Data, allowed...); err != nil {
		return nil, err
	}
	f, err := readEntityFields(req.Data)
	if err != nil {
		return nil, err
	}
	id := p["id"]
	if !byID {
		if v, _, err := logical.Str(req.Data, "id"); err != nil {
			return nil, err
		} else if v != "" {
			id = v
		}
	}
	if byName {
		if err := checkName("entity", pathName); err != nil {
			return nil, err
		}
		f.name, f.hasName = pathName, true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var old *Entity
	switch {
	case id != "":
		if old = s.entities[id]; old == nil {
			return nil, notFound("no entity with id %q", id)
		}
	case f.hasName:
		old = s.entityByName[f.name]
	}
	now := s.now().UTC()
	var e *Entity
	if old != nil {
		e = old.clone()
	} else {
		e = &Entity{ID: uuid.New(), CreationTime: now}
		if !f.hasName {
			f.name, f.hasName = "entity_"+strings.ReplaceAll(e.ID, "-", "")[:8], true
		}
	}
	if f.hasName && f.name != e.Name {
		if other := s.entityByName[f.name]; other != nil && other.ID != e.ID {
			return nil, logical.BadRequest("entity name %q is already in use", f.name)
		}
		e.Name = f.name
	}
	if f.hasMeta {
		e.Metadata = f.metadata
	}
	if f.hasPols {
		e.Policies = f.policies
	}
	if f.hasDis {
		e.Disabled = f.disabled
	}
	e.LastUpdateTime = now
	if err := s.putEntity(ctx, old, e); err != nil {
		return nil, err
	}
	if old != nil {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"id": e.ID, "name": e.Name, "aliases": nil}}, nil
}

// entityFor finds the entity of an id/ID or name/NAME route; mu held.
func (s *Store) entityFor(p logical.Params) *Entity {
	if id, ok := p["id"]; ok {
		return s.entities[id]
	}
	return s.entityByName[p["name"]]
}

func (s *Store) readEntity(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.entityFor(p)
	if e == nil {
		return nil, nil
	}
	return &logical.Response{Data: s.entityData(e)}, nil
}

func (s *Store) deleteEntity(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entityFor(p)
	if e == nil {
		return nil, nil
	}
	return nil, s.deleteEntityLocked(ctx, e)
}

func (s *Store) batchDeleteEntities(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "entity_ids"); err != nil {
		return nil, err
	}
	ids, _, err := logical.Strings(req.Data, "entity_ids")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, logical.BadRequest("missing entity_ids")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if e := s.entities[id]; e != nil {
			if err := s.deleteEntityLocked(ctx, e); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

func (s *Store) listEntitiesByID(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.entities))
	info := make(map[string]any, len(s.entities))
	for id, e := range s.entities {
		keys = append(keys, id)
		aliases := make([]any, 0, len(e.Aliases))
		for _, a := range e.Aliases {
			m, _ := s.mountF(a.MountAccessor)
			aliases = append(aliases, map[string]any{
				"id": a.ID, "canonical_id": a.CanonicalID, "name": a.Name,
				"mount_accessor": a.MountAccessor, "mount_path": m.Path, "mount_type": m.Type,
			})
		}
		info[id] = map[string]any{"name": e.Name, "aliases": aliases}
	}
	return listResponse(keys, info), nil
}

func (s *Store) listEntitiesByName(_ context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.entityByName))
	for n := range s.entityByName {
		keys = append(keys, n)
	}
	return listResponse(keys, nil), nil
}

// mergeEntities moves everything of from_entity_ids into to_entity_id.
func (s *Store) mergeEntities(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "from_entity_ids", "to_entity_id", "force", "conflicting_alias_ids_to_keep"); err != nil {
		return nil, err
	}
	from, _, err := logical.Strings(req.Data, "from_entity_ids")
	if err != nil {
		return nil, err
	}
	to, _, err := logical.Str(req.Data, "to_entity_id")
	if err != nil {
		return nil, err
	}
	force, _, err := logical.Bool(req.Data, "force")
	if err != nil {
		return nil, err
	}
	keep, _, err := logical.Strings(req.Data, "conflicting_alias_ids_to_keep")
	if err != nil {
		return nil, err
	}
	if to == "" || len(from) == 0 {
		return nil, logical.BadRequest("from_entity_ids and to_entity_id are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.entities[to]
	if target == nil {
		return nil, notFound("no entity with id %q", to)
	}
	merged := target.clone()
	now := s.now().UTC()
	var sources []*Entity
	for _, id := range from {
		if id == to {
			return nil, logical.BadRequest("to_entity_id %q is among from_entity_ids", to)
		}
		e := s.entities[id]
		if e == nil {
			return nil, notFound("no entity with id %q", id)
		}
		if slices.Contains(sources, e) {
			continue
		}
		sources = append(sources, e)
		for _, a := range e.Aliases {
			na := a.clone()
			i := slices.IndexFunc(merged.Aliases, func(x *Alias) bool { return x.MountAccessor == a.MountAccessor })
			if i >= 0 {
				switch {
				case slices.Contains(keep, a.ID):
					merged.Aliases = slices.Delete(merged.Aliases, i, i+1)
				case slices.Contains(keep, merged.Aliases[i].ID) || force:
					continue // the from alias is dropped
				default:
					return nil, logical.BadRequest("conflicting mount accessors in alias ids %s and %s: name one in conflicting_alias_ids_to_keep, or set force", merged.Aliases[i].ID, a.ID)
				}
			}
			na.CanonicalID = to
			na.MergedFromCanonicalIDs = append(na.MergedFromCanonicalIDs, e.ID)
			na.LastUpdateTime = now
			merged.Aliases = append(merged.Aliases, na)
		}
		merged.Policies = append(merged.Policies, e.Policies...)
		for k, v := range e.Metadata {
			if _, ok := merged.Metadata[k]; !ok {
				if merged.Metadata == nil {
					merged.Metadata = map[string]string{}
				}
				merged.Metadata[k] = v
			}
		}
		merged.MergedEntityIDs = append(merged.MergedEntityIDs, e.ID)
		merged.MergedEntityIDs = append(merged.MergedEntityIDs, e.MergedEntityIDs...)
	}
	slices.Sort(merged.Policies)
	merged.Policies = slices.Compact(merged.Policies)
	merged.LastUpdateTime = now
	// Group memberships follow: the internal groups listing a source list
	// the target instead (external ones are refreshed at the next login,
	// but move now so access does not lapse).
	for _, e := range sources {
		for gid := range maps.Clone(s.memberOf[e.ID]) {
			g := s.groups[gid]
			if g == nil {
				continue
			}
			ng := g.clone()
			ng.MemberEntityIDs = slices.DeleteFunc(ng.MemberEntityIDs, func(id string) bool { return id == e.ID })
			if !slices.Contains(ng.MemberEntityIDs, to) {
				ng.MemberEntityIDs = append(ng.MemberEntityIDs, to)
				slices.Sort(ng.MemberEntityIDs)
			}
			ng.LastUpdateTime = now
			if err := s.putGroup(ctx, g, ng); err != nil {
				return nil, err
			}
		}
	}
	// The target is written first (it holds the moved aliases), so a
	// failure part way loses nothing; a source left behind still holds its
	// copy and can be merged again.
	if err := s.putEntity(ctx, target, merged); err != nil {
		return nil, err
	}
	for _, e := range sources {
		if err := s.view.Delete(ctx, entityPrefix+e.ID); err != nil {
			return nil, err
		}
		s.unindexEntity(e)
	}
	s.changed()
	return nil, nil
}
