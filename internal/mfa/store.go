package mfa

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// LockoutDuration is how long a (method, entity) pair stays locked after
// max_validation_attempts consecutive failures (admin-generate and
// admin-destroy lift it at once).
const LockoutDuration = 10 * time.Minute

// PendingTTL is how long a login held for MFA waits for sys/mfa/validate.
const PendingTTL = 5 * time.Minute

// maxPending bounds held logins; the oldest expire first.
const maxPending = 10000

// Method is a TOTP method.
type Method struct {
	ID                    string        `json:"id"`
	Name                  string        `json:"name,omitempty"`
	Issuer                string        `json:"issuer"`
	Period                int           `json:"period"`
	KeySize               int           `json:"key_size"`
	QRSize                int           `json:"qr_size"`
	Algorithm             string        `json:"algorithm"`
	Digits                int           `json:"digits"`
	Skew                  int           `json:"skew"`
	MaxValidationAttempts int           `json:"max_validation_attempts"`
	Freshness             time.Duration `json:"mfa_freshness"`
}

// Enforcement is a login enforcement.
type Enforcement struct {
	Name      string   `json:"name"`
	ID        string   `json:"id"`
	MethodIDs []string `json:"mfa_method_ids"`
	Accessors []string `json:"auth_method_accessors"`
	AuthTypes []string `json:"auth_method_types"`
	GroupIDs  []string `json:"identity_group_ids"`
	EntityIDs []string `json:"identity_entity_ids"`
}

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// EntityName names an entity for otpauth URLs; ok false when it does
	// not exist.
	EntityName func(id string) (name string, ok bool)
}

type pairKey struct{ method, entity string }

type freshKey struct{ accessor, entity, method string }

// Store holds the MFA state of one unsealed core. It is safe for
// concurrent use.
type Store struct {
	st     logical.Storage
	logger *slog.Logger
	now    func() time.Time
	entity func(string) (string, bool)

	mu           sync.Mutex
	methods      map[string]*Method // by id
	byName       map[string]string  // name -> id
	enforcements map[string]*Enforcement
	secrets      map[pairKey]totp.Key
	forced       map[string]bool

	lastStep map[pairKey]uint64
	fails    map[pairKey]int
	locked   map[pairKey]time.Time
	fresh    map[freshKey]time.Time
	pending  map[string]*Pending
	passed   passedTimes // passed.go, its own lock
}

// New loads the MFA state from st.
func New(ctx context.Context, st logical.Storage, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EntityName == nil {
		opts.EntityName = func(string) (string, bool) { return "", false }
	}
	s := &Store{
		st: st, logger: opts.Logger.With("component", "mfa"), now: opts.Now, entity: opts.EntityName,
		methods: map[string]*Method{}, byName: map[string]string{}, enforcements: map[string]*Enforcement{},
		secrets: map[pairKey]totp.Key{}, forced: map[string]bool{},
		lastStep: map[pairKey]uint64{}, fails: map[pairKey]int{}, locked: map[pairKey]time.Time{},
		fresh: map[freshKey]time.Time{}, pending: map[string]*Pending{},
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load(ctx context.Context) error {
	ids, err := s.st.List(ctx, "method/")
	if err != nil {
		return fmt.Errorf("mfa: list methods: %w", err)
	}
	for _, id := range ids {
		var m Method
		if _, err := logical.GetJSON(ctx, s.st, "method/"+id, &m); err != nil {
			return fmt.Errorf("mfa: load method %s: %w", id, err)
		}
		s.methods[m.ID] = &m
		if m.Name != "" {
			s.byName[m.Name] = m.ID
		}
	}
	names, err := s.st.List(ctx, "enforcement/")
	if err != nil {
		return fmt.Errorf("mfa: list login enforcements: %w", err)
	}
	for _, n := range names {
		var e Enforcement
		if _, err := logical.GetJSON(ctx, s.st, "enforcement/"+n, &e); err != nil {
			return fmt.Errorf("mfa: load login enforcement %s: %w", n, err)
		}
		s.enforcements[e.Name] = &e
	}
	for id := range s.methods {
		ents, err := s.st.List(ctx, "secret/"+id+"/")
		if err != nil {
			return fmt.Errorf("mfa: list secrets of method %s: %w", id, err)
		}
		for _, ent := range ents {
			var k totp.Key
			if _, err := logical.GetJSON(ctx, s.st, "secret/"+id+"/"+ent, &k); err != nil {
				return fmt.Errorf("mfa: load secret of entity %s for method %s: %w", ent, id, err)
			}
			s.secrets[pairKey{id, ent}] = k
		}
	}
	forced, err := s.st.List(ctx, "forced/")
	if err != nil {
		return fmt.Errorf("mfa: list forced marks: %w", err)
	}
	for _, ent := range forced {
		s.forced[ent] = true
	}
	return nil
}

// methodDefaults fills unset fields as Vault does.
func (m *Method) defaults() {
	if m.Period == 0 {
		m.Period = 30
	}
	if m.KeySize == 0 {
		m.KeySize = 20
	}
	if m.QRSize == 0 {
		m.QRSize = 200
	}
	if m.Algorithm == "" {
		m.Algorithm = "SHA1"
	}
	if m.Digits == 0 {
		m.Digits = 6
	}
	if m.MaxValidationAttempts == 0 {
		m.MaxValidationAttempts = 5
	}
}

func (m *Method) validate() error {
	var bad []string
	if m.Issuer == "" {
		bad = append(bad, "issuer is required")
	}
	if m.Period < 1 || m.Period > 600 {
		bad = append(bad, "period must be between 1 and 600 seconds")
	}
	if m.KeySize < 10 || m.KeySize > 128 {
		bad = append(bad, "key_size must be between 10 and 128 bytes")
	}
	if m.QRSize < 0 || m.QRSize > 4096 {
		bad = append(bad, "qr_size must be between 0 and 4096")
	}
	switch m.Algorithm {
	case "SHA1", "SHA256", "SHA512":
	default:
		bad = append(bad, "algorithm must be SHA1, SHA256 or SHA512")
	}
	if m.Digits != 6 && m.Digits != 8 {
		bad = append(bad, "digits must be 6 or 8")
	}
	if m.Skew != 0 && m.Skew != 1 {
		bad = append(bad, "skew must be 0 or 1")
	}
	if m.MaxValidationAttempts < 1 || m.MaxValidationAttempts > 1000 {
		bad = append(bad, "max_validation_attempts must be between 1 and 1000")
	}
	if m.Freshness < 0 || m.Freshness > 24*time.Hour {
		bad = append(bad, "mfa_freshness must be between 0 and 24h")
	}
	if len(bad) > 0 {
		return logical.BadRequest("%s", strings.Join(bad, "; "))
	}
	return nil
}

// putMethod stores m (validated, defaults filled). mu must be held.
func (s *Store) putMethod(ctx context.Context, m *Method) error {
	if err := logical.PutJSON(ctx, s.st, "method/"+m.ID, m); err != nil {
		return fmt.Errorf("mfa: store method %s: %w", m.ID, err)
	}
	if old := s.methods[m.ID]; old != nil && old.Name != "" && old.Name != m.Name {
		delete(s.byName, old.Name)
	}
	s.methods[m.ID] = m
	if m.Name != "" {
		s.byName[m.Name] = m.ID
	}
	return nil
}

// deleteMethod removes a method and its secrets. mu must be held.
func (s *Store) deleteMethod(ctx context.Context, id string) error {
	m := s.methods[id]
	if m == nil {
		return nil
	}
	for name, e := range s.enforcements {
		if slices.Contains(e.MethodIDs, id) {
			return logical.BadRequest("method %s is used by login enforcement %q: remove it there first", id, name)
		}
	}
	for k := range s.secrets {
		if k.method == id {
			if err := s.st.Delete(ctx, "secret/"+id+"/"+k.entity); err != nil {
				return fmt.Errorf("mfa: delete secret of entity %s: %w", k.entity, err)
			}
			delete(s.secrets, k)
		}
	}
	if err := s.st.Delete(ctx, "method/"+id); err != nil {
		return fmt.Errorf("mfa: delete method %s: %w", id, err)
	}
	delete(s.methods, id)
	s.dropFresh(id, "")
	if m.Name != "" {
		delete(s.byName, m.Name)
	}
	return nil
}

// newSecret creates and stores the secret of entity for method m,
// replacing any. mu must be held.
func (s *Store) newSecret(ctx context.Context, m *Method, entity string) (totp.Key, error) {
	k := totp.Key{Secret: make([]byte, m.KeySize), Algorithm: m.Algorithm, Digits: m.Digits, Period: m.Period, Skew: m.Skew}
	rand.Read(k.Secret)
	if err := logical.PutJSON(ctx, s.st, "secret/"+m.ID+"/"+entity, k); err != nil {
		return totp.Key{}, fmt.Errorf("mfa: store secret of entity %s for method %s: %w", entity, m.ID, err)
	}
	p := pairKey{m.ID, entity}
	s.secrets[p] = k
	delete(s.fails, p)
	delete(s.locked, p)
	delete(s.lastStep, p)
	s.dropFresh(p.method, p.entity)
	return k, nil
}

// destroySecret removes entity's secret for method. mu must be held.
func (s *Store) destroySecret(ctx context.Context, method, entity string) error {
	if err := s.st.Delete(ctx, "secret/"+method+"/"+entity); err != nil {
		return fmt.Errorf("mfa: delete secret of entity %s for method %s: %w", entity, method, err)
	}
	p := pairKey{method, entity}
	delete(s.secrets, p)
	delete(s.fails, p)
	delete(s.locked, p)
	delete(s.lastStep, p)
	s.dropFresh(p.method, p.entity)
	return nil
}

// resolveMethod finds a method by id or name. mu must be held.
func (s *Store) resolveMethod(ref string) *Method {
	if m := s.methods[ref]; m != nil {
		return m
	}
	if id, ok := s.byName[ref]; ok {
		return s.methods[id]
	}
	return nil
}

// errCode is the refusal of a wrong, stale or replayed code. It does not
// say which, so a guesser learns nothing, and never quotes the code.
func errCode(m *Method) error {
	return logical.Errorf(http.StatusForbidden, "permission denied: invalid, expired or already used MFA passcode for method %s", m.label())
}

func (m *Method) label() string {
	if m.Name != "" {
		return fmt.Sprintf("%q (id %s)", m.Name, m.ID)
	}
	return m.ID
}

// verify checks passcode for entity with method m at now, consuming it on
// success (the step and every earlier one are spent) and counting a
// failure otherwise. mu must be held.
func (s *Store) verify(m *Method, entity, passcode string) error {
	p := pairKey{m.ID, entity}
	now := s.now()
	if until, ok := s.locked[p]; ok {
		if now.Before(until) {
			return logical.Errorf(http.StatusForbidden, "permission denied: MFA method %s is locked for this entity after %d failed validations", m.label(), m.MaxValidationAttempts)
		}
		delete(s.locked, p)
		delete(s.fails, p)
	}
	if _, ok := s.entity(entity); !ok {
		return logical.Errorf(http.StatusForbidden, "permission denied: the entity no longer exists")
	}
	k, ok := s.secrets[p]
	if !ok {
		return logical.Errorf(http.StatusForbidden, "permission denied: the entity has no secret for MFA method %s (identity/mfa/method/totp/generate)", m.label())
	}
	step, ok := k.Check(passcode, now)
	if ok {
		if last, used := s.lastStep[p]; used && step <= last {
			ok = false
		}
	}
	if !ok {
		s.fails[p]++
		if s.fails[p] >= m.MaxValidationAttempts {
			s.locked[p] = now.Add(LockoutDuration)
			s.logger.Warn("mfa method locked for entity", "method_id", m.ID, "entity_id", entity, "failures", s.fails[p])
		}
		return errCode(m)
	}
	s.lastStep[p] = step
	delete(s.fails, p)
	return nil
}

// newID returns a fresh id.
func newID() string { return uuid.New() }

// dropFresh forgets the freshness marks of method for entity ("" for
// every entity): a replaced or destroyed secret, or a deleted method,
// asks every token for a new code. mu must be held.
func (s *Store) dropFresh(method, entity string) {
	for k := range s.fresh {
		if k.method == method && (entity == "" || k.entity == entity) {
			delete(s.fresh, k)
		}
	}
}
