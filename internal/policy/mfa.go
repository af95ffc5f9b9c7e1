package policy

import (
	"slices"

	"github.com/hashicorp/hcl/hcl/ast"
)

// MaxMFAMethods bounds the mfa_methods list of one path block.
const MaxMFAMethods = 16

// parseMFAMethods reads a path block's mfa_methods: a list of method names
// (sys/mfa/method/TYPE/NAME), each 1 to 128 bytes of letters, digits, "-",
// "_" and ".", without duplicates. An empty list requires nothing.
func parseMFAMethods(val ast.Node) ([]string, error) {
	names, err := parseStringList(val)
	if err != nil {
		return nil, err
	}
	if len(names) > MaxMFAMethods {
		return nil, errAt(val.Pos(), "more than %d mfa_methods", MaxMFAMethods)
	}
	for i, n := range names {
		if !ValidMFAMethodName(n) {
			return nil, errAt(val.Pos(), "mfa_methods: %s is not a valid method name", quoteShort(n))
		}
		if slices.Contains(names[:i], n) {
			return nil, errAt(val.Pos(), "mfa_methods: duplicate %s", quoteShort(n))
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, nil
}

// ValidMFAMethodName reports whether s may name an MFA method: 1 to 128
// bytes of ASCII letters, digits, "-", "_" and ".", not "." or "..".
func ValidMFAMethodName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// mergeMFA unions names into p's MFA methods, kept sorted: a path merged
// from several policies requires every method any of them lists (a
// policy can add a requirement, never remove one).
func (p *perms) mergeMFA(names []string) {
	for _, n := range names {
		if i, found := slices.BinarySearch(p.mfa, n); !found {
			p.mfa = slices.Insert(p.mfa, i, n)
		}
	}
}
