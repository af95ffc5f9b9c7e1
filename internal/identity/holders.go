package identity

import "slices"

// Holder is a group or entity as a holder of policies, for who-can
// answers: its id, name and the policies it gives (a group its own; an
// entity its own and its groups', as its tokens get them now).
type Holder struct {
	ID       string
	Name     string
	Type     string // a group's internal or external; "" for an entity
	Policies []string
	Disabled bool
}

// PolicyHolders lists every group with policies and every entity whose
// resolved identity policies are not empty, each sorted by name.
func (s *Store) PolicyHolders() (groups, entities []Holder) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, g := range s.groups {
		if len(g.Policies) > 0 {
			groups = append(groups, Holder{ID: g.ID, Name: g.Name, Type: g.Type, Policies: slices.Clone(g.Policies)})
		}
	}
	for id, e := range s.entities {
		if r := s.resolveLocked(id); r != nil && len(r.Policies) > 0 {
			entities = append(entities, Holder{ID: id, Name: e.Name, Policies: r.Policies, Disabled: e.Disabled})
		}
	}
	byName := func(a, b Holder) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	}
	slices.SortFunc(groups, byName)
	slices.SortFunc(entities, byName)
	return groups, entities
}
