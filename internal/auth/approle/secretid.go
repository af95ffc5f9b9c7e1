package approle

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/tokenfmt"
	"github.com/keyward/keyward/internal/uuid"
)

// secretID is one secret_id's state, stored under the HMAC of its value.
type secretID struct {
	Accessor        string            `json:"accessor"`
	CreationTime    time.Time         `json:"creation_time"`
	ExpirationTime  time.Time         `json:"expiration_time,omitzero"`
	LastUpdated     time.Time         `json:"last_updated_time"`
	TTL             time.Duration     `json:"ttl"`
	NumUses         int               `json:"num_uses"`
	CIDRList        []string          `json:"cidr_list,omitempty"`
	TokenBoundCIDRs []string          `json:"token_bound_cidrs,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

func (s *secretID) expired(now time.Time) bool {
	return !s.ExpirationTime.IsZero() && !now.Before(s.ExpirationTime)
}

func secretKey(role, h string) string { return secretPrefix + role + "/" + h }

func (b *Backend) loadSecret(ctx context.Context, role, h string) (*secretID, error) {
	var s secretID
	ok, err := logical.GetJSON(ctx, b.view, secretKey(role, h), &s)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// createSecretID issues a secret_id for r: generated, or custom when
// custom is set. b.mu is held.
func (b *Backend) createSecretID(ctx context.Context, req *logical.Request, r *role, custom string) (*logical.Response, error) {
	fields := secretIDDocs
	if custom != "" {
		fields = customSecretIDDocs
	}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, err
	}
	if !r.BindSecretID {
		return nil, logical.BadRequest("role %q does not bind secret IDs", r.Name)
	}
	now := b.now().UTC()
	s := &secretID{Accessor: uuid.New(), CreationTime: now, LastUpdated: now, TTL: r.SecretIDTTL, NumUses: r.SecretIDNumUses}
	if v, ok, err := logical.Duration(req.Data, "ttl"); err != nil {
		return nil, err
	} else if ok && v > 0 {
		if r.SecretIDTTL > 0 && v > r.SecretIDTTL {
			return nil, logical.BadRequest("field %q: must not exceed the role's secret_id_ttl", "ttl")
		}
		s.TTL = v
	}
	if v, ok, err := logical.Int(req.Data, "num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 || (r.SecretIDNumUses > 0 && (v == 0 || v > r.SecretIDNumUses)) {
			return nil, logical.BadRequest("field %q: must be between 1 and the role's secret_id_num_uses", "num_uses")
		}
		s.NumUses = v
	}
	if s.TTL > 0 {
		s.ExpirationTime = now.Add(s.TTL)
	}
	for _, f := range []struct {
		key string
		dst *[]string
	}{{"cidr_list", &s.CIDRList}, {"token_bound_cidrs", &s.TokenBoundCIDRs}} {
		v, ok, err := logical.Strings(req.Data, f.key)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := tokenparams.ValidateCIDRs(f.key, v); err != nil {
				return nil, err
			}
			*f.dst = v
		}
	}
	meta, err := metadata(req.Data)
	if err != nil {
		return nil, err
	}
	s.Metadata = meta

	value := custom
	if value == "" {
		value = tokenfmt.Generate(tokenfmt.SecretID)
	}
	h := b.hash("secret_id", value)
	if existing, err := b.loadSecret(ctx, r.Name, h); err != nil {
		return nil, err
	} else if existing != nil {
		return nil, logical.BadRequest("secret_id is already registered for this role")
	}
	if err := logical.PutJSON(ctx, b.view, secretKey(r.Name, h), s); err != nil {
		return nil, err
	}
	if err := b.view.Put(ctx, accessorPrefx+r.Name+"/"+s.Accessor, []byte(h)); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"secret_id":          value,
		"secret_id_accessor": s.Accessor,
		"secret_id_ttl":      int64(s.TTL / time.Second),
		"secret_id_num_uses": s.NumUses,
	}}, nil
}

// metadata reads "metadata": a JSON object given as a string (what the
// Vault CLI sends) or as an object.
func metadata(data map[string]any) (map[string]string, error) {
	raw, ok := data["metadata"]
	if !ok || raw == nil {
		return nil, nil
	}
	if s, isStr := raw.(string); isStr {
		if s == "" {
			return nil, nil
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, logical.BadRequest("field %q: expected a JSON object of strings", "metadata")
		}
		return m, reservedMetadata(m)
	}
	m, _, err := logical.StringMap(data, "metadata")
	if err != nil {
		return nil, err
	}
	return m, reservedMetadata(m)
}

// reservedMetadata refuses secret_id metadata that sets the caller's
// environment (metaEnvironment).
func reservedMetadata(m map[string]string) error {
	if _, ok := m[metaEnvironment]; ok {
		return logical.BadRequest("field %q: key %q is reserved: an AppRole login gets no environment from its secret_id", "metadata", metaEnvironment)
	}
	return nil
}

func (b *Backend) accessorHash(ctx context.Context, role, acc string) (string, error) {
	if acc == "" {
		return "", logical.BadRequest("field %q is required", "secret_id_accessor")
	}
	raw, err := b.view.Get(ctx, accessorPrefx+role+"/"+acc)
	if err != nil {
		return "", err
	}
	if raw == nil {
		return "", logical.Errorf(http.StatusNotFound, "no secret ID with this accessor for role %q", role)
	}
	return string(raw), nil
}

// secretIDOp looks up or destroys the secret_id with hash h of role r.
// b.mu is held.
func (b *Backend) secretIDOp(ctx context.Context, r *role, h, op string) (*logical.Response, error) {
	s, err := b.loadSecret(ctx, r.Name, h)
	if err != nil {
		return nil, err
	}
	if op == "destroy" {
		if s == nil {
			return nil, nil
		}
		return nil, b.deleteSecret(ctx, r.Name, h, s)
	}
	if s == nil || s.expired(b.now()) {
		return nil, logical.Errorf(http.StatusNotFound, "secret ID not found for role %q", r.Name)
	}
	exp := ""
	if !s.ExpirationTime.IsZero() {
		exp = s.ExpirationTime.Format(time.RFC3339Nano)
	}
	return &logical.Response{Data: map[string]any{
		"secret_id_accessor": s.Accessor,
		"creation_time":      s.CreationTime.Format(time.RFC3339Nano),
		"last_updated_time":  s.LastUpdated.Format(time.RFC3339Nano),
		"expiration_time":    exp,
		"secret_id_ttl":      int64(s.TTL / time.Second),
		"secret_id_num_uses": s.NumUses,
		"cidr_list":          nonNil(s.CIDRList),
		"token_bound_cidrs":  nonNil(s.TokenBoundCIDRs),
		"metadata":           nonNilMap(s.Metadata),
	}}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (b *Backend) deleteSecret(ctx context.Context, role, h string, s *secretID) error {
	return errors.Join(
		b.view.Delete(ctx, secretKey(role, h)),
		b.view.Delete(ctx, accessorPrefx+role+"/"+s.Accessor),
	)
}

// listSecretIDs lists the accessors of r's secret_ids. b.mu is held.
func (b *Backend) listSecretIDs(ctx context.Context, r *role) (*logical.Response, error) {
	keys, err := b.view.List(ctx, accessorPrefx+r.Name+"/")
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

// tidy removes expired secret_ids, accessors whose secret_id is gone, and
// stale lockout counters.
func (b *Backend) tidy(ctx context.Context) (*logical.Response, error) {
	roles, err := b.view.List(ctx, rolePrefix)
	if err != nil {
		return nil, err
	}
	removed := 0
	now := b.now()
	for _, name := range roles {
		b.mu.Lock()
		n, err := b.tidyRole(ctx, name, now)
		b.mu.Unlock()
		removed += n
		if err != nil {
			return nil, err
		}
	}
	c, err := b.lockoutConfig(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := b.lock.Tidy(ctx, b.view, c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"removed": removed}}, nil
}

func (b *Backend) tidyRole(ctx context.Context, name string, now time.Time) (int, error) {
	removed := 0
	hashes, err := b.view.List(ctx, secretPrefix+name+"/")
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	for _, h := range hashes {
		s, err := b.loadSecret(ctx, name, h)
		if err != nil {
			return removed, err
		}
		if s != nil && s.expired(now) {
			if err := b.deleteSecret(ctx, name, h, s); err != nil {
				return removed, err
			}
			removed++
			continue
		}
		live[h] = true
	}
	accs, err := b.view.List(ctx, accessorPrefx+name+"/")
	if err != nil {
		return removed, err
	}
	for _, a := range accs {
		raw, err := b.view.Get(ctx, accessorPrefx+name+"/"+a)
		if err != nil {
			return removed, err
		}
		if raw != nil && !live[string(raw)] {
			if err := b.view.Delete(ctx, accessorPrefx+name+"/"+a); err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}
