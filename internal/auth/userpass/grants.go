package userpass

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.RoleReporter = (*Backend)(nil)

// RoleGrants lists every user's token policies, for who-can answers; a
// user is this method's role. Password hashes and TOTP keys are never
// reported.
func (b *Backend) RoleGrants(ctx context.Context, _ logical.Storage) ([]logical.RoleGrant, error) {
	names, err := b.view.List(ctx, userPrefix)
	if err != nil {
		return nil, err
	}
	var out []logical.RoleGrant
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		u, err := b.user(ctx, name)
		if err != nil {
			return nil, err
		}
		if u == nil {
			continue
		}
		bind := map[string]string{"mfa_required": "false"}
		if u.MFARequired {
			bind["mfa_required"] = "true"
		}
		out = append(out, logical.RoleGrant{Role: name, Policies: u.Token.Policies, NoDefaultPolicy: u.Token.NoDefaultPolicy, Bindings: bind})
	}
	return out, nil
}
