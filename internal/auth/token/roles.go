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
	Name               string   `json:"name"`
	AllowedPolicies    []string `json:"allowed_policies,omitempty"`
	DisallowedPolicies []string `json:"disallowed_policies,omitempty"`
	Orphan             bool     `json:"orphan"`
	Renewable          bool     `json:"renewable"`
	PathSuffix         string   `json:"path_suffix,omitempty"`
	// Token holds the role's token_* settings. A token role sets only
	// ExplicitMaxTTL, Period, BoundCIDRs, NoDefaultPolicy and Type (""
	// or tokenparams.TypeDefaultService when the request decides); its
	// policies are AllowedPolicies.
	Token tokenparams.Params `json:"token"`
}

// storedRole decodes a role in either shape: the current one, whose token
// object lands in Token (shadowing Role.Token), or the one before it, with
// these settings at the top level under the names of that release.
type storedRole struct {
	Role
	Token           *tokenparams.Params `json:"token"`
	ExplicitMaxTTL  time.Duration       `json:"explicit_max_ttl"`
	Period          time.Duration       `json:"period"`
	BoundCIDRs      []string            `json:"bound_cidrs"`
	NoDefaultPolicy bool                `json:"no_default_policy"`
	TokenType       string              `json:"token_type"`
}

// role returns the token role name, nil if none. A role stored in the shape
// of releases before the token object (storedRole) is rewritten in the
// current shape on its first load, once: under s.roleMu, which role writes
// and deletes hold too, so no write is lost to it.
func (s *Store) role(ctx context.Context, name string) (*Role, error) {
	r, legacy, err := s.getRole(ctx, name)
	if err != nil || !legacy {
		return r, err
	}
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	if r, legacy, err = s.getRole(ctx, name); err != nil || !legacy {
		return r, err
	}
	if err := s.putRole(ctx, name, r); err != nil {
		return nil, fmt.Errorf("migrate token role %s: %w", name, err)
	}
	return r, nil
}

// getRole reads and decodes a role, nil if none; legacy reports that it was
// stored in the old shape.
func (s *Store) getRole(ctx context.Context, name string) (r *Role, legacy bool, err error) {
	if !validName(name) {
		return nil, false, nil
	}
	b, err := s.st.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, false, fmt.Errorf("read token role %s: %w", name, err)
	}
	if b == nil {
		return nil, false, nil
	}
	var st storedRole
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, false, fmt.Errorf("decode token role %s: %w", name, err)
	}
	if st.Token != nil {
		st.Role.Token = *st.Token
		return &st.Role, false, nil
	}
	st.Role.Token = tokenparams.Params{
		ExplicitMaxTTL:  st.ExplicitMaxTTL,
		Period:          st.Period,
		BoundCIDRs:      st.BoundCIDRs,
		NoDefaultPolicy: st.NoDefaultPolicy,
		Type:            st.TokenType,
	}
	return &st.Role, true, nil
}

func (s *Store) putRole(ctx context.Context, name string, r *Role) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode token role %s: %w", name, err)
	}
	if err := s.st.Put(ctx, rolePrefix+name, v); err != nil {
		return fmt.Errorf("write token role %s: %w", name, err)
	}
	return nil
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
	b.s.roleMu.Lock()
	defer b.s.roleMu.Unlock()
	if err := b.s.st.Delete(ctx, rolePrefix+name); err != nil {
		return nil, fmt.Errorf("delete token role %s: %w", name, err)
	}
	return nil, nil
}

func (b *backend) writeRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	b.s.roleMu.Lock()
	defer b.s.roleMu.Unlock()
	r, _, err := b.s.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &Role{Name: name, Renewable: true}
	}
	if err := applyRole(r, req.Data); err != nil {
		return nil, err
	}
	return nil, b.s.putRole(ctx, name, r)
}

func roleData(r *Role) map[string]any {
	return map[string]any{
		"name":                    r.Name,
		"allowed_policies":        nonNil(r.AllowedPolicies),
		"disallowed_policies":     nonNil(r.DisallowedPolicies),
		"orphan":                  r.Orphan,
		"renewable":               r.Renewable,
		"path_suffix":             r.PathSuffix,
		"token_explicit_max_ttl":  seconds(r.Token.ExplicitMaxTTL),
		"explicit_max_ttl":        seconds(r.Token.ExplicitMaxTTL),
		"token_period":            seconds(r.Token.Period),
		"period":                  seconds(r.Token.Period),
		"token_bound_cidrs":       nonNil(r.Token.BoundCIDRs),
		"token_no_default_policy": r.Token.NoDefaultPolicy,
		"token_type":              roleType(r),
	}
}

// roleType is the token_type a role shows: default-service when the
// request decides.
func roleType(r *Role) string {
	if r.Token.Type == "" || r.Token.Type == tokenparams.TypeDefault {
		return tokenparams.TypeDefaultService
	}
	return r.Token.Type
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
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

// applyRole updates r with the fields present in d. The token_* fields
// (under their current or legacy names, the current one winning) are
// tokenparams.Params.Parse's, so they are checked as every auth method's
// are; allowed_policies and disallowed_policies are normalized as role
// policies are (tokenparams.NormalizePolicies), and root cannot be
// allowed.
func applyRole(r *Role, d map[string]any) error {
	if err := logical.UnknownFields(d, roleFields...); err != nil {
		return err
	}
	if err := logical.NotSupported(d, roleUnsupported...); err != nil {
		return err
	}
	if v, ok, err := logical.Strings(d, "allowed_policies"); err != nil {
		return err
	} else if ok {
		if r.AllowedPolicies, err = tokenparams.RolePolicies("allowed_policies", v); err != nil {
			return err
		}
	}
	if v, ok, err := logical.Strings(d, "disallowed_policies"); err != nil {
		return err
	} else if ok {
		pols := tokenparams.NormalizePolicies(v)
		if err := tokenparams.ValidatePolicies("disallowed_policies", pols); err != nil {
			return err
		}
		r.DisallowedPolicies = pols
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
	if err := r.Token.ParseAliased(d, fieldAliases); err != nil {
		return err
	}
	if r.Token.Type == tokenparams.TypeDefault {
		r.Token.Type = tokenparams.TypeDefaultService
	}
	return nil
}
