package token

import (
	"slices"

	"github.com/keyward/keyward/internal/logical"
)

// validName applies the policy-name rule, ^[a-z0-9][a-z0-9._-]{0,127}$, with
// no case folding or trimming, so "Root", " root" or a Cyrillic look-alike
// can never be taken for "root". It matches policy.ValidName.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// normalizePolicies validates every name and returns a sorted, deduplicated
// copy.
func normalizePolicies(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for i, p := range in {
		if !validName(p) {
			// The name is not echoed: a confused client may have put a
			// secret there.
			return nil, logical.BadRequest("invalid policy name at position %d: names match [a-z0-9][a-z0-9._-]*", i)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
