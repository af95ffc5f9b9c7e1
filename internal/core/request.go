package core

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// errSealRequested is returned by the sys backend for sys/seal: sealing needs
// the state lock for writing, which the request path holds for reading.
var errSealRequested = errors.New("seal requested")

// HandleRequest runs one request through the pipeline. req.Path must already
// be cleaned (the HTTP layer rejects traversal before calling this).
func (c *Core) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	c.requests.Add(1)
	if resp, handled, err := c.handleSealedPaths(ctx, req); handled {
		return resp, err
	}
	resp, err := c.handleUnsealed(ctx, req)
	if errors.Is(err, errSealRequested) {
		c.stateLock.Lock()
		c.sealLocked()
		c.stateLock.Unlock()
		c.logger.Info("sealed by request", "request_id", req.ID, "accessor", tokenAccessor(req))
		return nil, nil
	}
	return resp, err
}

func tokenAccessor(req *logical.Request) string {
	if req.Token == nil {
		return ""
	}
	return req.Token.Accessor
}

func (c *Core) handleUnsealed(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil {
		return nil, logical.ErrSealed
	}

	m := a.mounts.route(req.Path)
	rel := ""
	if m != nil {
		rel = strings.TrimPrefix(req.Path, m.entry.Path)
		if rel == req.Path { // "secret" routed to "secret/"
			rel = ""
		}
	}
	unauth := m != nil && matchPath(m.unauth, rel)

	var te *token.Entry
	if !unauth {
		if req.ClientToken == "" {
			return nil, logical.ErrPermissionDenied
		}
		remote := ""
		if req.Connection != nil {
			remote = req.Connection.RemoteAddr
		}
		var err error
		te, err = a.tokens.Use(ctx, req.ClientToken, remote)
		if err != nil {
			if errors.Is(err, token.ErrInvalidToken) {
				return nil, logical.ErrPermissionDenied
			}
			return nil, err
		}
		req.Token = tokenInfo(te)
	}
	if m == nil {
		return nil, logical.Errorf(http.StatusNotFound, "no handler for route %q", req.Path)
	}

	req.MountType = m.entry.Type
	routed := *req
	routed.Path = rel
	routed.MountPoint = m.entry.Path
	routed.MountType = m.entry.Type
	routed.MountAccessor = m.entry.Accessor
	routed.MountConfig = logical.MountConfig{
		DefaultLeaseTTL: orDefault(m.entry.Config.DefaultLeaseTTL, c.cfg.DefaultLeaseTTL),
		MaxLeaseTTL:     orDefault(m.entry.Config.MaxLeaseTTL, c.cfg.MaxLeaseTTL),
		Options:         m.entry.Options,
	}
	routed.Storage = m.view
	routed.Unauthenticated = unauth

	if routed.Operation == logical.UpdateOperation {
		if ec, ok := m.backend.(logical.ExistenceChecker); ok {
			found, exists, err := ec.ExistenceCheck(ctx, &routed)
			if err != nil {
				return nil, err
			}
			if found && !exists {
				routed.Operation = logical.CreateOperation
			}
		}
	}

	if te != nil && !req.Token.Root {
		acl, err := a.policies.acl(te.Policies, nil)
		if err != nil {
			return nil, err
		}
		d := acl.Check(req.Path, policy.Operation(routed.Operation), routed.Data)
		if !d.Allowed {
			return nil, logical.ErrPermissionDenied
		}
		if matchPath(m.sudo, rel) && !d.Sudo {
			return nil, logical.ErrPermissionDenied
		}
	}

	resp, err := m.backend.HandleRequest(ctx, &routed)
	if err != nil {
		return resp, err
	}
	if resp != nil && resp.Auth != nil && resp.Auth.ClientToken == "" {
		if err := c.loginToken(ctx, a, &routed, resp.Auth); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// loginToken turns an auth method's Auth into a token.
func (c *Core) loginToken(ctx context.Context, a *active, req *logical.Request, au *logical.Auth) error {
	for _, p := range au.Policies {
		if p == "root" {
			return logical.ErrPermissionDenied
		}
	}
	path := req.MountPoint + req.Path
	tok, e, err := a.tokens.CreateFromAuth(ctx, au, nil, path)
	if err != nil {
		return err
	}
	au.ClientToken = tok
	au.Accessor = e.Accessor
	au.Policies = e.Policies
	au.TokenPolicies = e.Policies
	au.TTL = e.TTL
	au.Orphan = true
	au.TokenType = "service"
	c.logger.Info("login", "path", path, "accessor", e.Accessor, "display_name", e.DisplayName)
	return nil
}

func tokenInfo(te *token.Entry) *logical.TokenInfo {
	return &logical.TokenInfo{
		Accessor:    te.Accessor,
		Policies:    te.Policies,
		DisplayName: te.DisplayName,
		EntityID:    te.EntityID,
		Metadata:    te.Meta,
		Root:        isRoot(te.Policies),
		Path:        te.Path,
	}
}

// isRoot reports whether a token is root: its policies contain exactly the
// string "root". Names are validated strictly when attached, so "Root" or
// " root" can never be present, let alone compared loosely.
func isRoot(policies []string) bool {
	return slices.Contains(policies, "root")
}

// matchPath reports whether rel matches one of patterns (exact, or a prefix
// when the pattern ends in "*").
func matchPath(patterns []string, rel string) bool {
	for _, p := range patterns {
		if strings.HasSuffix(p, "*") {
			if strings.HasPrefix(rel, p[:len(p)-1]) {
				return true
			}
		} else if rel == p || rel == strings.TrimSuffix(p, "/") {
			return true
		}
	}
	return false
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
