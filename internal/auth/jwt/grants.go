package jwt

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var _ logical.RoleReporter = (*Backend)(nil)

// RoleGrants lists every role's token policies with its bound subject,
// claims, audiences and environment, for who-can answers.
func (b *Backend) RoleGrants(ctx context.Context, s logical.Storage) ([]logical.RoleGrant, error) {
	names, err := listRoles(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []logical.RoleGrant
	for _, name := range names {
		r, err := b.loadRole(ctx, s, name)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		bind := map[string]string{}
		if r.BoundSubject != "" {
			bind["bound_subject"] = r.BoundSubject
		}
		if len(r.BoundClaims) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(r.BoundClaims)) {
				parts = append(parts, fmt.Sprintf("%s=%s", k, strings.Join(r.BoundClaims[k], "|")))
			}
			bind["bound_claims"] = strings.Join(parts, ", ")
		}
		if len(r.BoundAudiences) > 0 {
			bind["bound_audiences"] = strings.Join(r.BoundAudiences, ", ")
		}
		if r.Environment != "" {
			bind["environment"] = r.Environment
		}
		if r.EnvironmentClaim != "" {
			bind["environment_claim"] = r.EnvironmentClaim
		}
		out = append(out, logical.RoleGrant{Role: name, Policies: r.Token.Policies, NoDefaultPolicy: r.Token.NoDefaultPolicy, Bindings: bind})
	}
	return out, nil
}
