package core

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
)

// Service is a family of sys/ paths served by a backend of its own, built
// at each unseal: the audit broker, password policies, response wrapping,
// the lease manager, metrics. Config.Services lists them in start order;
// they close in the reverse order, so the first (audit) is up before the
// others and closed after them, and whatever the others do while closing
// (the lease manager's revocations) is still audited.
//
// Requests for the service's Paths reach its backend with paths relative
// to sys/; its routes' Sudo and Unauthenticated flags join the sys/
// mount's lists, and its help, OpenAPI and aliases (logical.Aliaser) are
// sys/'s. A backend that also plays a part in the pipeline says so by
// implementing AuditBroker, LeaseManager, Wrapper or PasswordGenerator;
// the core uses the first service implementing each.
type Service struct {
	// Name names the service in logs and errors ("audit").
	Name string
	// Paths are the sys/ paths the service owns, relative to sys/: each
	// owns itself and everything under it ("audit" owns sys/audit and
	// sys/audit/NAME, not sys/audit-hash).
	Paths []string
	// Storage is the prefix of the service's view inside the barrier
	// ("sys/audit/"); "" gives it no storage.
	Storage string
	// New builds the service at unseal.
	New func(ctx context.Context, env ServiceEnv) (ServiceBackend, error)
}

// ServiceEnv is what a Service is built with.
type ServiceEnv struct {
	Storage logical.Storage // nil when Service.Storage is ""
	Logger  *slog.Logger
	// Engines reaches the mounted engines by mount path (the lease manager
	// renews and revokes through it).
	Engines LeaseEngines
	// Inspect reads the mounts and the policy store without a token (the
	// reports service uses it); see Inspector.
	Inspect Inspector
}

// ServiceBackend is a built service: the backend of its sys/ paths, and
// Close, called when the core seals.
type ServiceBackend interface {
	logical.Backend
	Close() error
}

// AuditBroker is the part of a service that records every request and
// response reaching the unsealed pipeline. LogRequest runs once the caller
// is authenticated and the ACL decided (authErr carries a refusal, which is
// recorded too); LogResponse runs before anything is returned. If either
// fails, the request is refused and nothing from it is served: audit fails
// closed.
type AuditBroker interface {
	LogRequest(ctx context.Context, req *logical.Request, authErr error) error
	LogResponse(ctx context.Context, req *logical.Request, resp *logical.Response, respErr error) error
}

// LeaseManager is the part of a service that tracks leased secrets: it
// registers them, renews and revokes them through the engine that issued
// them, and persists them so expiry survives restarts.
type LeaseManager interface {
	// Register gives s a lease id under req's mount and path and persists it.
	Register(ctx context.Context, req *logical.Request, s *logical.Secret) error
	// RevokeByToken revokes every lease created by the token with accessor.
	RevokeByToken(ctx context.Context, accessor string) error
	// Remount moves the leases of the mount at from (a mount path such as
	// "database/") to to, ids included, and returns how many moved. It is
	// safe to call again after an interruption.
	Remount(ctx context.Context, from, to string) (int, error)
}

// Wrapper is the part of a service that implements response wrapping: a
// response is stored behind a single-use wrapping token and replaced by
// wrap_info.
type Wrapper interface {
	// Wrap stores resp and returns the response to send instead (only
	// WrapInfo set). req is the request that produced resp.
	Wrap(ctx context.Context, req *logical.Request, resp *logical.Response, ttl time.Duration) (*logical.Response, error)
}

// PasswordGenerator is the part of a service that generates passwords from
// named policies (sys/policies/password); engines reach it through the
// SystemView's GeneratePasswordFromPolicy.
type PasswordGenerator interface {
	Generate(ctx context.Context, policy string) (string, error)
}

// builtService is a Service running in the unsealed state.
type builtService struct {
	*Service
	backend ServiceBackend
}

// owns reports whether p (relative to sys/) is one of the service's paths.
func (s builtService) owns(p string) bool {
	for _, own := range s.Paths {
		if p == own || strings.HasPrefix(p, own+"/") {
			return true
		}
	}
	return false
}

// startServices builds the configured services in order and finds their
// parts in the pipeline. On failure it closes those already built.
func (c *Core) startServices(ctx context.Context, a *active) error {
	for i := range c.cfg.Services {
		svc := &c.cfg.Services[i]
		env := ServiceEnv{Logger: c.cfg.Logger, Engines: leaseEngines{a}, Inspect: inspector{a}}
		if svc.Storage != "" {
			env.Storage = barrier.NewView(c.barrier, svc.Storage)
		}
		b, err := svc.New(ctx, env)
		if err != nil {
			a.closeServices(c.logger)
			return fmt.Errorf("start %s: %w", svc.Name, err)
		}
		a.services = append(a.services, builtService{Service: svc, backend: b})
		if r, ok := b.(AuditBroker); ok && a.audit == nil {
			a.audit = r
		}
		if r, ok := b.(LeaseManager); ok && a.leases == nil {
			a.leases = r
		}
		if r, ok := b.(Wrapper); ok && a.wrapper == nil {
			a.wrapper = r
		}
		if r, ok := b.(PasswordGenerator); ok && a.passwords == nil {
			a.passwords = r
		}
	}
	return nil
}

// closeServices closes the services in the reverse of their start order.
func (a *active) closeServices(logger *slog.Logger) {
	for i := len(a.services) - 1; i >= 0; i-- {
		s := a.services[i]
		if err := s.backend.Close(); err != nil {
			logger.Error("close service", "service", s.Name, "err", err)
		}
	}
	a.services = nil
}

// service finds the service that owns p (relative to sys/), or nil.
func (a *active) service(p string) logical.Backend {
	if a == nil {
		return nil
	}
	for _, s := range a.services {
		if s.owns(p) {
			return s.backend
		}
	}
	return nil
}

// LeaseEngines is how a lease manager reaches the engines: the core routes
// by mount path to the backend that issued the lease.
type LeaseEngines interface {
	Revoke(ctx context.Context, mountPath string, s *logical.Secret) error
	Renew(ctx context.Context, mountPath string, s *logical.Secret, increment time.Duration) (*logical.Secret, error)
}

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
