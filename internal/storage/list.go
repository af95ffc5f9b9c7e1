package storage

import (
	"iter"
	"maps"
	"slices"
	"strings"
)

// ListEntry returns the name that key contributes to a List of prefix: the
// first path segment of key after prefix, with a trailing "/" when more of
// key follows it ("b" for "a/b", "b/" for "a/b/c", under "a/"). ok is false
// when key is not under prefix or is prefix itself, which List leaves out.
// The name is a substring of key.
func ListEntry(prefix, key string) (name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" {
		return "", false
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i+1]
	}
	return rest, true
}

// ListNames returns what List(prefix) answers for a store holding keys:
// the ListEntry names, each once, sorted. keys may come in any order and
// repeat. The result is never nil, so an empty listing is an empty slice.
func ListNames(prefix string, keys iter.Seq[string]) []string {
	seen := make(map[string]struct{})
	for k := range keys {
		if name, ok := ListEntry(prefix, k); ok {
			seen[name] = struct{}{}
		}
	}
	names := slices.AppendSeq(make([]string, 0, len(seen)), maps.Keys(seen))
	slices.Sort(names)
	return names
}
