package token

import (
	"slices"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/policy"
)

// validName applies the policy-name rule (policy.ValidName), with no case
// folding or trimming, so "Root", " root" or a Cyrillic look-alike can never
// be taken for "root". Role names follow the same rule.
func validName(name string) bool { return policy.ValidName(name) == nil }

// normalizePolicies validates every name as given (tokenparams.ValidatePolicies:
// no trimming or case folding) and returns a sorted, deduplicated copy.
// field names the request key in the error.
func normalizePolicies(field string, in []string) ([]string, error) {
	if err := tokenparams.ValidatePolicies(field, in); err != nil {
		return nil, err
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out), nil
}
