package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/logical"
)

// Entries stay small whatever a client sends.
//
// Every string copied readable into an entry (paths, ids, addresses,
// forwarded-for values, mount names, identities, metadata, data keys, error
// texts, warnings) is bounded: a longer value is written as its first
// bytes, then "…", then the SHA-256 and byte length of the whole value, so
// a 60 KB path costs about 600 bytes and can still be matched against a
// candidate path. Hashed values have a fixed size anyway.
//
// The number of things is bounded too. An object in the data shows at most
// maxObjectKeys members and an array at most maxArrayValues values, and
// all the data of one entry (request and response together) at most
// maxMembers keys and values; the data shown is the first in the order
// encoding/json writes it (keys sorted, each object taking its share
// before its children). What is left out is counted: an object gets one
// member "…": "[N more keys, sha256:<hex>]" (or "[N keys, …]" when
// none is shown; the hash covers the keys left out, see keysDigest), an
// array a last value "…[N more values]". A client's own key "…" is
// always counted, never shown. Token metadata shows at most maxObjectKeys
// keys; policies, warnings and forwarded-for values keep their first few
// and count the rest ("…[N more]").
//
// A request refused before any caller was authenticated (no token, a
// token that is not valid, on a path that needs one) carries only the
// summary of its data, {"…": "[N keys, sha256:<hex>]"}: nothing was done
// with it, and whoever sent it is unknown. Last, an entry still longer than
// maxEntry bytes (long keys, values written raw under log_raw) is written
// again with all its data summarised that way and a raw body hashed even
// under log_raw.
const (
	maxField   = 512  // identifiers, paths, addresses, names, keys
	maxMessage = 1024 // error texts and warnings
	// maxForwarded bounds the X-Forwarded-For values and the warnings of
	// one entry; the rest are counted.
	maxForwarded = 16
	// maxPolicies bounds the policies listed for one identity.
	maxPolicies = 64

	maxObjectKeys  = 64
	maxArrayValues = 64
	maxMembers     = 512
	maxEntry       = 64 << 10

	// moreKey is the key of the member that counts an object's keys left
	// out.
	moreKey = "…"
)

// budget is what the data of one entry may still show: keys and values
// (maxMembers at first), and whether everything is summarised.
type budget struct {
	left int
}

// newBudget returns the budget of one entry; summary leaves nothing to
// show, so every object is written as its summary.
func newBudget(summary bool) *budget {
	if summary {
		return &budget{}
	}
	return &budget{left: maxMembers}
}

// anonymousRefusal reports whether err refuses req before any caller was
// authenticated, on a path that needs one: the entry shows only the
// summary of its data.
func anonymousRefusal(req *logical.Request, err error) bool {
	return err != nil && req.Token == nil && !req.Unauthenticated
}

// take reserves up to want members (capped at limit) and returns how many
// it got.
func (bud *budget) take(want, limit int) int {
	n := min(want, limit, bud.left)
	bud.left -= n
	return n
}

// objectKeys splits m's keys, in the order encoding/json writes them once
// bounded (see boundedKeys), into those shown (keys, shown as shown) and
// those counted by the "…" member (omitted, in the same order), taking the
// shown ones from bud. The key "…" itself is never shown.
func objectKeys[V any](m map[string]V, bud *budget) (keys, shown, omitted []string) {
	keys, shown = boundedKeys(m)
	i := slices.Index(shown, moreKey)
	if i < 0 {
		n := bud.take(len(keys), maxObjectKeys)
		return keys[:n], shown[:n], keys[n:]
	}
	n := bud.take(len(keys)-1, maxObjectKeys)
	if i >= n {
		return keys[:n], shown[:n], keys[n:]
	}
	omitted = append([]string{keys[i]}, keys[n+1:]...)
	keys = append(slices.Clone(keys[:i]), keys[i+1:n+1]...)
	shown = append(slices.Clone(shown[:i]), shown[i+1:n+1]...)
	return keys, shown, omitted
}

// moreKeys is the value of the "…" member for the omitted keys, after
// shown keys were written.
func moreKeys(omitted []string, shown int) string {
	more := " more keys, sha256:"
	if shown == 0 {
		more = " keys, sha256:"
	}
	return "[" + strconv.Itoa(len(omitted)) + more + keysDigest(omitted) + "]"
}

// keysDigest is the hex SHA-256 of keys (whole, not bounded), each written
// as its length in bytes (decimal), ":" and its bytes, in order.
func keysDigest(keys []string) string {
	h := sha256.New()
	var n [20]byte
	for _, k := range keys {
		h.Write(strconv.AppendInt(n[:0], int64(len(k)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// moreValues is the last value of an array whose other n values are left
// out.
func moreValues(n int) string {
	return "…[" + strconv.Itoa(n) + " more values]"
}

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

// boundedList keeps the first n values and counts the rest in a last
// value (each is bounded where it is written).
func boundedList(ss []string, n int) []string {
	if len(ss) <= n {
		return ss
	}
	out := slices.Clone(ss[:n])
	return append(out, "…["+strconv.Itoa(len(ss)-n)+" more]")
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
