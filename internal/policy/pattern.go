package policy

import (
	"errors"
	"strings"
)

// checkPattern validates a path pattern as written in a policy, with every
// identity template replaced by a placeholder segment value.
func checkPattern(p string) error {
	rendered, _, err := render(p, nil, "x")
	if err != nil {
		return err
	}
	return validatePattern(rendered)
}

// validatePattern checks a rendered pattern: an optional single trailing
// "*" (prefix glob), "+" only as a whole segment, and otherwise the same
// canonical form CleanPath demands of request paths.
func validatePattern(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	glob := strings.HasSuffix(p, "*")
	wc := strings.TrimSuffix(p, "*")
	if strings.ContainsRune(wc, '*') {
		return errors.New("'*' is only allowed at the end")
	}
	for seg := range strings.SplitSeq(wc, "/") {
		if seg != "+" && strings.ContainsRune(seg, '+') {
			return errors.New("'+' must be a whole path segment")
		}
	}
	check := wc
	if glob {
		// The partial last segment of a glob may be any prefix of a name,
		// including leading dots ("secret/.*").
		last := strings.LastIndexByte(wc, '/')
		if seg := wc[last+1:]; seg != "" && onlyDots(seg) {
			check = wc[:last+1]
		}
		if check == "" {
			return nil
		}
	}
	if reason := pathProblem(check); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// ruleKey orders non-exact patterns by Vault's documented priority.
type ruleKey struct {
	first int    // index of the first "+" segment or of the trailing "*"
	glob  bool   // pattern ends in "*"
	plus  int    // number of "+" segments
	wc    string // pattern without the trailing "*"
}

// higher reports whether a has priority over b when both match: the first
// wildcard or glob occurring later wins, then not ending in "*", then fewer
// "+" segments, then the longer pattern, then the lexicographically larger.
func (a *ruleKey) higher(b *ruleKey) bool {
	if a.first != b.first {
		return a.first > b.first
	}
	if a.glob != b.glob {
		return !a.glob
	}
	if a.plus != b.plus {
		return a.plus < b.plus
	}
	if len(a.wc) != len(b.wc) {
		return len(a.wc) > len(b.wc)
	}
	return a.wc > b.wc
}

// newRuleKey describes a validated pattern.
func newRuleKey(p string) ruleKey {
	k := ruleKey{glob: strings.HasSuffix(p, "*")}
	k.wc = strings.TrimSuffix(p, "*")
	k.first = -1
	start := 0
	for {
		end := strings.IndexByte(k.wc[start:], '/')
		if end < 0 {
			end = len(k.wc)
		} else {
			end += start
		}
		if k.wc[start:end] == "+" {
			if k.first < 0 {
				k.first = start
			}
			k.plus++
		}
		if end == len(k.wc) {
			break
		}
		start = end + 1
	}
	if k.first < 0 {
		k.first = len(k.wc) // only a glob, or exact
	}
	return k
}

// matchSegments reports whether path matches a pattern with "+" segments:
// parts is the pattern without its trailing "*", split at "/". It does not
// allocate.
func matchSegments(parts []string, glob bool, path string) bool {
	n := strings.Count(path, "/") + 1
	if n < len(parts) || (n > len(parts) && !glob) {
		return false
	}
	rest := path
	for i, part := range parts {
		var seg string
		if j := strings.IndexByte(rest, '/'); j < 0 {
			seg, rest = rest, ""
		} else {
			seg, rest = rest[:j], rest[j+1:]
		}
		switch {
		case part == "+", part == seg:
		case glob && i == len(parts)-1 && strings.HasPrefix(seg, part):
		default:
			return false
		}
	}
	return true
}
