package jwt

// Glob semantics (bound_claims_type=glob): "*" matches any run of bytes
// except ':' and '/', so "repo:org/app*" cannot reach "repo:org/app-evil:..."
// past a separator and "repo:org/*" names one path segment; "**" (two or
// more stars) matches anything, separators included. Every other byte is
// literal and the whole value must match. An absent or empty claim never
// satisfies a glob.

// GlobMatch reports whether value matches pattern under the glob semantics
// above. An empty value never matches. It runs in O(len(pattern) *
// len(value)) time whatever the input, and works on bytes (no UTF-8
// assumption). It differs from the other globs in the tree because it
// follows Vault's bound_claims glob, whose "*" crosses separators: claims
// such as refs and repository names are flat strings, not paths.
func GlobMatch(pattern, value string) bool {
	if value == "" {
		return false
	}
	n := len(value)
	// cur[i]: the pattern consumed so far can match value[:i].
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	for p := 0; p < len(pattern); {
		clear(next)
		if pattern[p] != '*' {
			c := pattern[p]
			for i := 0; i < n; i++ {
				next[i+1] = cur[i] && value[i] == c
			}
			p++
		} else {
			stars := 0
			for p < len(pattern) && pattern[p] == '*' {
				stars++
				p++
			}
			next[0] = cur[0]
			for i := 1; i <= n; i++ {
				b := value[i-1]
				next[i] = cur[i] || (next[i-1] && (stars > 1 || (b != ':' && b != '/')))
			}
		}
		cur, next = next, cur
	}
	return cur[n]
}
