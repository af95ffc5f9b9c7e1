package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Entries stay small whatever a client sends. Every string copied readable
// into an entry (paths, ids, addresses, forwarded-for values, mount names,
// identities, metadata, data keys, error texts, warnings) is bounded: a
// longer value is written as its first bytes, then "…", then the SHA-256
// and byte length of the whole value, so a 60 KB path costs about 600
// bytes and can still be matched against a candidate path. Hashed values
// have a fixed size anyway. Values written raw under log_raw are not
// bounded: raw logging is a server decision, and a truncated secret would
// be no use.
const (
	maxField   = 512  // identifiers, paths, addresses, names, keys
	maxMessage = 1024 // error texts and warnings
	// maxForwarded bounds the X-Forwarded-For values of one entry; the
	// rest are counted.
	maxForwarded = 16
)

// bounded returns s, or for a string longer than n bytes its first bytes
// (cut on a rune boundary), "…" and "[sha256:<hex> len=<bytes>]".
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + "…[sha256:" + hex.EncodeToString(sum[:]) + " len=" + strconv.Itoa(len(s)) + "]"
}

// boundedList keeps the first maxForwarded values, each bounded, and
// counts the rest in a last value.
func boundedList(ss []string) []string {
	if len(ss) <= maxForwarded {
		return ss
	}
	out := slices.Clone(ss[:maxForwarded])
	return append(out, "…["+strconv.Itoa(len(ss)-maxForwarded)+" more]")
}

// boundedKeys returns m's keys in the order encoding/json writes them once
// bounded, and each key's bounded form.
func boundedKeys[V any](m map[string]V) (keys, shown []string) {
	keys = slices.Sorted(maps.Keys(m))
	long := false
	for _, k := range keys {
		if len(k) > maxField {
			long = true
			break
		}
	}
	if !long {
		return keys, keys
	}
	shown = make([]string, len(keys))
	for i, k := range keys {
		shown[i] = bounded(k, maxField)
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case shown[a] < shown[b]:
			return -1
		case shown[a] > shown[b]:
			return 1
		}
		return 0
	})
	k2, s2 := make([]string, len(keys)), make([]string, len(keys))
	for i, j := range idx {
		k2[i], s2[i] = keys[j], shown[j]
	}
	return k2, s2
}
