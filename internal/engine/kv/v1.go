package kv

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// v1Backend is KV version 1: one unversioned JSON object per path.
type v1Backend struct {
	*logical.Router
	clock
	sys logical.SystemView
}

func (b *v1Backend) routes() []logical.Route {
	return []logical.Route{{
		Pattern: "{path*}",
		Ops: map[logical.Operation]logical.Handler{
			logical.ReadOperation:   b.read,
			logical.UpdateOperation: b.write,
			logical.DeleteOperation: b.delete,
			logical.ListOperation:   b.list,
		},
		Exists: func(ctx context.Context, req *logical.Request, _ logical.Params) (bool, error) {
			if checkName(req.Path) != nil {
				return false, logical.ErrNoExistenceCheck
			}
			v, err := req.Storage.Get(ctx, req.Path)
			if err != nil {
				return false, fmt.Errorf("kv: read secret: %w", err)
			}
			return v != nil, nil
		},
		Synopsis:    "Read, write, delete or list secrets.",
		Description: "Each path holds one JSON object, replaced whole by a write. A LIST of a path ending in \"/\" (or of the mount) names the secrets and folders below it.",
		Fields: logical.Fields{
			{Name: "path", InPath: true, Description: "The secret's path; for a LIST, the folder."},
			{Name: "ttl", Type: logical.TypeDuration, Description: "A refresh hint returned as the lease duration of reads (the key-value pairs of the body are the secret; ttl is stored with them)."},
		},
	}}
}

func (b *v1Backend) delete(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := checkName(req.Path); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, req.Path); err != nil {
		return nil, fmt.Errorf("kv: delete secret: %w", err)
	}
	return nil, nil
}

func (b *v1Backend) list(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	prefix, err := listPrefix(req.Path)
	if err != nil {
		return nil, err
	}
	keys, err := req.Storage.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("kv: list secrets: %w", err)
	}
	return listResponse(keys), nil
}

func (b *v1Backend) read(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := checkName(req.Path); err != nil {
		return nil, err
	}
	raw, err := req.Storage.Get(ctx, req.Path)
	if err != nil {
		return nil, fmt.Errorf("kv: read secret: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	data, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: data}
	ttl, ok, err := v1TTL(data)
	if err != nil {
		return nil, fmt.Errorf("kv: stored ttl is corrupt")
	}
	if !ok {
		ttl = req.MountConfig.DefaultLeaseTTL
		if ttl == 0 && b.sys != nil {
			ttl = b.sys.DefaultLeaseTTL()
		}
	}
	if ttl > 0 {
		// A refresh hint only: without a LeaseID the core registers no lease.
		resp.Secret = &logical.Secret{TTL: ttl, Renewable: false}
	}
	return resp, nil
}

func (b *v1Backend) write(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := checkName(req.Path); err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, logical.BadRequest("missing data fields")
	}
	if _, _, err := v1TTL(req.Data); err != nil {
		return nil, err
	}
	buf, err := encodeObject("data", req.Data)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, req.Path, buf); err != nil {
		return nil, fmt.Errorf("kv: write secret: %w", err)
	}
	return nil, nil
}

// v1TTL returns the "ttl" (or legacy "lease") of a v1 secret.
func v1TTL(data map[string]any) (time.Duration, bool, error) {
	for _, key := range []string{"ttl", "lease"} {
		d, ok, err := logical.Duration(data, key)
		if ok || err != nil {
			return d, ok, err
		}
	}
	return 0, false, nil
}

func listResponse(keys []string) *logical.Response {
	if len(keys) == 0 {
		return nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}
}

// FieldAliases names "lease", the legacy name of "ttl", so the core checks
// parameter constraints on ttl whichever name a write uses.
func (b *v1Backend) FieldAliases() map[string]string { return v1Aliases }

var v1Aliases = map[string]string{"lease": "ttl"}
