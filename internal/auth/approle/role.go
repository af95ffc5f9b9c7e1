package approle

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// role is one AppRole role as stored.
type role struct {
	Name               string             `json:"name"`
	RoleID             string             `json:"role_id"`
	BindSecretID       bool               `json:"bind_secret_id"`
	SecretIDTTL        time.Duration      `json:"secret_id_ttl"`
	SecretIDNumUses    int                `json:"secret_id_num_uses"`
	SecretIDBoundCIDRs []string           `json:"secret_id_bound_cidrs,omitempty"`
	Token              tokenparams.Params `json:"token"`
}

func (b *Backend) role(ctx context.Context, name string) (*role, error) {
	var r role
	ok, err := logical.GetJSON(ctx, b.view, rolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func (b *Backend) listRoles(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := b.view.List(ctx, rolePrefix)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

// roleName is the role a role/{role_name}... path names: lower case, as
// stored.
func roleName(p logical.Params) (string, error) {
	name := strings.ToLower(p["role_name"])
	if !roleNameRE.MatchString(name) {
		return "", logical.BadRequest("invalid role name")
	}
	return name, nil
}

// onRole wraps fn for role/NAME (fn gets the canonical name).
func onRole(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		name, err := roleName(p)
		if err != nil {
			return nil, err
		}
		return fn(ctx, req, name)
	}
}

// onExisting wraps fn for the paths below a role: b.mu held and the role,
// which must exist, loaded.
func (b *Backend) onExisting(fn func(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		name, err := roleName(p)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		r, err := b.role(ctx, name)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, logical.Errorf(http.StatusNotFound, "role %q not found", name)
		}
		return fn(ctx, req, r)
	}
}

// roleExists is the role/NAME existence check.
func (b *Backend) roleExists(ctx context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	r, err := b.role(ctx, strings.ToLower(p["role_name"]))
	return r != nil, err
}

func (b *Backend) readRoleID(_ context.Context, _ *logical.Request, r *role) (*logical.Response, error) {
	return &logical.Response{Data: map[string]any{"role_id": r.RoleID}}, nil
}

func (b *Backend) writeRoleID(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
	if err := roleIDDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	id, _, err := logical.Str(req.Data, "role_id")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(id) == "" {
		return nil, logical.BadRequest("field %q is required", "role_id")
	}
	return nil, b.setRoleID(ctx, r, id)
}

func (b *Backend) listSecretIDsOf(ctx context.Context, _ *logical.Request, r *role) (*logical.Response, error) {
	return b.listSecretIDs(ctx, r)
}

func (b *Backend) generateSecretID(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
	return b.createSecretID(ctx, req, r, "")
}

func (b *Backend) customSecretID(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
	sid, _, err := logical.Str(req.Data, "secret_id")
	if err != nil {
		return nil, err
	}
	if sid == "" {
		return nil, logical.BadRequest("field %q is required", "secret_id")
	}
	return b.createSecretID(ctx, req, r, sid)
}

// bySecretID serves secret-id/lookup and secret-id/destroy (op).
func (b *Backend) bySecretID(op string) func(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
	return func(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
		if err := bySecretIDDocs.Unknown(req.Data); err != nil {
			return nil, err
		}
		sid, _, err := logical.Str(req.Data, "secret_id")
		if err != nil {
			return nil, err
		}
		if sid == "" {
			return nil, logical.BadRequest("field %q is required", "secret_id")
		}
		return b.secretIDOp(ctx, r, b.hash("secret_id", sid), op)
	}
}

// byAccessor serves secret-id-accessor/lookup and /destroy (op).
func (b *Backend) byAccessor(op string) func(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
	return func(ctx context.Context, req *logical.Request, r *role) (*logical.Response, error) {
		// node-vault sends the role's name again as role_name: accepted
		// only when it repeats the path's.
		if err := byAccessorDocs.Unknown(req.Data); err != nil {
			return nil, err
		}
		if rn, ok, err := logical.Str(req.Data, "role_name"); err != nil {
			return nil, err
		} else if ok && strings.ToLower(rn) != r.Name {
			return nil, logical.BadRequest("role_name %q does not match the path's role", rn)
		}
		acc, _, err := logical.Str(req.Data, "secret_id_accessor")
		if err != nil {
			return nil, err
		}
		h, err := b.accessorHash(ctx, r.Name, acc)
		if err != nil {
			return nil, err
		}
		return b.secretIDOp(ctx, r, h, op)
	}
}

func (b *Backend) readRole(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	r, err := b.role(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	d := map[string]any{
		"bind_secret_id":        r.BindSecretID,
		"secret_id_ttl":         int64(r.SecretIDTTL / time.Second),
		"secret_id_num_uses":    r.SecretIDNumUses,
		"secret_id_bound_cidrs": nonNil(r.SecretIDBoundCIDRs),
	}
	r.Token.Map(d)
	return &logical.Response{Data: d}, nil
}

func (b *Backend) writeRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := roleDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.role(ctx, name)
	if err != nil {
		return nil, err
	}
	created := r == nil
	if created {
		r = &role{Name: name, BindSecretID: true}
	}
	if v, ok, err := logical.Bool(req.Data, "bind_secret_id"); err != nil {
		return nil, err
	} else if ok {
		r.BindSecretID = v
	}
	if v, ok, err := logical.Duration(req.Data, "secret_id_ttl"); err != nil {
		return nil, err
	} else if ok {
		r.SecretIDTTL = v
	}
	if v, ok, err := logical.Int(req.Data, "secret_id_num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, logical.BadRequest("field %q: must not be negative", "secret_id_num_uses")
		}
		r.SecretIDNumUses = v
	}
	for _, key := range []string{"bound_cidr_list", "secret_id_bound_cidrs"} {
		if v, ok, err := logical.Strings(req.Data, key); err != nil {
			return nil, err
		} else if ok {
			if err := tokenparams.ValidateCIDRs(key, v); err != nil {
				return nil, err
			}
			r.SecretIDBoundCIDRs = v
		}
	}
	if err := r.Token.ParseAliased(req.Data, fieldAliases); err != nil {
		return nil, err
	}
	if !r.BindSecretID && len(r.SecretIDBoundCIDRs) == 0 && len(r.Token.BoundCIDRs) == 0 {
		return nil, logical.BadRequest("a role without bind_secret_id needs secret_id_bound_cidrs or token_bound_cidrs")
	}
	newID, _, err := logical.Str(req.Data, "role_id")
	if err != nil {
		return nil, err
	}
	if created && newID == "" {
		newID = uuid.New()
	}
	if newID != "" && newID != r.RoleID {
		return nil, b.setRoleID(ctx, r, newID)
	}
	return nil, logical.PutJSON(ctx, b.view, rolePrefix+name, r)
}

// setRoleID gives r a new role_id (refusing one another role holds) and
// stores r. b.mu is held.
func (b *Backend) setRoleID(ctx context.Context, r *role, id string) error {
	if len(id) > 256 {
		return logical.BadRequest("field %q: too long", "role_id")
	}
	key := roleIDPrefix + b.hash("role_id", id)
	owner, err := b.view.Get(ctx, key)
	if err != nil {
		return err
	}
	if owner != nil && string(owner) != r.Name {
		return logical.BadRequest("role_id is already in use")
	}
	if r.RoleID != "" {
		if err := b.view.Delete(ctx, roleIDPrefix+b.hash("role_id", r.RoleID)); err != nil {
			return err
		}
	}
	r.RoleID = id
	if err := b.view.Put(ctx, key, []byte(r.Name)); err != nil {
		return err
	}
	return logical.PutJSON(ctx, b.view, rolePrefix+r.Name, r)
}

func (b *Backend) deleteRole(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.role(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	var errs []error
	for _, pfx := range []string{secretPrefix + name + "/", accessorPrefx + name + "/"} {
		keys, err := b.view.List(ctx, pfx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			errs = append(errs, b.view.Delete(ctx, pfx+k))
		}
	}
	errs = append(errs, b.view.Delete(ctx, roleIDPrefix+b.hash("role_id", r.RoleID)), b.view.Delete(ctx, rolePrefix+name))
	return nil, errors.Join(errs...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
