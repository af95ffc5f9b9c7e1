package core

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// errStateChanging is returned by the calls below while the core seals,
// unseals or steps down: they come from the watch detectors' goroutine,
// which a seal waits for while holding the state lock, so they never wait
// for that lock.
var errStateChanging = errors.New("the server is sealing, unsealing or changing leadership")

// RevokeAccessor revokes the token with this accessor, every token
// descended from it and their leases (dynamic credentials are revoked at
// their engines), as sys/leases and auth/token/revoke-accessor do. The
// watch detectors' containment calls it; it is not a request and emits no
// access event (AuditInternal records it).
func (c *Core) RevokeAccessor(ctx context.Context, accessor string) error {
	if !c.stateLock.TryRLock() {
		return errStateChanging
	}
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return errors.New("sealed")
	}
	return c.active.tokens.RevokeAccessor(ctx, accessor)
}

// AuditInternal records an action the server took by itself (automatic
// containment) in the audit log as a request from the server and its
// outcome. data must hold no secret: audit devices HMAC string values
// anyway, except for keys the device leaves in the clear.
func (c *Core) AuditInternal(ctx context.Context, op logical.Operation, path string, data map[string]any, outcome error) error {
	if !c.stateLock.TryRLock() {
		return errStateChanging
	}
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil || a.audit == nil {
		return nil
	}
	req := &logical.Request{ID: uuid.New(), Operation: op, Path: path, Data: data,
		Token:      &logical.TokenInfo{DisplayName: "keyward-watch", Policies: []string{}},
		Connection: &logical.Connection{RemoteAddr: "internal"}}
	if err := a.audit.LogRequest(ctx, req, nil); err != nil {
		return err
	}
	var resp *logical.Response
	if outcome == nil {
		resp = &logical.Response{Data: map[string]any{}}
	}
	return a.audit.LogResponse(ctx, req, resp, outcome)
}

// ACLPolicies returns every ACL policy's text by name (the watch
// detectors compare a policy before and after a change).
func (c *Core) ACLPolicies(context.Context) (map[string]string, error) {
	if !c.stateLock.TryRLock() {
		return nil, errStateChanging
	}
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return nil, errors.New("sealed")
	}
	out := map[string]string{}
	for _, n := range c.active.policies.names() {
		if text, ok := c.active.policies.get(n); ok {
			out[n] = text
		}
	}
	return out, nil
}

// ReadAuthConfig reads an auth method's object at path (an auth role or
// user, "auth/jwt/role/deploy") as the method's read answers it, without
// a token or ACL check and without an audit entry or access event. The
// watch detectors compare roles before and after a change with it; it
// refuses paths outside auth/ and returns nil for a missing object.
func (c *Core) ReadAuthConfig(ctx context.Context, path string) (map[string]any, error) {
	if !strings.HasPrefix(path, "auth/") || strings.HasPrefix(path, "auth/token/") {
		return nil, errors.New("only auth method objects can be read")
	}
	if !c.stateLock.TryRLock() {
		return nil, errStateChanging
	}
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil {
		return nil, errors.New("sealed")
	}
	m := a.mounts.route(path)
	if m == nil {
		return nil, nil
	}
	// A tune swaps m.entry under the table lock.
	a.mounts.mu.RLock()
	e := m.entry
	a.mounts.mu.RUnlock()
	if e.Table != tableAuth {
		return nil, nil
	}
	if !m.enter() {
		return nil, errMountChanged
	}
	defer m.leave()
	req := &logical.Request{ID: uuid.New(), Operation: logical.ReadOperation, Path: strings.TrimPrefix(path, e.Path),
		MountPoint: e.Path, MountType: e.Type, MountAccessor: e.Accessor, Storage: m.view,
		Token: &logical.TokenInfo{DisplayName: "keyward-watch", Root: true}}
	resp, err := m.backend.HandleRequest(ctx, req)
	if err != nil || resp == nil {
		return nil, err
	}
	return resp.Data, nil
}

// LoginGate is asked before a login's token is issued, with the auth
// mount ("auth/approle/") and the role or user the login went through
// (LoginName); an error refuses the login and is the client's answer.
type LoginGate func(ctx context.Context, mount, name string) error

// SetLoginGate installs g (nil removes it).
func (c *Core) SetLoginGate(g LoginGate) {
	if g == nil {
		c.loginGate.Store(nil)
		return
	}
	c.loginGate.Store(&g)
}

// LoginName is the role or user an auth method's token metadata names:
// "role" (jwt, oidc, cert), "role_name" (approle), "username" (userpass).
func LoginName(meta map[string]string) string {
	for _, k := range []string{"role", "role_name", "username"} {
		if v := meta[k]; v != "" {
			return v
		}
	}
	return ""
}

// TokenOrigin names the auth mount and the role or user that issued the
// token with this accessor (the lock-role containment locks them). A
// token made by auth/token has no role to lock: that is an error.
func (c *Core) TokenOrigin(ctx context.Context, accessor string) (mount, name string, err error) {
	if !c.stateLock.TryRLock() {
		return "", "", errStateChanging
	}
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil {
		return "", "", errors.New("sealed")
	}
	e, err := a.tokens.LookupAccessor(ctx, accessor)
	if err != nil {
		return "", "", err
	}
	if e == nil {
		return "", "", errors.New("no such token")
	}
	m := a.mounts.route(e.Path)
	if m == nil || m.entry.Table != tableAuth || strings.HasPrefix(e.Path, "auth/token/") {
		return "", "", errors.New("the token was not issued by an auth method login: no role or user to lock")
	}
	name = LoginName(e.Meta)
	if name == "" {
		return "", "", fmt.Errorf("the token's auth method (%s) names no role or user", m.entry.Path)
	}
	return m.entry.Path, name, nil
}
