package userpass

import (
	"context"
	"net/http"

	"github.com/keyward/keyward/internal/logical"
)

// errInvalidLogin answers every failed login alike: unknown user, locked
// user, wrong password, missing, wrong or replayed TOTP code.
var errInvalidLogin = logical.Errorf(http.StatusBadRequest, "invalid username, password or TOTP code")

// login authenticates name (from the path, or data "username" for
// clients that post to auth/userpass/login).
func (b *Backend) login(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	allowed := []string{"password", "totp"}
	if name == "" {
		allowed = append(allowed, "username")
		n, _, err := logical.Str(req.Data, "username")
		if err != nil {
			return nil, err
		}
		name = n
	}
	if err := logical.UnknownFields(req.Data, allowed...); err != nil {
		return nil, err
	}
	name, err := canonicalName(name)
	if err != nil {
		return nil, logical.BadRequest("field %q is required", "username")
	}
	pw, err := password(req.Data, true)
	if err != nil {
		return nil, err
	}
	code, _, err := logical.Str(req.Data, "totp")
	if err != nil {
		return nil, err
	}

	cfg, err := b.mountConfig(ctx)
	if err != nil {
		return nil, err
	}
	locked, err := b.lock.Locked(ctx, b.view, cfg.Config, name)
	if err != nil {
		return nil, err
	}
	u, err := b.user(ctx, name)
	if err != nil {
		return nil, err
	}
	h := b.dummy
	if u != nil {
		if ph, perr := parseHash(u.PasswordHash); perr == nil {
			h = ph
		}
	}
	match := b.argon(h, pw) // always exactly one Argon2id run
	ok := match && u != nil && !locked
	if ok {
		ok, err = b.checkTOTP(ctx, name, code, cfg)
		if err != nil {
			return nil, err
		}
	}
	if !ok {
		if _, err := b.lock.Fail(ctx, b.view, cfg.Config, name); err != nil {
			return nil, err
		}
		return nil, errInvalidLogin
	}
	if err := b.lock.Succeed(ctx, b.view, name); err != nil {
		return nil, err
	}
	a := u.Token.Auth()
	a.DisplayName = name
	a.Alias = name
	// A group alias on this mount named after the user puts the user in
	// its external group at every login (Vault has no groups for userpass):
	// membership an operator can grant before the user's first login.
	a.GroupAliases = []string{name}
	a.Metadata = map[string]string{"username": name}
	a.InternalData = map[string]any{"username": name}
	return &logical.Response{Auth: a}, nil
}

// checkTOTP enforces the user's second factor: when cfg requires one for
// the user (mfa_required or a policy in mfa_policies) or a key is enrolled,
// a code for a step newer than the last accepted one is needed, and its
// step is recorded so the code works only once. A user who needs a code
// but has no key enrolled gets errNotEnrolled: only a caller who gave the
// right password gets this far, and the message tells them what an
// administrator must do.
func (b *Backend) checkTOTP(ctx context.Context, name, code string, cfg mountConfig) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.user(ctx, name) // re-read under the lock: the step may have moved
	if err != nil || u == nil {
		return false, err
	}
	if u.TOTP == nil {
		if cfg.requiresMFA(u) {
			return false, errNotEnrolled(name)
		}
		return true, nil
	}
	step, ok := u.TOTP.Check(code, b.opts.Now())
	if !ok || step <= u.LastTOTPStep {
		return false, nil
	}
	u.LastTOTPStep = step
	return true, b.putUser(ctx, name, u)
}

// errNotEnrolled refuses a login that needs TOTP when the user has no key.
func errNotEnrolled(name string) error {
	return logical.Errorf(http.StatusForbidden,
		"permission denied: user %q must log in with a TOTP code (mfa_required or a policy listed in the mount's mfa_policies) but has no TOTP key enrolled; an administrator must enroll one with users/%s/mfa/totp/generate",
		name, name)
}
