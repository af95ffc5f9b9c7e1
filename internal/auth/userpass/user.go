package userpass

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/auth/totp"
	"github.com/keyward/keyward/internal/logical"
)

// user is one stored user.
type user struct {
	PasswordHash string             `json:"password_hash"`
	Token        tokenparams.Params `json:"token"`
	MFARequired  bool               `json:"mfa_required,omitempty"`
	TOTP         *totp.Key          `json:"totp,omitempty"`
	// LastTOTPStep is the newest time step a code was accepted for; codes
	// for it and older steps are refused (no replay).
	LastTOTPStep uint64 `json:"last_totp_step,omitempty"`
}

func (b *Backend) user(ctx context.Context, name string) (*user, error) {
	raw, err := b.view.Get(ctx, userPrefix+name)
	if err != nil || raw == nil {
		return nil, err
	}
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decode user: %w", err)
	}
	return &u, nil
}

func (b *Backend) putUser(ctx context.Context, name string, u *user) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return b.view.Put(ctx, userPrefix+name, raw)
}

func password(data map[string]any, required bool) (string, error) {
	pw, ok, err := logical.Str(data, "password")
	if err != nil {
		return "", err
	}
	if !ok && !required {
		return "", nil
	}
	if pw == "" {
		return "", logical.BadRequest("field %q is required", "password")
	}
	if len(pw) > maxPasswordLen {
		return "", logical.BadRequest("field %q: too long", "password")
	}
	return pw, nil
}

// onUser wraps fn for a users/{username}... route: the name canonical,
// b.mu held, and the stored user (nil when absent) loaded.
func (b *Backend) onUser(fn func(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		name, err := canonicalName(p["username"])
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		u, err := b.user(ctx, name)
		if err != nil {
			return nil, err
		}
		return fn(ctx, req, name, u)
	}
}

// onExisting is onUser for the paths below a user, which must exist.
func (b *Backend) onExisting(fn func(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error)) logical.Handler {
	return b.onUser(func(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
		if u == nil {
			return nil, logical.Errorf(http.StatusNotFound, "user %q not found", name)
		}
		return fn(ctx, req, name, u)
	})
}

func (b *Backend) listUsers(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := b.view.List(ctx, userPrefix)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

// userExists implements the users/{username} existence check: an invalid
// name does not exist (the handler then refuses it).
func (b *Backend) userExists(ctx context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	name, err := canonicalName(p["username"])
	if err != nil {
		return false, nil
	}
	u, err := b.user(ctx, name)
	return u != nil, err
}

func (b *Backend) readUser(_ context.Context, _ *logical.Request, _ string, u *user) (*logical.Response, error) {
	if u == nil {
		return nil, nil
	}
	d := map[string]any{"mfa_required": u.MFARequired, "totp_enrolled": u.TOTP != nil}
	u.Token.Map(d)
	return &logical.Response{Data: d}, nil
}

func (b *Backend) deleteUser(ctx context.Context, _ *logical.Request, name string, _ *user) (*logical.Response, error) {
	if err := b.view.Delete(ctx, userPrefix+name); err != nil {
		return nil, err
	}
	return nil, b.lock.Unlock(ctx, b.view, name)
}

func (b *Backend) setPassword(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
	if err := passwordDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	pw, err := password(req.Data, true)
	if err != nil {
		return nil, err
	}
	u.PasswordHash = hashPassword(pw, b.opts.Params)
	return nil, b.putUser(ctx, name, u)
}

func (b *Backend) setPolicies(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
	if err := policiesDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	if err := u.Token.Parse(req.Data); err != nil {
		return nil, err
	}
	return nil, b.putUser(ctx, name, u)
}

func (b *Backend) unlockUser(ctx context.Context, _ *logical.Request, name string, _ *user) (*logical.Response, error) {
	return nil, b.lock.Unlock(ctx, b.view, name)
}

func (b *Backend) deleteTOTP(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	u.TOTP, u.LastTOTPStep = nil, 0
	return nil, b.putUser(ctx, name, u)
}

func (b *Backend) writeUser(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
	return nil, b.storeUser(ctx, req, name, u)
}

func (b *Backend) storeUser(ctx context.Context, req *logical.Request, name string, u *user) error {
	if err := userDocs.Unknown(req.Data); err != nil {
		return err
	}
	created := u == nil
	if created {
		u = &user{}
	}
	pw, err := password(req.Data, created)
	if err != nil {
		return err
	}
	if err := u.Token.ParseAliased(req.Data, fieldAliases); err != nil {
		return err
	}
	if v, ok, err := logical.Bool(req.Data, "mfa_required"); err != nil {
		return err
	} else if ok {
		u.MFARequired = v
	}
	if pw != "" {
		u.PasswordHash = hashPassword(pw, b.opts.Params)
	}
	return b.putUser(ctx, name, u)
}

// generateTOTP enrolls a new TOTP key and returns it once. A user who is
// already enrolled must have the key deleted first (mfa/totp DELETE), so a
// stolen admin session cannot silently take over the second factor.
func (b *Backend) generateTOTP(ctx context.Context, req *logical.Request, name string, u *user) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	if u.TOTP != nil {
		return nil, logical.BadRequest("user %q already has a TOTP key; delete users/%s/mfa/totp first", name, name)
	}
	k := totp.Generate()
	u.TOTP, u.LastTOTPStep = &k, 0
	if err := b.putUser(ctx, name, u); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"url":       k.URL(b.opts.Issuer, name),
		"secret":    k.Base32(),
		"algorithm": k.Algorithm,
		"digits":    k.Digits,
		"period":    int64(time.Duration(k.Period) * time.Second / time.Second),
	}}, nil
}
