package pki

import (
	"context"

	"github.com/keyward/keyward/internal/logical"
)

func (b *backend) listRoles(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := req.Storage.List(ctx, "role/")
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

func (b *backend) readRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	r, err := loadRole(ctx, req.Storage, p["name"])
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: r.data()}, nil
}

// writeRole creates a role from the defaults or updates the stored one
// with the fields given.
func (b *backend) writeRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := roleFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	r, err := loadRole(ctx, req.Storage, p["name"])
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = newRole()
	}
	if err := parseRole(r, req.Data); err != nil {
		return nil, err
	}
	if err := logical.PutJSON(ctx, req.Storage, "role/"+p["name"], r); err != nil {
		return nil, err
	}
	return &logical.Response{Data: r.data()}, nil
}

func (b *backend) deleteRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, req.Storage.Delete(ctx, "role/"+p["name"])
}

// roleExists tells the core a write to a new role is a create.
func (b *backend) roleExists(ctx context.Context, req *logical.Request, p logical.Params) (bool, error) {
	r, err := loadRole(ctx, req.Storage, p["name"])
	return r != nil, err
}
