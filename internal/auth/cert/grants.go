package cert

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.RoleReporter = (*Backend)(nil)

// RoleGrants lists every trusted certificate entry's token policies and
// name constraints, for who-can answers.
func (b *Backend) RoleGrants(ctx context.Context, _ logical.Storage) ([]logical.RoleGrant, error) {
	return logical.StoredGrants(ctx, b.view, certPrefix, func(name string) (logical.RoleGrant, bool, error) {
		var e entry
		ok, err := logical.GetJSON(ctx, b.view, certPrefix+name, &e)
		if err != nil || !ok {
			return logical.RoleGrant{}, false, err
		}
		bind := map[string]string{}
		for k, v := range map[string][]string{"allowed_common_names": e.AllowedCNs, "allowed_dns_sans": e.AllowedDNSSANs,
			"allowed_uri_sans": e.AllowedURISANs, "allowed_organizational_units": e.AllowedOUs} {
			if len(v) > 0 {
				bind[k] = strings.Join(v, ", ")
			}
		}
		return logical.RoleGrant{Role: name, Policies: e.Token.Policies, NoDefaultPolicy: e.Token.NoDefaultPolicy, Bindings: bind}, true, nil
	})
}
