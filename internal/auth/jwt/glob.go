package jwt

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Glob semantics (bound_claims_type=glob): "*" matches any run of characters
// except ':' and '/', so "repo:org/app*" cannot reach "repo:org/app-evil:..."
// past a separator and "repo:org/*" names one path segment; "**" (two or
// more stars) matches anything, separators included. Every other character
// is literal and the whole value must match. An absent or empty claim never
// satisfies a glob.

var (
	globCache sync.Map // pattern -> *regexp.Regexp
	globCount atomic.Int64
)

// maxGlobCache bounds the compiled-pattern cache; patterns come from role
// configs, so the bound is only reached by fuzzing or abuse.
const maxGlobCache = 4096

// globRegexp compiles pattern to an anchored regular expression (linear-time
// matching, so a hostile pattern cannot make matching slow).
func globRegexp(pattern string) *regexp.Regexp {
	if re, ok := globCache.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	for i := 0; i < len(pattern); {
		if pattern[i] != '*' {
			j := strings.IndexByte(pattern[i:], '*')
			if j < 0 {
				j = len(pattern) - i
			}
			b.WriteString(regexp.QuoteMeta(pattern[i : i+j]))
			i += j
			continue
		}
		n := 0
		for i < len(pattern) && pattern[i] == '*' {
			n++
			i++
		}
		if n == 1 {
			b.WriteString(`[^:/]*`)
		} else {
			b.WriteString(`.*`)
		}
	}
	b.WriteString(`)\z`)
	re := regexp.MustCompile(b.String())
	if globCount.Add(1) <= maxGlobCache {
		globCache.Store(pattern, re)
	}
	return re
}

// GlobMatch reports whether value matches pattern under the glob semantics
// above. An empty value never matches.
func GlobMatch(pattern, value string) bool {
	if value == "" {
		return false
	}
	if !strings.Contains(pattern, "*") {
		return pattern == value
	}
	return globRegexp(pattern).MatchString(value)
}
