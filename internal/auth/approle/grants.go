package approle

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.RoleReporter = (*Backend)(nil)

// RoleGrants lists every role's token policies, for who-can answers. The
// role and secret ids are never reported.
func (b *Backend) RoleGrants(ctx context.Context, _ logical.Storage) ([]logical.RoleGrant, error) {
	return logical.StoredGrants(ctx, b.view, rolePrefix, func(k string) (logical.RoleGrant, bool, error) {
		r, err := b.role(ctx, k)
		if err != nil || r == nil {
			return logical.RoleGrant{}, false, err
		}
		bind := map[string]string{"bind_secret_id": "false"}
		if r.BindSecretID {
			bind["bind_secret_id"] = "true"
		}
		if len(r.SecretIDBoundCIDRs) > 0 {
			bind["secret_id_bound_cidrs"] = strings.Join(r.SecretIDBoundCIDRs, ", ")
		}
		return logical.RoleGrant{Role: k, Policies: r.Token.Policies, NoDefaultPolicy: r.Token.NoDefaultPolicy, Bindings: bind}, true, nil
	})
}
