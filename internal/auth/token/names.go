package token

import (
	"slices"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// validName applies the policy-name rule (policy.ValidName), with no case
// folding or trimming, so "Root", " root" or a Cyrillic look-alike can never
// be taken for "root". Role names follow the same rule.
func validName(name string) bool { return policy.ValidName(name) == nil }

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
