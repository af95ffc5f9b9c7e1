package mfa

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Constraint is one requirement of a held login: a passcode for any one
// of MethodIDs.
type Constraint struct {
	Name      string
	MethodIDs []string
}

// forcedConstraint names the constraint RequireMFA adds.
const forcedConstraint = "keyward-require-mfa"

// Pending is a login held until its MFA is validated.
type Pending struct {
	EntityID    string
	Constraints []Constraint
	// Held is the core's held login, returned by Validate; opaque here.
	Held    any
	expires time.Time
}

// LoginInput describes a login for enforcement matching.
type LoginInput struct {
	EntityID      string
	MountAccessor string
	MountType     string
	GroupIDs      []string
}

// LoginConstraints returns the constraints a login must pass: one per
// matching login enforcement, plus one when RequireMFA marked the entity.
// None means the login needs no MFA. A login without an entity matches
// only enforcements by mount accessor or type.
func (s *Store) LoginConstraints(in LoginInput) ([]Constraint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Constraint
	for _, e := range s.enforcements {
		if !e.matches(in) {
			continue
		}
		out = append(out, Constraint{Name: e.Name, MethodIDs: slices.Clone(e.MethodIDs)})
	}
	slices.SortFunc(out, func(a, b Constraint) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	if in.EntityID != "" && s.forced[in.EntityID] {
		var ids []string
		for k := range s.secrets {
			if k.entity == in.EntityID {
				ids = append(ids, k.method)
			}
		}
		if len(ids) == 0 {
			for id := range s.methods {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, logical.Errorf(http.StatusForbidden, "permission denied: this entity must pass MFA at login and no MFA method is configured")
		}
		slices.Sort(ids)
		out = append(out, Constraint{Name: forcedConstraint, MethodIDs: ids})
	}
	return out, nil
}

func (e *Enforcement) matches(in LoginInput) bool {
	if slices.Contains(e.Accessors, in.MountAccessor) || slices.Contains(e.AuthTypes, in.MountType) {
		return true
	}
	if in.EntityID == "" {
		return false
	}
	if slices.Contains(e.EntityIDs, in.EntityID) {
		return true
	}
	for _, g := range in.GroupIDs {
		if slices.Contains(e.GroupIDs, g) {
			return true
		}
	}
	return false
}

// Requirement describes cons for the login response.
func (s *Store) requirement(id string, cons []Constraint) *logical.MFARequirement {
	r := &logical.MFARequirement{RequestID: id, Constraints: map[string][]logical.MFAMethodRef{}}
	for _, c := range cons {
		refs := []logical.MFAMethodRef{}
		for _, mid := range c.MethodIDs {
			if m := s.methods[mid]; m != nil {
				refs = append(refs, logical.MFAMethodRef{Type: "totp", ID: m.ID, Name: m.Name, UsesPasscode: true})
			}
		}
		r.Constraints[c.Name] = refs
	}
	return r
}

// Hold keeps a login until Validate and returns what the login response
// carries instead of a token. The request id is random; it is never
// logged.
func (s *Store) Hold(entityID string, cons []Constraint, held any) *logical.MFARequirement {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, p := range s.pending {
		if !now.Before(p.expires) {
			delete(s.pending, id)
		}
	}
	if len(s.pending) >= maxPending {
		var oldest string
		var at time.Time
		for id, p := range s.pending {
			if oldest == "" || p.expires.Before(at) {
				oldest, at = id, p.expires
			}
		}
		delete(s.pending, oldest)
	}
	id := newID()
	s.pending[id] = &Pending{EntityID: entityID, Constraints: cons, Held: held, expires: now.Add(PendingTTL)}
	return s.requirement(id, cons)
}

// CheckLogin verifies the X-Vault-MFA credentials of a login against
// cons: every constraint needs a valid passcode for one of its methods. A
// bare passcode stands for the only method of a single one-method
// constraint. On success a forced mark is cleared.
func (s *Store) CheckLogin(ctx context.Context, entityID string, cons []Constraint, creds []Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	payload := map[string][]string{}
	for _, c := range creds {
		ref := c.Method
		if ref == "" {
			if len(cons) != 1 || len(cons[0].MethodIDs) != 1 {
				return logical.BadRequest("X-Vault-MFA: name the method (METHOD:PASSCODE) when the login needs more than one")
			}
			ref = cons[0].MethodIDs[0]
		}
		m := s.resolveMethod(ref)
		if m == nil {
			return logical.BadRequest("X-Vault-MFA: no MFA method %q", ref)
		}
		payload[m.ID] = append(payload[m.ID], c.Passcode)
	}
	return s.satisfy(ctx, entityID, cons, payload)
}

// satisfy checks payload (method id -> passcodes) against cons. mu must
// be held.
func (s *Store) satisfy(ctx context.Context, entityID string, cons []Constraint, payload map[string][]string) error {
	if entityID == "" {
		return logical.Errorf(http.StatusForbidden, "permission denied: MFA needs an entity, and this login has none")
	}
	for mid := range payload {
		if s.methods[mid] == nil {
			return logical.BadRequest("mfa_payload: no MFA method %q", mid)
		}
	}
	forced := false
	for _, c := range cons {
		var firstErr error
		ok := false
		for _, mid := range c.MethodIDs {
			codes := payload[mid]
			if len(codes) == 0 {
				continue
			}
			if len(codes) != 1 {
				return logical.BadRequest("mfa_payload: method %s needs exactly one passcode", mid)
			}
			if err := s.verify(s.methods[mid], entityID, codes[0]); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			ok = true
			break
		}
		if !ok {
			if firstErr != nil {
				return firstErr
			}
			return logical.Errorf(http.StatusForbidden, "permission denied: MFA constraint %q needs a passcode for one of the methods %v", c.Name, s.labels(c.MethodIDs))
		}
		forced = forced || c.Name == forcedConstraint
	}
	if forced {
		if err := s.st.Delete(ctx, "forced/"+entityID); err != nil {
			return fmt.Errorf("mfa: clear forced mark of entity %s: %w", entityID, err)
		}
		delete(s.forced, entityID)
	}
	return nil
}

func (s *Store) labels(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if m := s.methods[id]; m != nil && m.Name != "" {
			out = append(out, m.Name)
		} else {
			out = append(out, id)
		}
	}
	return out
}

// errNoRequest refuses an unknown, expired or completed MFA request.
var errNoRequest = logical.Errorf(http.StatusForbidden, "permission denied: no such MFA request, or it expired or was completed; log in again")

// Validate completes a held login: payload maps method ids to a list of
// one passcode. It returns the held login once every constraint passed;
// on failure the request stays held (until it expires, or its methods
// lock after max_validation_attempts).
func (s *Store) Validate(ctx context.Context, requestID string, payload map[string][]string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[requestID]
	if !ok || !s.now().Before(p.expires) {
		delete(s.pending, requestID)
		return nil, errNoRequest
	}
	// Names are accepted as well as ids.
	byID := make(map[string][]string, len(payload))
	for ref, codes := range payload {
		m := s.resolveMethod(ref)
		if m == nil {
			return nil, logical.BadRequest("mfa_payload: no MFA method %q", ref)
		}
		byID[m.ID] = append(byID[m.ID], codes...)
	}
	if err := s.satisfy(ctx, p.EntityID, p.Constraints, byID); err != nil {
		return nil, err
	}
	delete(s.pending, requestID)
	return p.Held, nil
}

// CheckPath enforces a policy path's mfa_methods (names, as policies list
// them) for a request by the token with accessor, of entityID, carrying
// creds. Every method must pass, with a passcode or because the token
// passed it within the method's mfa_freshness.
func (s *Store) CheckPath(entityID, accessor string, names []string, creds []Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, name := range names {
		m := s.resolveMethod(name)
		if m == nil {
			return logical.Errorf(http.StatusForbidden, "permission denied: this path requires MFA method %q, which is not configured (sys/mfa/method/totp/%s)", name, name)
		}
		// A token without an accessor (none today) gets no freshness.
		fk := freshKey{accessor, entityID, m.ID}
		if at, ok := s.fresh[fk]; ok && accessor != "" && m.Freshness > 0 && now.Sub(at) < m.Freshness {
			continue
		}
		code := ""
		for _, c := range creds {
			if c.Method == m.Name || c.Method == m.ID || (c.Method == "" && len(names) == 1) {
				code = c.Passcode
				break
			}
		}
		if code == "" {
			return logical.Errorf(http.StatusForbidden, "permission denied: this path requires MFA method %q: send a passcode in the X-Vault-MFA header as %s:PASSCODE", name, name)
		}
		if entityID == "" {
			return logical.Errorf(http.StatusForbidden, "permission denied: this path requires MFA method %q, and the token has no entity to hold its secret", name)
		}
		if err := s.verify(m, entityID, code); err != nil {
			return err
		}
		s.MarkPassed(accessor, now)
		if m.Freshness > 0 && accessor != "" {
			s.markFresh(fk, now)
		}
	}
	return nil
}

// markFresh records a validation; expired marks are swept when the map
// grows. mu must be held.
func (s *Store) markFresh(k freshKey, now time.Time) {
	if len(s.fresh) >= 4096 {
		for fk, at := range s.fresh {
			if m := s.methods[fk.method]; m == nil || now.Sub(at) >= m.Freshness {
				delete(s.fresh, fk)
			}
		}
	}
	s.fresh[k] = now
}

// RequireMFA marks entityID so that its next login must pass MFA with a
// method it has a secret for (any configured method if it has none),
// whether or not a login enforcement matches. The mark is stored behind
// the barrier and cleared by the first login that passes. It is the hook
// containment uses ("require MFA on next login").
func (s *Store) RequireMFA(ctx context.Context, entityID string) error {
	if entityID == "" {
		return logical.BadRequest("entity_id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Put(ctx, "forced/"+entityID, []byte("1")); err != nil {
		return fmt.Errorf("mfa: store forced mark of entity %s: %w", entityID, err)
	}
	s.forced[entityID] = true
	s.logger.Info("mfa required at next login", "entity_id", entityID)
	return nil
}
