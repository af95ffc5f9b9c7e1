package token

// FieldAliases names the legacy role fields the token store accepts, so the
// core checks parameter constraints on the current names
// (logical.FieldAliaser).
func (b *backend) FieldAliases() map[string]string { return fieldAliases }

var fieldAliases = map[string]string{
	"explicit_max_ttl": "token_explicit_max_ttl",
	"period":           "token_period",
	"bound_cidrs":      "token_bound_cidrs",
}
