package approle

import (
	"context"
	"maps"
	"net/http"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// errInvalidLogin is the one answer to every failed login: unknown role_id,
// wrong, expired, used-up or out-of-range secret_id, another role's
// secret_id, or a locked-out role_id.
var errInvalidLogin = logical.Errorf(http.StatusForbidden, "invalid role ID or secret ID")

// login checks role_id and secret_id. Both failure paths do the same work:
// two HMACs, the lockout read, the role_id read, a role read, the secret_id
// read under the lock and a lockout counter write.
func (b *Backend) login(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := loginDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	roleID, _, err := logical.Str(req.Data, "role_id")
	if err != nil {
		return nil, err
	}
	secret, _, err := logical.Str(req.Data, "secret_id")
	if err != nil {
		return nil, err
	}
	if roleID == "" {
		return nil, logical.BadRequest("field %q is required", "role_id")
	}
	roleKey := b.hash("role_id", roleID)
	secretHash := b.hash("secret_id", secret)
	remote := ""
	if req.Connection != nil {
		remote = req.Connection.RemoteAddr
	}

	cfg, err := b.lockoutConfig(ctx)
	if err != nil {
		return nil, err
	}
	locked, err := b.lock.Locked(ctx, b.view, cfg, roleID)
	if err != nil {
		return nil, err
	}
	owner, err := b.view.Get(ctx, roleIDPrefix+roleKey)
	if err != nil {
		return nil, err
	}
	// An unknown role_id reads a role key no role has ("" is not a valid
	// role name), so it costs what a known one does.
	r, err := b.role(ctx, string(owner))
	if err != nil {
		return nil, err
	}
	auth, err := b.consume(ctx, r, string(owner), secret != "", secretHash, remote, locked)
	if err != nil {
		return nil, err
	}
	if auth == nil {
		if _, err := b.lock.Fail(ctx, b.view, cfg, roleID); err != nil {
			return nil, err
		}
		return nil, errInvalidLogin
	}
	if err := b.lock.Succeed(ctx, b.view, roleID); err != nil {
		return nil, err
	}
	return &logical.Response{Auth: auth}, nil
}

// consume checks the secret_id against role r (nil for an unknown role_id)
// and spends one use of it. It returns nil when the login must fail, and
// spends nothing then.
func (b *Backend) consume(ctx context.Context, r *role, name string, given bool, h, remote string, locked bool) (*logical.Auth, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.loadSecret(ctx, name, h)
	if err != nil {
		return nil, err
	}
	if r == nil || locked {
		return nil, nil
	}
	if !tokenparams.AddrAllowed(r.SecretIDBoundCIDRs, remote) {
		return nil, nil
	}
	if !r.BindSecretID {
		return b.auth(r, nil), nil
	}
	if !given || s == nil {
		return nil, nil
	}
	now := b.now()
	if s.expired(now) {
		return nil, b.deleteSecret(ctx, name, h, s)
	}
	if !tokenparams.AddrAllowed(s.CIDRList, remote) {
		return nil, nil
	}
	if s.NumUses > 0 {
		s.NumUses--
		if s.NumUses == 0 {
			err = b.deleteSecret(ctx, name, h, s)
		} else {
			s.LastUpdated = now.UTC()
			err = logical.PutJSON(ctx, b.view, secretKey(name, h), s)
		}
		if err != nil {
			return nil, err
		}
	}
	return b.auth(r, s), nil
}

func (b *Backend) auth(r *role, s *secretID) *logical.Auth {
	a := r.Token.Auth()
	a.DisplayName = r.Name
	a.Alias = r.RoleID
	a.Metadata = map[string]string{}
	a.InternalData = map[string]any{"role_name": r.Name}
	if s != nil {
		maps.Copy(a.Metadata, s.Metadata)
		delete(a.Metadata, metaEnvironment) // a secret_id stored before the key was reserved
		if len(s.TokenBoundCIDRs) > 0 {
			a.BoundCIDRs = s.TokenBoundCIDRs
		}
		a.InternalData["secret_id_accessor"] = s.Accessor
	}
	a.Metadata[metaRoleName] = r.Name
	return a
}
