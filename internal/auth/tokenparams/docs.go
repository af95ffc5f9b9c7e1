package tokenparams

import (
	"slices"

	"github.com/keyward/keyward/internal/logical"
)

// FieldDocs documents the token_* fields for path-help; Fields is derived
// from it, so the names help shows are the names Parse reads.
var FieldDocs = logical.Fields{
	{Name: "token_policies", Type: logical.TypeSlice, Description: "Policies of the tokens issued (a list, or a comma-separated string). Names are trimmed and lower-cased; root cannot be granted."},
	{Name: "policies", Type: logical.TypeSlice, Description: "Deprecated name of token_policies; when both are sent, token_policies wins."},
	{Name: "token_ttl", Type: logical.TypeDuration, Description: "Initial TTL of the tokens issued; 0 uses the mount's default."},
	{Name: "token_max_ttl", Type: logical.TypeDuration, Description: "Maximum lifetime of the tokens issued, renewals included; 0 uses the mount's maximum."},
	{Name: "token_explicit_max_ttl", Type: logical.TypeDuration, Description: "A hard limit on the lifetime of the tokens issued, which later changes to the role or mount do not lift."},
	{Name: "token_period", Type: logical.TypeDuration, Description: "Makes the tokens periodic: each renewal extends them by this period, with no maximum lifetime."},
	{Name: "token_num_uses", Type: logical.TypeInt, Description: "How many requests a token issued may make; 0 means unlimited."},
	{Name: "token_bound_cidrs", Type: logical.TypeSlice, Description: "CIDR blocks (or addresses) the tokens issued may be used from."},
	{Name: "token_no_default_policy", Type: logical.TypeBool, Description: "Do not add the default policy to the tokens issued."},
	{Name: "token_type", Description: "Type of the tokens issued: service or batch; default-service or default-batch, a preference the mount's token_type (for a token role, the request's type) may override; or default, leaving the choice to them."},
}

// Docs returns the FieldDocs entries named, in that order, for a backend
// that accepts only some token_* fields (token roles). An unknown name is a
// programmer error and panics.
func Docs(names ...string) logical.Fields {
	out := make(logical.Fields, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(FieldDocs, func(f logical.Field) bool { return f.Name == n })
		if i < 0 {
			panic("tokenparams: no field " + n)
		}
		out = append(out, FieldDocs[i])
	}
	return out
}
