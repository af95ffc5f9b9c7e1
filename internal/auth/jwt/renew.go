package jwt

import (
	"context"
	"net/http"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

var _ logical.AuthRenewer = (*Backend)(nil)

var (
	// errRoleGone refuses the renewal of a token whose role was deleted.
	errRoleGone = logical.Errorf(http.StatusForbidden, "permission denied: the role this token was issued for no longer exists")
	// errRenewCIDR refuses a renewal from outside the role's current
	// token_bound_cidrs.
	errRenewCIDR = logical.Errorf(http.StatusForbidden, "permission denied: the caller's address is not in the role's token_bound_cidrs")
)

// RenewAuth implements logical.AuthRenewer: a token issued by this mount
// is renewed only while its role (metadata "role") still exists and, when
// the role now sets token_bound_cidrs, only from an address inside them.
// req.Storage is the mount's storage.
func (b *Backend) RenewAuth(ctx context.Context, req *logical.Request, meta map[string]string) error {
	name := meta[MetaRole]
	if !validName(name) {
		return errRoleGone
	}
	role, err := b.loadRole(ctx, req.Storage, name)
	if err != nil {
		return err
	}
	if role == nil {
		return errRoleGone
	}
	remote := ""
	if req.Connection != nil {
		remote = req.Connection.RemoteAddr
	}
	if !tokenparams.AddrAllowed(role.Token.BoundCIDRs, remote) {
		return errRenewCIDR
	}
	return nil
}
