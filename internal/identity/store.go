package identity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/uuid"
)

// Group types.
const (
	TypeInternal = "internal"
	TypeExternal = "external"
)

// Storage key prefixes inside the store's view.
const (
	entityPrefix = "entity/"
	groupPrefix  = "group/"
)

// Entity is one person or workload. Aliases are embedded, as they are
// stored with it.
type Entity struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Policies        []string          `json:"policies,omitempty"`
	Disabled        bool              `json:"disabled,omitempty"`
	Aliases         []*Alias          `json:"aliases,omitempty"`
	MergedEntityIDs []string          `json:"merged_entity_ids,omitempty"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
}

// Alias is an entity alias or a group alias: the name an auth mount knows
// its owner (CanonicalID) by.
type Alias struct {
	ID            string `json:"id"`
	CanonicalID   string `json:"canonical_id"`
	MountAccessor string `json:"mount_accessor"`
	Name          string `json:"name"`
	// Metadata is set by the auth method at each login (claim mappings);
	// CustomMetadata by operators.
	Metadata               map[string]string `json:"metadata,omitempty"`
	CustomMetadata         map[string]string `json:"custom_metadata,omitempty"`
	MergedFromCanonicalIDs []string          `json:"merged_from_canonical_ids,omitempty"`
	CreationTime           time.Time         `json:"creation_time"`
	LastUpdateTime         time.Time         `json:"last_update_time"`
}

// Group is an internal or external group.
type Group struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Policies        []string          `json:"policies,omitempty"`
	MemberEntityIDs []string          `json:"member_entity_ids,omitempty"`
	MemberGroupIDs  []string          `json:"member_group_ids,omitempty"`
	Alias           *Alias            `json:"alias,omitempty"`
	ModifyIndex     int               `json:"modify_index"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
}

// Mount describes an auth mount, found by accessor.
type Mount struct {
	Path string // "auth/jwt/"
	Type string // "jwt"
}

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Mount finds an auth mount by accessor; aliases may only name
	// mounts it knows.
	Mount func(accessor string) (Mount, bool)
}

// Store is the identity store. It is safe for concurrent use.
type Store struct {
	view   logical.Storage
	log    *slog.Logger
	now    func() time.Time
	mountF func(string) (Mount, bool)

	mu           sync.RWMutex
	entities     map[string]*Entity
	entityByName map[string]*Entity
	aliases      map[string]*Alias // entity aliases by id
	aliasByKey   map[string]*Alias // by aliasKey(accessor, name)
	groups       map[string]*Group
	groupByName  map[string]*Group
	groupAliases map[string]*Alias // group aliases by id
	gaByKey      map[string]*Alias
	// memberOf maps an entity id to the groups that list it directly;
	// parents maps a group id to the groups that list it as a member.
	memberOf map[string]map[string]bool
	parents  map[string]map[string]bool
	// mergedInto maps the id of a merged entity to the entity it lives on
	// in, so its tokens keep their identity.
	mergedInto map[string]string

	cacheMu sync.RWMutex
	gen     uint64 // bumped (under mu and cacheMu) by every change
	cache   map[string]*Resolved
}

func aliasKey(accessor, name string) string { return accessor + "\x00" + name }

// New loads the store kept in view.
func New(ctx context.Context, view logical.Storage, opts Options) (*Store, error) {
	s := &Store{
		view: view, log: opts.Logger, now: opts.Now, mountF: opts.Mount,
		entities: map[string]*Entity{}, entityByName: map[string]*Entity{},
		aliases: map[string]*Alias{}, aliasByKey: map[string]*Alias{},
		groups: map[string]*Group{}, groupByName: map[string]*Group{},
		groupAliases: map[string]*Alias{}, gaByKey: map[string]*Alias{},
		memberOf: map[string]map[string]bool{}, parents: map[string]map[string]bool{},
		mergedInto: map[string]string{},
		cache:      map[string]*Resolved{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "identity")
	if s.now == nil {
		s.now = time.Now
	}
	if s.mountF == nil {
		s.mountF = func(string) (Mount, bool) { return Mount{}, false }
	}
	ids, err := view.List(ctx, entityPrefix)
	if err != nil {
		return nil, fmt.Errorf("identity: list entities: %w", err)
	}
	for _, id := range ids {
		var e Entity
		found, err := logical.GetJSON(ctx, view, entityPrefix+id, &e)
		if err != nil {
			return nil, fmt.Errorf("identity: read entity %s: %w", id, err)
		}
		if found {
			s.indexEntity(&e)
		}
	}
	ids, err = view.List(ctx, groupPrefix)
	if err != nil {
		return nil, fmt.Errorf("identity: list groups: %w", err)
	}
	for _, id := range ids {
		var g Group
		found, err := logical.GetJSON(ctx, view, groupPrefix+id, &g)
		if err != nil {
			return nil, fmt.Errorf("identity: read group %s: %w", id, err)
		}
		if found {
			s.indexGroup(&g)
		}
	}
	return s, nil
}

// indexEntity adds e to the indexes (mu held for writing, or during New).
func (s *Store) indexEntity(e *Entity) {
	s.entities[e.ID] = e
	s.entityByName[e.Name] = e
	for _, m := range e.MergedEntityIDs {
		s.mergedInto[m] = e.ID
	}
	for _, a := range e.Aliases {
		a.CanonicalID = e.ID
		s.aliases[a.ID] = a
		s.aliasByKey[aliasKey(a.MountAccessor, a.Name)] = a
	}
}

func (s *Store) unindexEntity(e *Entity) {
	delete(s.entities, e.ID)
	if s.entityByName[e.Name] == e {
		delete(s.entityByName, e.Name)
	}
	for _, a := range e.Aliases {
		if s.aliases[a.ID] == a {
			delete(s.aliases, a.ID)
		}
		if s.aliasByKey[aliasKey(a.MountAccessor, a.Name)] == a {
			delete(s.aliasByKey, aliasKey(a.MountAccessor, a.Name))
		}
	}
}

func (s *Store) indexGroup(g *Group) {
	s.groups[g.ID] = g
	s.groupByName[g.Name] = g
	for _, id := range g.MemberEntityIDs {
		addTo(s.memberOf, id, g.ID)
	}
	for _, id := range g.MemberGroupIDs {
		addTo(s.parents, id, g.ID)
	}
	if a := g.Alias; a != nil {
		a.CanonicalID = g.ID
		s.groupAliases[a.ID] = a
		s.gaByKey[aliasKey(a.MountAccessor, a.Name)] = a
	}
}

func (s *Store) unindexGroup(g *Group) {
	delete(s.groups, g.ID)
	if s.groupByName[g.Name] == g {
		delete(s.groupByName, g.Name)
	}
	for _, id := range g.MemberEntityIDs {
		removeFrom(s.memberOf, id, g.ID)
	}
	for _, id := range g.MemberGroupIDs {
		removeFrom(s.parents, id, g.ID)
	}
	if a := g.Alias; a != nil {
		delete(s.groupAliases, a.ID)
		if s.gaByKey[aliasKey(a.MountAccessor, a.Name)] == a {
			delete(s.gaByKey, aliasKey(a.MountAccessor, a.Name))
		}
	}
}

func addTo(m map[string]map[string]bool, k, v string) {
	set := m[k]
	if set == nil {
		set = map[string]bool{}
		m[k] = set
	}
	set[v] = true
}

func removeFrom(m map[string]map[string]bool, k, v string) {
	if set := m[k]; set != nil {
		delete(set, v)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// changed drops the resolve cache; mu must be held for writing.
func (s *Store) changed() {
	s.cacheMu.Lock()
	s.gen++
	clear(s.cache)
	s.cacheMu.Unlock()
}

// putEntity persists e (a new value, not yet indexed) and replaces old in
// the indexes. mu must be held for writing.
func (s *Store) putEntity(ctx context.Context, old, e *Entity) error {
	if err := logical.PutJSON(ctx, s.view, entityPrefix+e.ID, e); err != nil {
		return fmt.Errorf("identity: store entity %s: %w", e.ID, err)
	}
	if old != nil {
		s.unindexEntity(old)
	}
	s.indexEntity(e)
	s.changed()
	return nil
}

func (s *Store) deleteEntityLocked(ctx context.Context, e *Entity) error {
	if err := s.view.Delete(ctx, entityPrefix+e.ID); err != nil {
		return fmt.Errorf("identity: delete entity %s: %w", e.ID, err)
	}
	s.unindexEntity(e)
	// Drop it from the groups that list it.
	for gid := range s.memberOf[e.ID] {
		g := s.groups[gid]
		if g == nil {
			continue
		}
		ng := g.clone()
		ng.MemberEntityIDs = slices.DeleteFunc(ng.MemberEntityIDs, func(id string) bool { return id == e.ID })
		if err := s.putGroup(ctx, g, ng); err != nil {
			return err
		}
	}
	s.changed()
	return nil
}

func (s *Store) putGroup(ctx context.Context, old, g *Group) error {
	g.ModifyIndex++
	if err := logical.PutJSON(ctx, s.view, groupPrefix+g.ID, g); err != nil {
		return fmt.Errorf("identity: store group %s: %w", g.ID, err)
	}
	if old != nil {
		s.unindexGroup(old)
	}
	s.indexGroup(g)
	s.changed()
	return nil
}

func (s *Store) deleteGroupLocked(ctx context.Context, g *Group) error {
	if err := s.view.Delete(ctx, groupPrefix+g.ID); err != nil {
		return fmt.Errorf("identity: delete group %s: %w", g.ID, err)
	}
	s.unindexGroup(g)
	for pid := range s.parents[g.ID] {
		p := s.groups[pid]
		if p == nil {
			continue
		}
		np := p.clone()
		np.MemberGroupIDs = slices.DeleteFunc(np.MemberGroupIDs, func(id string) bool { return id == g.ID })
		if err := s.putGroup(ctx, p, np); err != nil {
			return err
		}
	}
	delete(s.parents, g.ID)
	s.changed()
	return nil
}

func (e *Entity) clone() *Entity {
	c := *e
	c.Metadata = maps.Clone(e.Metadata)
	c.Policies = slices.Clone(e.Policies)
	c.MergedEntityIDs = slices.Clone(e.MergedEntityIDs)
	c.Aliases = make([]*Alias, len(e.Aliases))
	for i, a := range e.Aliases {
		c.Aliases[i] = a.clone()
	}
	return &c
}

func (a *Alias) clone() *Alias {
	if a == nil {
		return nil
	}
	c := *a
	c.Metadata = maps.Clone(a.Metadata)
	c.CustomMetadata = maps.Clone(a.CustomMetadata)
	c.MergedFromCanonicalIDs = slices.Clone(a.MergedFromCanonicalIDs)
	return &c
}

func (g *Group) clone() *Group {
	c := *g
	c.Metadata = maps.Clone(g.Metadata)
	c.Policies = slices.Clone(g.Policies)
	c.MemberEntityIDs = slices.Clone(g.MemberEntityIDs)
	c.MemberGroupIDs = slices.Clone(g.MemberGroupIDs)
	c.Alias = g.Alias.clone()
	return &c
}

// Resolved is what the core needs of an entity at each request.
type Resolved struct {
	EntityID string
	Disabled bool
	// Policies are the entity's own and those of every group it is in,
	// directly or through member groups: sorted, without duplicates.
	Policies []string
	// Identity renders policy templates. Shared: read only.
	Identity *policy.Identity
}

// Resolve returns the entity's current policies and template identity; ok
// is false when no such entity exists (it was deleted). The result is
// cached until the next identity change and must be treated as read-only.
func (s *Store) Resolve(entityID string) (r *Resolved, ok bool) {
	if entityID == "" {
		return nil, false
	}
	s.cacheMu.RLock()
	r, ok = s.cache[entityID]
	s.cacheMu.RUnlock()
	if ok {
		return r, r != nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.cacheMu.RLock()
	gen := s.gen
	s.cacheMu.RUnlock()
	r = s.resolveLocked(entityID)
	s.cacheMu.Lock()
	// mu is held for reading, so no change ran since gen was read; the
	// check keeps that true if the locking above is ever changed.
	if s.gen == gen && len(s.cache) < 100000 {
		s.cache[entityID] = r
	}
	s.cacheMu.Unlock()
	return r, r != nil
}

func (s *Store) resolveLocked(entityID string) *Resolved {
	e := s.entities[entityID]
	if e == nil {
		if e = s.entities[s.mergedInto[entityID]]; e == nil {
			return nil
		}
	}
	direct, inherited := s.groupsOf(e.ID)
	pols := slices.Clone(e.Policies)
	groups := make(map[string]string, len(direct)+len(inherited))
	for _, id := range append(slices.Clone(direct), inherited...) {
		g := s.groups[id]
		pols = append(pols, g.Policies...)
		groups[id] = g.Name
	}
	slices.Sort(pols)
	pols = slices.Compact(pols)
	ident := &policy.Identity{
		EntityID:       e.ID,
		EntityName:     e.Name,
		EntityMetadata: e.Metadata,
		Aliases:        make(map[string]policy.Alias, len(e.Aliases)),
		Groups:         groups,
	}
	for _, a := range e.Aliases {
		ident.Aliases[a.MountAccessor] = policy.Alias{Name: a.Name, Metadata: a.Metadata}
	}
	return &Resolved{EntityID: e.ID, Disabled: e.Disabled, Policies: pols, Identity: ident}
}

// groupsOf returns the groups that list the entity (direct) and the groups
// those are members of, transitively (inherited), each sorted. A cycle,
// which writes refuse, cannot loop: each group is visited once.
func (s *Store) groupsOf(entityID string) (direct, inherited []string) {
	seen := map[string]bool{}
	for gid := range s.memberOf[entityID] {
		if s.groups[gid] != nil {
			seen[gid] = true
			direct = append(direct, gid)
		}
	}
	queue := slices.Clone(direct)
	for len(queue) > 0 {
		gid := queue[0]
		queue = queue[1:]
		for pid := range s.parents[gid] {
			if seen[pid] || s.groups[pid] == nil {
				continue
			}
			seen[pid] = true
			inherited = append(inherited, pid)
			queue = append(queue, pid)
		}
	}
	slices.Sort(direct)
	slices.Sort(inherited)
	return direct, inherited
}

// reaches reports whether group from is, transitively, a member of (or is)
// group to: adding to as a member of from would then close a cycle.
func (s *Store) reaches(from, to string) bool {
	seen := map[string]bool{}
	queue := []string{from}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if id == to {
			return true
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		for pid := range s.parents[id] {
			queue = append(queue, pid)
		}
	}
	return false
}

// LoginInput is what an auth method's login tells the store.
type LoginInput struct {
	MountAccessor string
	// Alias is the caller's name on the mount; Metadata the auth method's
	// alias metadata (the token metadata).
	Alias    string
	Metadata map[string]string
	// Name is the name a new entity should get when no entity has it yet
	// (the login's display name: a username, a JWT's user claim, an AppRole
	// role name); empty or taken, the entity is named entity_ and 8 hex
	// digits, as in Vault.
	Name string
	// GroupAliases are the group names the auth method vouches for (a JWT's
	// groups claim). The entity becomes a member of exactly the external
	// groups whose alias on this mount is among them, and leaves the other
	// external groups aliased on this mount.
	GroupAliases []string
}

// Login finds or creates the entity of in's alias, refreshes its alias
// metadata and its external group memberships on in's mount, and returns
// the entity's resolved state. Nothing is written when nothing changed.
func (s *Store) Login(ctx context.Context, in LoginInput) (*Resolved, error) {
	if in.Alias == "" || in.MountAccessor == "" {
		return nil, fmt.Errorf("identity: login without an alias")
	}
	key := aliasKey(in.MountAccessor, in.Alias)
	s.mu.RLock()
	a := s.aliasByKey[key]
	upToDate := a != nil && maps.Equal(a.Metadata, in.Metadata) && s.externalUpToDate(a.CanonicalID, in)
	var id string
	if a != nil {
		id = a.CanonicalID
	}
	s.mu.RUnlock()
	if upToDate {
		r, ok := s.Resolve(id)
		if ok {
			return r, nil
		}
	}

	s.mu.Lock()
	now := s.now().UTC()
	a = s.aliasByKey[key]
	var e *Entity
	if a == nil {
		e = s.newLoginEntity(in, now)
		if err := s.putEntity(ctx, nil, e); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.log.Info("entity created at login", "entity_id", e.ID, "mount_accessor", in.MountAccessor)
	} else {
		e = s.entities[a.CanonicalID]
		if !maps.Equal(a.Metadata, in.Metadata) {
			ne := e.clone()
			for _, na := range ne.Aliases {
				if na.ID == a.ID {
					na.Metadata = maps.Clone(in.Metadata)
					na.LastUpdateTime = now
				}
			}
			if err := s.putEntity(ctx, e, ne); err != nil {
				s.mu.Unlock()
				return nil, err
			}
			e = ne
		}
	}
	if err := s.syncExternal(ctx, e.ID, in, now); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	r, ok := s.Resolve(e.ID)
	if !ok {
		return nil, fmt.Errorf("identity: entity %s vanished during login", e.ID)
	}
	return r, nil
}

// newLoginEntity builds the entity a first login creates. Its id is
// derived from the mount accessor and alias name, so it equals the id
// Keyward derived for template rendering before the store existed; a
// collision (the entity was deleted and an operator made another with that
// id) falls back to a random one.
func (s *Store) newLoginEntity(in LoginInput, now time.Time) *Entity {
	sum := sha256.Sum256([]byte(in.MountAccessor + "\x00" + in.Alias))
	id := uuid.Format([16]byte(sum[:16]))
	if s.entities[id] != nil {
		id = uuid.New()
	}
	// The entity takes in.Name when it is free, so that
	// {{identity.entity.name}} of a userpass or JWT login renders as it did
	// before the store existed (the username, the user claim).
	name := in.Name
	if checkName("entity", name) != nil || s.entityByName[name] != nil {
		name = "entity_" + strings.ReplaceAll(id, "-", "")[:8]
	}
	for s.entityByName[name] != nil {
		name = "entity_" + strings.ReplaceAll(uuid.New(), "-", "")[:8]
	}
	return &Entity{
		ID: id, Name: name, CreationTime: now, LastUpdateTime: now,
		Aliases: []*Alias{{
			ID: uuid.New(), CanonicalID: id, MountAccessor: in.MountAccessor, Name: in.Alias,
			Metadata: maps.Clone(in.Metadata), CreationTime: now, LastUpdateTime: now,
		}},
	}
}

// externalTargets returns the external groups aliased on in's mount that
// the entity must be in (wanted: their alias is among in.GroupAliases) and
// those it is in but must leave: map lookups, no scan of all groups.
func (s *Store) externalTargets(entityID string, in LoginInput) (wanted, unwanted []*Group) {
	names := make(map[string]bool, len(in.GroupAliases))
	for _, n := range in.GroupAliases {
		if names[n] {
			continue
		}
		names[n] = true
		ga := s.gaByKey[aliasKey(in.MountAccessor, n)]
		if ga == nil {
			continue
		}
		if g := s.groups[ga.CanonicalID]; g != nil && g.Type == TypeExternal {
			wanted = append(wanted, g)
		}
	}
	for gid := range s.memberOf[entityID] {
		g := s.groups[gid]
		if g == nil || g.Type != TypeExternal || g.Alias == nil || g.Alias.MountAccessor != in.MountAccessor {
			continue
		}
		if !names[g.Alias.Name] {
			unwanted = append(unwanted, g)
		}
	}
	return wanted, unwanted
}

func (s *Store) externalUpToDate(entityID string, in LoginInput) bool {
	wanted, unwanted := s.externalTargets(entityID, in)
	for _, g := range wanted {
		if !s.memberOf[entityID][g.ID] {
			return false
		}
	}
	for _, g := range unwanted {
		if s.memberOf[entityID][g.ID] {
			return false
		}
	}
	return true
}

func (s *Store) syncExternal(ctx context.Context, entityID string, in LoginInput, now time.Time) error {
	wanted, unwanted := s.externalTargets(entityID, in)
	for _, g := range wanted {
		if s.memberOf[entityID][g.ID] {
			continue
		}
		ng := g.clone()
		ng.MemberEntityIDs = append(ng.MemberEntityIDs, entityID)
		slices.Sort(ng.MemberEntityIDs)
		ng.LastUpdateTime = now
		if err := s.putGroup(ctx, g, ng); err != nil {
			return err
		}
	}
	for _, g := range unwanted {
		if !s.memberOf[entityID][g.ID] {
			continue
		}
		ng := g.clone()
		ng.MemberEntityIDs = slices.DeleteFunc(ng.MemberEntityIDs, func(id string) bool { return id == entityID })
		ng.LastUpdateTime = now
		if err := s.putGroup(ctx, g, ng); err != nil {
			return err
		}
	}
	return nil
}
