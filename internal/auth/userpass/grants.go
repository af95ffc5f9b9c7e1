package userpass

import (
	"context"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.RoleReporter = (*Backend)(nil)

// RoleGrants lists every user's token policies, for who-can answers; a
// user is this method's role. Password hashes and TOTP keys are never
// reported.
func (b *Backend) RoleGrants(ctx context.Context, _ logical.Storage) ([]logical.RoleGrant, error) {
	return logical.StoredGrants(ctx, b.view, userPrefix, func(name string) (logical.RoleGrant, bool, error) {
		u, err := b.user(ctx, name)
		if err != nil || u == nil {
			return logical.RoleGrant{}, false, err
		}
		bind := map[string]string{"mfa_required": "false"}
		if u.MFARequired {
			bind["mfa_required"] = "true"
		}
		return logical.RoleGrant{Role: name, Policies: u.Token.Policies, NoDefaultPolicy: u.Token.NoDefaultPolicy, Bindings: bind}, true, nil
	})
}
