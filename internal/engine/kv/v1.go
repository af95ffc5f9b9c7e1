package kv

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// v1Backend is KV version 1: one unversioned JSON object per path.
type v1Backend struct {
	clock
	sys logical.SystemView
}

// HandleRequest serves read, create/update, delete and list on any path.
func (b *v1Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	switch req.Operation {
	case logical.ReadOperation:
		return b.read(ctx, req)
	case logical.CreateOperation, logical.UpdateOperation:
		return b.write(ctx, req)
	case logical.DeleteOperation:
		if err := checkName(req.Path); err != nil {
			return nil, err
		}
		if err := req.Storage.Delete(ctx, req.Path); err != nil {
			return nil, fmt.Errorf("kv: delete secret: %w", err)
		}
		return nil, nil
	case logical.ListOperation:
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
	return nil, logical.ErrUnsupportedOperation
}

// ExistenceCheck reports whether a secret exists at the path.
func (b *v1Backend) ExistenceCheck(ctx context.Context, req *logical.Request) (found, exists bool, err error) {
	if checkName(req.Path) != nil {
		return false, false, nil
	}
	v, err := req.Storage.Get(ctx, req.Path)
	if err != nil {
		return true, false, fmt.Errorf("kv: read secret: %w", err)
	}
	return true, v != nil, nil
}

func (b *v1Backend) read(ctx context.Context, req *logical.Request) (*logical.Response, error) {
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

func (b *v1Backend) write(ctx context.Context, req *logical.Request) (*logical.Response, error) {
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
