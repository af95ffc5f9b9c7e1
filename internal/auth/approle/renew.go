package approle

import (
	"context"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.AuthRenewer = (*Backend)(nil)

// metaRoleName is the token metadata key naming the role that logged in.
const metaRoleName = "role_name"

// metaEnvironment is the token metadata key the core reads as the caller's
// environment (core.EnvironmentMetaKey). A secret_id's metadata may not
// set it: whoever generates secret_ids chooses that metadata, and the
// auth method vouches for none of it.
const metaEnvironment = "environment"

// errRoleGone refuses the renewal of a token whose role was deleted.
var errRoleGone = logical.Errorf(http.StatusForbidden, "permission denied: the role this token was issued for no longer exists")

// RenewAuth implements logical.AuthRenewer: a token issued by this mount
// is renewed only while its role (metadata "role_name") still exists, as
// in Vault.
func (b *Backend) RenewAuth(ctx context.Context, _ *logical.Request, meta map[string]string) error {
	name := strings.ToLower(meta[metaRoleName])
	if !roleNameRE.MatchString(name) {
		return errRoleGone
	}
	r, err := b.role(ctx, name)
	if err != nil {
		return err
	}
	if r == nil {
		return errRoleGone
	}
	return nil
}
