package userpass

import (
	"context"
	"net/http"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.AuthRenewer = (*Backend)(nil)

// errUserGone refuses the renewal of a token whose user was deleted.
var errUserGone = logical.Errorf(http.StatusForbidden, "permission denied: the user this token was issued to no longer exists")

// RenewAuth implements logical.AuthRenewer: a token issued by this mount
// is renewed only while its user (metadata "username") still exists.
func (b *Backend) RenewAuth(ctx context.Context, _ *logical.Request, meta map[string]string) error {
	name, err := canonicalName(meta["username"])
	if err != nil {
		return errUserGone
	}
	u, err := b.user(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return errUserGone
	}
	return nil
}
