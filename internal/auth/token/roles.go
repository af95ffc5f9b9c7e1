package token

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// Role constrains tokens created through auth/token/create/NAME.
type Role struct {
	Name               string        `json:"name"`
	AllowedPolicies    []string      `json:"allowed_policies,omitempty"`
	DisallowedPolicies []string      `json:"disallowed_policies,omitempty"`
	Orphan             bool          `json:"orphan"`
	Renewable          bool          `json:"renewable"`
	PathSuffix         string        `json:"path_suffix,omitempty"`
	ExplicitMaxTTL     time.Duration `json:"explicit_max_ttl,omitempty"`
	Period             time.Duration `json:"period,omitempty"`
	BoundCIDRs         []string      `json:"bound_cidrs,omitempty"`
	NoDefaultPolicy    bool          `json:"no_default_policy,omitempty"`
	TokenType          string        `json:"token_type,omitempty"`
}

func (s *Store) role(ctx context.Context, name string) (*Role, error) {
	if !validName(name) {
		return nil, nil
	}
	b, err := s.st.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("read token role %s: %w", name, err)
	}
	if b == nil {
		return nil, nil
	}
	var r Role
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode token role %s: %w", name, err)
	}
	return &r, nil
}

func (b *backend) listRoles(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := b.s.st.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("list token roles: %w", err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			out = append(out, k)
		}
	}
	return &logical.Response{Data: map[string]any{"keys": out}}, nil
}

// onRole wraps fn for roles/{role_name}: the name valid.
func onRole(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		name := p["role_name"]
		if !validName(name) {
			return nil, logical.BadRequest("invalid role name: names match [a-z0-9][a-z0-9._-]*")
		}
		return fn(ctx, req, name)
	}
}

func (b *backend) roleExists(ctx context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	r, err := b.s.role(ctx, p["role_name"])
	return r != nil, err
}

func (b *backend) readRole(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	r, err := b.s.role(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: roleData(r)}, nil
}

func (b *backend) deleteRole(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	if err := b.s.st.Delete(ctx, rolePrefix+name); err != nil {
		return nil, fmt.Errorf("delete token role %s: %w", name, err)
	}
	return nil, nil
}

func (b *backend) writeRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, err := b.s.role(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &Role{Name: name, Renewable: true}
	}
	if err := applyRole(r, req.Data); err != nil {
		return nil, err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode token role %s: %w", name, err)
	}
	if err := b.s.st.Put(ctx, rolePrefix+name, v); err != nil {
		return nil, fmt.Errorf("write token role %s: %w", name, err)
	}
	return nil, nil
}

func roleData(r *Role) map[string]any {
	return map[string]any{
		"name":                    r.Name,
		"allowed_policies":        nonNil(r.AllowedPolicies),
		"disallowed_policies":     nonNil(r.DisallowedPolicies),
		"orphan":                  r.Orphan,
		"renewable":               r.Renewable,
		"path_suffix":             r.PathSuffix,
		"token_explicit_max_ttl":  seconds(r.ExplicitMaxTTL),
		"explicit_max_ttl":        seconds(r.ExplicitMaxTTL),
		"token_period":            seconds(r.Period),
		"period":                  seconds(r.Period),
		"token_bound_cidrs":       nonNil(r.BoundCIDRs),
		"token_no_default_policy": r.NoDefaultPolicy,
		"token_type":              roleType(r),
	}
}

func roleType(r *Role) string {
	if r.TokenType == "" {
		return "default-service"
	}
	return r.TokenType
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// durationField reads the first of keys present.
func durationField(d map[string]any, keys ...string) (time.Duration, bool, error) {
	for _, k := range keys {
		v, ok, err := logical.Duration(d, k)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return 0, false, nil
}

func validSuffix(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 128 || strings.Contains(s, "..") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0
		if !ok {
			return false
		}
	}
	return !strings.Contains(s, "//")
}

// roleFields are the fields of auth/token/roles/NAME; roleUnsupported are
// Vault's role fields Keyward does not implement (refused unless zero).
var (
	roleFields      = roleDocs.Names()
	roleUnsupported = []string{"allowed_policies_glob", "disallowed_policies_glob", "allowed_entity_aliases", "token_num_uses"}
)

// applyRole updates r with the fields present in d.
func applyRole(r *Role, d map[string]any) error {
	if err := logical.UnknownFields(d, roleFields...); err != nil {
		return err
	}
	if err := logical.NotSupported(d, roleUnsupported...); err != nil {
		return err
	}
	if v, ok, err := policyList(d, "allowed_policies"); err != nil {
		return err
	} else if ok {
		if slices.Contains(v, "root") {
			return logical.BadRequest("field \"allowed_policies\": a role cannot allow the root policy")
		}
		r.AllowedPolicies = v
	}
	if v, ok, err := policyList(d, "disallowed_policies"); err != nil {
		return err
	} else if ok {
		r.DisallowedPolicies = v
	}
	if v, ok, err := logical.Bool(d, "orphan"); err != nil {
		return err
	} else if ok {
		r.Orphan = v
	}
	if v, ok, err := logical.Bool(d, "renewable"); err != nil {
		return err
	} else if ok {
		r.Renewable = v
	}
	if v, ok, err := logical.Str(d, "path_suffix"); err != nil {
		return err
	} else if ok {
		if !validSuffix(v) {
			return logical.BadRequest("field \"path_suffix\": letters, digits, '.', '_', '-' and '/' only, no \"..\"")
		}
		r.PathSuffix = v
	}
	if v, ok, err := durationField(d, "token_explicit_max_ttl", "explicit_max_ttl"); err != nil {
		return err
	} else if ok {
		r.ExplicitMaxTTL = v
	}
	if v, ok, err := durationField(d, "token_period", "period"); err != nil {
		return err
	} else if ok {
		r.Period = v
	}
	cidrKey := "token_bound_cidrs"
	if _, ok := d[cidrKey]; !ok {
		cidrKey = "bound_cidrs"
	}
	if v, ok, err := logical.Strings(d, cidrKey); err != nil {
		return err
	} else if ok {
		if err := tokenparams.ValidateCIDRs(cidrKey, v); err != nil {
			return err
		}
		r.BoundCIDRs = v
	}
	if v, ok, err := logical.Bool(d, "token_no_default_policy"); err != nil {
		return err
	} else if ok {
		r.NoDefaultPolicy = v
	}
	if v, ok, err := logical.Str(d, "token_type"); err != nil {
		return err
	} else if ok {
		switch v {
		case "", "default", "default-service":
			r.TokenType = "default-service"
		case TypeService, TypeBatch, "default-batch":
			r.TokenType = v
		default:
			return logical.BadRequest("field \"token_type\": must be one of service, batch, default-service or default-batch")
		}
	}
	if (r.TokenType == TypeBatch || r.TokenType == "default-batch") && r.Period > 0 {
		return logical.BadRequest("field \"token_type\": %s cannot be used with a period: batch tokens are never renewed", r.TokenType)
	}
	return nil
}
