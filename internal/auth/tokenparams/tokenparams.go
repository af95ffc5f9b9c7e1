// Package tokenparams parses and stores the token_* fields that Vault auth
// methods share (token_policies, token_ttl, token_bound_cidrs, token_type,
// ...) and turns them into a logical.Auth, and decides which type of token a
// login issues from the role's token_type and the auth mount's. It holds no
// secret and never checks policies: the core and the token store do.
package tokenparams

import (
	"maps"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Params are the token settings of a role or user.
type Params struct {
	Policies        []string      `json:"token_policies,omitempty"`
	TTL             time.Duration `json:"token_ttl,omitempty"`
	MaxTTL          time.Duration `json:"token_max_ttl,omitempty"`
	ExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl,omitempty"`
	Period          time.Duration `json:"token_period,omitempty"`
	NumUses         int           `json:"token_num_uses,omitempty"`
	BoundCIDRs      []string      `json:"token_bound_cidrs,omitempty"`
	NoDefaultPolicy bool          `json:"token_no_default_policy,omitempty"`
	Type            string        `json:"token_type,omitempty"`
}

// Fields are the request keys Parse understands, for UnknownFields.
var Fields = FieldDocs.Names()

// Aliases are the legacy names Parse accepts, for logical.FieldAliaser.
var Aliases = map[string]string{"policies": "token_policies"}

// Parse updates p from the token_* keys present in data (absent keys keep
// their value, so it serves both create and update). "policies" is
// accepted as Vault's deprecated alias of token_policies; policy names are
// normalized and "root" refused (RolePolicies).
func (p *Params) Parse(data map[string]any) error {
	for _, key := range []string{"policies", "token_policies"} {
		v, ok, err := logical.Strings(data, key)
		if err != nil {
			return err
		}
		if ok {
			pols, err := RolePolicies(key, v)
			if err != nil {
				return err
			}
			p.Policies = pols
		}
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"token_ttl", &p.TTL}, {"token_max_ttl", &p.MaxTTL},
		{"token_explicit_max_ttl", &p.ExplicitMaxTTL}, {"token_period", &p.Period},
	}
	for _, d := range durs {
		v, ok, err := logical.Duration(data, d.key)
		if err != nil {
			return err
		}
		if ok {
			*d.dst = v
		}
	}
	if v, ok, err := logical.Int(data, "token_num_uses"); err != nil {
		return err
	} else if ok {
		if v < 0 {
			return logical.BadRequest("field %q: must not be negative", "token_num_uses")
		}
		p.NumUses = v
	}
	if v, ok, err := logical.Strings(data, "token_bound_cidrs"); err != nil {
		return err
	} else if ok {
		if err := ValidateCIDRs("token_bound_cidrs", v); err != nil {
			return err
		}
		p.BoundCIDRs = v
	}
	if v, ok, err := logical.Bool(data, "token_no_default_policy"); err != nil {
		return err
	} else if ok {
		p.NoDefaultPolicy = v
	}
	if v, ok, err := logical.Str(data, "token_type"); err != nil {
		return err
	} else if ok {
		t, err := ParseType("token_type", v)
		if err != nil {
			return err
		}
		p.Type = t
	}
	if p.MaxTTL > 0 && p.TTL > p.MaxTTL {
		return logical.BadRequest("field %q: must not exceed token_max_ttl", "token_ttl")
	}
	return CheckType(p.Type, p.Period, p.NumUses)
}

// ParseAliased is Parse for a backend that accepts some token_* fields
// under legacy names too: aliases maps each legacy name to its current one
// (the backend's FieldAliases). A legacy field counts as its current name
// unless that is sent too, which then wins, as with policies and
// token_policies and as Vault's upgrade of legacy fields does. data is not
// modified.
func (p *Params) ParseAliased(data map[string]any, aliases map[string]string) error {
	var cur map[string]any
	for legacy, current := range aliases {
		v, ok := data[legacy]
		if !ok {
			continue
		}
		if cur == nil {
			cur = maps.Clone(data)
		}
		delete(cur, legacy)
		if _, both := data[current]; !both {
			cur[current] = v
		}
	}
	if cur == nil {
		cur = data
	}
	return p.Parse(cur)
}

// Token types, as Vault names them. A role or mount asking for a default-*
// type lets the other side choose; a plain type forces it.
const (
	TypeDefault        = "default"
	TypeService        = "service"
	TypeBatch          = "batch"
	TypeDefaultService = "default-service"
	TypeDefaultBatch   = "default-batch"
)

// ParseType checks a token_type value; field names the request key in the
// error. "" means TypeDefault.
func ParseType(field, v string) (string, error) {
	switch v {
	case "":
		return TypeDefault, nil
	case TypeDefault, TypeService, TypeBatch, TypeDefaultService, TypeDefaultBatch:
		return v, nil
	}
	return "", logical.BadRequest("field %q: must be one of service, batch, default-service, default-batch or default", field)
}

// CheckType refuses settings a batch token cannot carry: batch tokens are
// never renewed, so cannot be periodic, and are not use-limited. A type
// that prefers batch (default-batch) is refused too, as in Vault.
func CheckType(typ string, period time.Duration, numUses int) error {
	if typ != TypeBatch && typ != TypeDefaultBatch {
		return nil
	}
	if period > 0 {
		return logical.BadRequest("field %q: %s tokens cannot be periodic (token_period is set)", "token_type", typ)
	}
	if numUses > 0 {
		return logical.BadRequest("field %q: %s tokens cannot be use-limited (token_num_uses is set)", "token_type", typ)
	}
	return nil
}

// Resolve returns the type of token a login issues, TypeService or
// TypeBatch, from the auth mount's tuned token_type and the type the role
// asks for (logical.Auth.TokenType), following Vault: a mount set to
// service or batch decides alone; a mount set to default-service (or
// unset) issues service tokens unless the role asks for batch or
// default-batch; a mount set to default-batch issues batch tokens unless
// the role asks for service or default-service.
func Resolve(mount, role string) string {
	switch mount {
	case TypeService, TypeBatch:
		return mount
	case TypeDefaultBatch:
		if role == TypeService || role == TypeDefaultService {
			return TypeService
		}
		return TypeBatch
	}
	if role == TypeBatch || role == TypeDefaultBatch {
		return TypeBatch
	}
	return TypeService
}

// Auth returns a login Auth carrying p. The caller adds metadata, alias and
// display name.
func (p *Params) Auth() *logical.Auth {
	return &logical.Auth{
		Policies:        slices.Clone(p.Policies),
		TTL:             p.TTL,
		MaxTTL:          p.MaxTTL,
		ExplicitMaxTTL:  p.ExplicitMaxTTL,
		Period:          p.Period,
		NumUses:         p.NumUses,
		BoundCIDRs:      slices.Clone(p.BoundCIDRs),
		NoDefaultPolicy: p.NoDefaultPolicy,
		Renewable:       true,
		// The type asked for: the core resolves it with the mount's
		// (Resolve) before the token store sees it.
		TokenType: p.Type,
	}
}

// Map returns p as the token_* keys of a read response.
func (p *Params) Map(into map[string]any) {
	into["token_policies"] = nonNil(p.Policies)
	into["policies"] = nonNil(p.Policies)
	into["token_ttl"] = int64(p.TTL / time.Second)
	into["token_max_ttl"] = int64(p.MaxTTL / time.Second)
	into["token_explicit_max_ttl"] = int64(p.ExplicitMaxTTL / time.Second)
	into["token_period"] = int64(p.Period / time.Second)
	into["token_num_uses"] = p.NumUses
	into["token_bound_cidrs"] = nonNil(p.BoundCIDRs)
	into["token_no_default_policy"] = p.NoDefaultPolicy
	t := p.Type
	if t == "" {
		t = TypeDefault
	}
	into["token_type"] = t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
