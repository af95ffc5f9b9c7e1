package tokenparams

import (
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// NormalizePolicies returns policy names as roles store them, as Vault
// does: each trimmed and lower-cased, empty ones dropped, without
// duplicates, sorted. Only ASCII letters are folded, so no other character
// can turn into one (the Kelvin sign never becomes "k"); what is left that
// is not a valid name is for ValidatePolicies to refuse.
func NormalizePolicies(in []string) []string {
	out := fold(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// ValidatePolicies checks every name against policy.ValidName, as given:
// no trimming or case folding, so " root" or "Root" is refused rather than
// taken for "root". field names the request key in the error, which gives
// the name's position, never its text (a confused client may have put a
// secret there).
func ValidatePolicies(field string, names []string) error {
	for i, name := range names {
		if policy.ValidName(name) != nil {
			return logical.BadRequest("field %q: invalid policy name at position %d: names match [a-z0-9][a-z0-9._-]*", field, i)
		}
	}
	return nil
}

// RolePolicies normalizes (NormalizePolicies) and validates the policies a
// role or user grants (token_policies, a token role's allowed_policies),
// and refuses "root": no role grants it, as no login may issue a root
// token.
func RolePolicies(field string, in []string) ([]string, error) {
	if err := ValidatePolicies(field, fold(in)); err != nil {
		return nil, err
	}
	out := NormalizePolicies(in)
	if slices.Contains(out, policy.RootName) {
		return nil, logical.BadRequest("field %q: a role cannot grant the root policy", field)
	}
	return out, nil
}

// fold trims and lower-cases every name and drops the empty ones, keeping
// their order.
func fold(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = asciiLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
