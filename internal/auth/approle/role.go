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

var roleFields = append([]string{"role_id", "bind_secret_id", "secret_id_ttl", "secret_id_num_uses",
	"secret_id_bound_cidrs", "bound_cidr_list", "period"}, tokenparams.Fields...)

func (b *Backend) role(ctx context.Context, name string) (*role, error) {
	var r role
	ok, err := logical.GetJSON(ctx, b.view, rolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func (b *Backend) listRoles(ctx context.Context) (*logical.Response, error) {
	keys, err := b.view.List(ctx, rolePrefix)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

func (b *Backend) rolePath(ctx context.Context, req *logical.Request, name, sub string) (*logical.Response, error) {
	op := req.Operation
	write := op == logical.UpdateOperation || op == logical.CreateOperation
	if sub == "" {
		switch {
		case op == logical.ReadOperation:
			return b.readRole(ctx, name)
		case write:
			return b.writeRole(ctx, req, name)
		case op == logical.DeleteOperation:
			return b.deleteRole(ctx, name)
		}
		return nil, logical.ErrUnsupportedOperation
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
	switch sub {
	case "role-id":
		if op == logical.ReadOperation {
			return &logical.Response{Data: map[string]any{"role_id": r.RoleID}}, nil
		}
		if !write {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data, "role_id"); err != nil {
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
	case "secret-id":
		if op == logical.ListOperation {
			return b.listSecretIDs(ctx, r)
		}
		if !write {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.createSecretID(ctx, req, r, "")
	case "custom-secret-id":
		if !write {
			return nil, logical.ErrUnsupportedOperation
		}
		sid, _, err := logical.Str(req.Data, "secret_id")
		if err != nil {
			return nil, err
		}
		if sid == "" {
			return nil, logical.BadRequest("field %q is required", "secret_id")
		}
		return b.createSecretID(ctx, req, r, sid)
	case "secret-id/lookup", "secret-id/destroy":
		if !write && !(sub == "secret-id/destroy" && op == logical.DeleteOperation) {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data, "secret_id"); err != nil {
			return nil, err
		}
		sid, _, err := logical.Str(req.Data, "secret_id")
		if err != nil {
			return nil, err
		}
		if sid == "" {
			return nil, logical.BadRequest("field %q is required", "secret_id")
		}
		return b.secretIDOp(ctx, r, b.hash("secret_id", sid), strings.TrimPrefix(sub, "secret-id/"))
	case "secret-id-accessor/lookup", "secret-id-accessor/destroy":
		if !write && !(sub == "secret-id-accessor/destroy" && op == logical.DeleteOperation) {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data, "secret_id_accessor"); err != nil {
			return nil, err
		}
		acc, _, err := logical.Str(req.Data, "secret_id_accessor")
		if err != nil {
			return nil, err
		}
		h, err := b.accessorHash(ctx, r.Name, acc)
		if err != nil {
			return nil, err
		}
		return b.secretIDOp(ctx, r, h, strings.TrimPrefix(sub, "secret-id-accessor/"))
	}
	return nil, logical.Errorf(http.StatusNotFound, "unsupported path %q", req.Path)
}

func (b *Backend) readRole(ctx context.Context, name string) (*logical.Response, error) {
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
	if err := logical.UnknownFields(req.Data, roleFields...); err != nil {
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
	if err := r.Token.Parse(req.Data); err != nil {
		return nil, err
	}
	if v, ok, err := logical.Duration(req.Data, "period"); err != nil {
		return nil, err
	} else if ok {
		r.Token.Period = v
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

func (b *Backend) deleteRole(ctx context.Context, name string) (*logical.Response, error) {
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
