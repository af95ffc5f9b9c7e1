package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// AuditBroker records every request and response that reaches the unsealed
// pipeline. LogRequest runs once the caller is authenticated and the ACL
// decided (authErr carries a refusal, which is recorded too); LogResponse
// runs before anything is returned. If either fails, the request is refused
// and nothing from it is served: audit fails closed.
type AuditBroker interface {
	LogRequest(ctx context.Context, req *logical.Request, authErr error) error
	LogResponse(ctx context.Context, req *logical.Request, resp *logical.Response, respErr error) error
	// Backend serves sys/audit, sys/audit/* and sys/audit-hash/* (paths
	// relative to sys/).
	Backend() logical.Backend
	Close() error
}

// AuditFactory builds the broker at unseal from its storage view (device
// table, HMAC and signing keys, all behind the barrier).
type AuditFactory func(ctx context.Context, view logical.Storage, logger *slog.Logger) (AuditBroker, error)

// LeaseManager tracks leased secrets: it registers them, renews and revokes
// them through the engine that issued them, and persists them so expiry
// survives restarts.
type LeaseManager interface {
	// Register gives s a lease id under req's mount and path and persists it.
	Register(ctx context.Context, req *logical.Request, s *logical.Secret) error
	// RevokeByToken revokes every lease created by the token with accessor.
	RevokeByToken(ctx context.Context, accessor string) error
	// Remount moves the leases of the mount at from (a mount path such as
	// "database/") to to, ids included, and returns how many moved. It is
	// safe to call again after an interruption.
	Remount(ctx context.Context, from, to string) (int, error)
	// Backend serves sys/leases/*, sys/renew, sys/revoke* (relative to sys/).
	Backend() logical.Backend
	Close() error
}

// LeaseEngines is how a lease manager reaches the engines: the core routes
// by mount path to the backend that issued the lease.
type LeaseEngines interface {
	Revoke(ctx context.Context, mountPath string, s *logical.Secret) error
	Renew(ctx context.Context, mountPath string, s *logical.Secret, increment time.Duration) (*logical.Secret, error)
}

// LeaseFactory builds the lease manager at unseal.
type LeaseFactory func(ctx context.Context, view logical.Storage, engines LeaseEngines, logger *slog.Logger) (LeaseManager, error)

// leaseEngines implements LeaseEngines over the active mount table.
type leaseEngines struct{ a *active }

// route finds the mount at mountPath and admits the call to it; a nil
// error must be followed by m.leave().
func (le leaseEngines) route(mountPath string) (*mount, error) {
	m := le.a.mounts.get(mountPath)
	if m == nil {
		return nil, logical.BadRequest("no mount at %q", mountPath)
	}
	if !m.enter() {
		return nil, errMountChanged
	}
	return m, nil
}

func (le leaseEngines) request(m *mount) *logical.Request {
	return &logical.Request{
		MountPoint:    m.entry.Path,
		MountType:     m.entry.Type,
		MountAccessor: m.entry.Accessor,
		Storage:       m.view,
	}
}

func (le leaseEngines) Revoke(ctx context.Context, mountPath string, s *logical.Secret) error {
	m, err := le.route(mountPath)
	if err != nil {
		return err
	}
	defer m.leave()
	r, ok := m.backend.(logical.Revoker)
	if !ok {
		return nil // nothing to undo at this engine
	}
	return r.Revoke(ctx, le.request(m), s)
}

// HasSudo reports whether req's token holds sudo on req's path; the lease
// manager lets such a token manage leases other tokens created.
func (le leaseEngines) HasSudo(req *logical.Request) bool {
	return le.a.hasSudo(req.Token, req.MountPoint+req.Path, req.Operation)
}

func (le leaseEngines) Renew(ctx context.Context, mountPath string, s *logical.Secret, increment time.Duration) (*logical.Secret, error) {
	m, err := le.route(mountPath)
	if err != nil {
		return nil, err
	}
	defer m.leave()
	r, ok := m.backend.(logical.Renewer)
	if !ok {
		return nil, logical.BadRequest("lease is not renewable")
	}
	req := le.request(m)
	req.Data = map[string]any{"increment": int64(increment / time.Second)}
	return r.Renew(ctx, req, s)
}

// Wrapper implements response wrapping: a response is stored behind a
// single-use wrapping token and replaced by wrap_info.
type Wrapper interface {
	// Wrap stores resp and returns the response to send instead (only
	// WrapInfo set). req is the request that produced resp.
	Wrap(ctx context.Context, req *logical.Request, resp *logical.Response, ttl time.Duration) (*logical.Response, error)
	// Backend serves sys/wrapping/* (relative to sys/). wrapping/unwrap and
	// wrapping/lookup reach it without core authentication: it checks the
	// wrapping token itself (req.ClientToken or data "token").
	Backend() logical.Backend
	Close() error
}

// WrapperFactory builds the wrapper at unseal.
type WrapperFactory func(ctx context.Context, view logical.Storage, logger *slog.Logger) (Wrapper, error)

// SysService is an extra sys/ endpoint family served by its own backend,
// such as sys/policies/password. Prefix is relative to sys/ and ends in "/"
// (requests for the bare prefix without the slash reach it too); the
// backend gets paths relative to sys/ and a storage view of its own.
type SysService struct {
	Prefix  string
	Storage string // view prefix inside the barrier, e.g. "sys/password-policies/"
	Factory func(ctx context.Context, view logical.Storage, logger *slog.Logger) (logical.Backend, error)
}
