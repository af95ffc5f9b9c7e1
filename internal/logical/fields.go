package logical

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Field decoders for request Data. They accept the loose shapes Vault clients
// send (numbers as strings, lists as comma-separated strings, durations as
// "1h" or seconds). Errors name the field and never echo its value, because
// a confused client may have put a secret there.

// Str returns data[key] as a string. ok is false when the key is absent.
func Str(data map[string]any, key string) (v string, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return "", false, nil
	}
	switch t := raw.(type) {
	case string:
		return t, true, nil
	case json.Number:
		return t.String(), true, nil
	case bool:
		return strconv.FormatBool(t), true, nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true, nil
	case int:
		return strconv.Itoa(t), true, nil
	}
	return "", true, BadRequest("field %q: expected a string", key)
}

// Bool returns data[key] as a bool ("true", "1", true).
func Bool(data map[string]any, key string) (v, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return false, false, nil
	}
	switch t := raw.(type) {
	case bool:
		return t, true, nil
	case string:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return false, true, BadRequest("field %q: expected a boolean", key)
		}
		return b, true, nil
	case json.Number:
		n, err := t.Int64()
		if err != nil || (n != 0 && n != 1) {
			return false, true, BadRequest("field %q: expected a boolean", key)
		}
		return n == 1, true, nil
	case float64:
		return t != 0, true, nil
	}
	return false, true, BadRequest("field %q: expected a boolean", key)
}

// Int returns data[key] as an int.
func Int(data map[string]any, key string) (v int, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return 0, false, nil
	}
	bad := BadRequest("field %q: expected an integer", key)
	switch t := raw.(type) {
	case json.Number:
		n, err := t.Int64()
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, true, bad
		}
		return int(n), true, nil
	case float64:
		if t != math.Trunc(t) || t > math.MaxInt32 || t < math.MinInt32 {
			return 0, true, bad
		}
		return int(t), true, nil
	case int:
		return t, true, nil
	case string:
		if t == "" {
			return 0, true, nil
		}
		n, err := strconv.Atoi(t)
		if err != nil {
			return 0, true, bad
		}
		return n, true, nil
	}
	return 0, true, bad
}

// Duration returns data[key] as a duration: "90s", "1h30m", "3600", 3600, "7d".
func Duration(data map[string]any, key string) (v time.Duration, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return 0, false, nil
	}
	d, err := ParseDuration(raw)
	if err != nil {
		return 0, true, BadRequest("field %q: expected a duration like \"30m\" or a number of seconds", key)
	}
	return d, true, nil
}

// ParseDuration parses a Vault-style duration from a string or number.
func ParseDuration(raw any) (time.Duration, error) {
	switch t := raw.(type) {
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			f, ferr := t.Float64()
			if ferr != nil {
				return 0, fmt.Errorf("bad duration")
			}
			n = int64(f)
		}
		return secs(n)
	case float64:
		return secs(int64(t))
	case int:
		return secs(int64(t))
	case int64:
		return secs(t)
	case time.Duration:
		return t, nil
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return secs(n)
		}
		if strings.HasSuffix(s, "d") {
			n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad duration")
			}
			return secs(n * 86400)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("bad duration")
		}
		return d, nil
	}
	return 0, fmt.Errorf("bad duration")
}

func secs(n int64) (time.Duration, error) {
	if n < 0 || n > math.MaxInt64/int64(time.Second) {
		return 0, fmt.Errorf("bad duration")
	}
	return time.Duration(n) * time.Second, nil
}

// Strings returns data[key] as a list: a JSON array of strings, or a
// comma-separated string. Entries are trimmed and empty ones dropped.
func Strings(data map[string]any, key string) (v []string, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return nil, false, nil
	}
	var out []string
	switch t := raw.(type) {
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		for _, s := range t {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range t {
			s, isStr := e.(string)
			if !isStr {
				return nil, true, BadRequest("field %q: expected a list of strings", key)
			}
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	default:
		return nil, true, BadRequest("field %q: expected a list of strings", key)
	}
	return out, true, nil
}

// StringMap returns data[key] as a map of strings (a JSON object of strings,
// or "k=v,k2=v2").
func StringMap(data map[string]any, key string) (v map[string]string, ok bool, err error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return nil, false, nil
	}
	out := map[string]string{}
	switch t := raw.(type) {
	case map[string]any:
		for k, e := range t {
			s, isStr := e.(string)
			if !isStr {
				return nil, true, BadRequest("field %q: expected a map of strings", key)
			}
			out[k] = s
		}
	case map[string]string:
		for k, s := range t {
			out[k] = s
		}
	case string:
		if strings.TrimSpace(t) == "" {
			return out, true, nil
		}
		for _, kv := range strings.Split(t, ",") {
			k, s, found := strings.Cut(kv, "=")
			if !found {
				return nil, true, BadRequest("field %q: expected key=value pairs", key)
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(s)
		}
	default:
		return nil, true, BadRequest("field %q: expected a map of strings", key)
	}
	return out, true, nil
}

// The unknown-field rule, the same on every endpoint (docs/api.md, "Unknown
// fields"): each endpoint lists the fields it understands, and a request
// with any other field is refused with a 400 that names it, with a hint for
// a near-miss ("num_usess": did you mean "num_uses"?). A misspelt field must
// never be ignored, because ignoring it can silently yield a more powerful
// token or a looser restriction. Only endpoints whose fields are
// bookkeeping that can neither widen access nor loosen a restriction
// answer with Vault's warnings instead (UnknownFieldWarnings). Vault fields
// that Keyward does not implement are listed with NotSupported, so that
// clients sending their zero value (as the official Go client does) keep
// working while a real value is refused.

// UnknownFields returns a 400 naming every key of data not in allowed
// (sorted), each near-miss with the allowed field it was probably meant to
// be, or nil when there is none.
func UnknownFields(data map[string]any, allowed ...string) error {
	unknown := unknownKeys(data, allowed)
	if len(unknown) == 0 {
		return nil
	}
	word := "field"
	if len(unknown) > 1 {
		word = "fields"
	}
	return BadRequest("unknown %s %s", word, describeUnknown(unknown, allowed))
}

// UnknownFieldWarnings returns Vault's warning about the keys of data not in
// allowed (with the same hints as UnknownFields), or nil. Use it only where
// ignoring a field can neither widen access nor loosen a restriction.
func UnknownFieldWarnings(data map[string]any, allowed ...string) []string {
	unknown := unknownKeys(data, allowed)
	if len(unknown) == 0 {
		return nil
	}
	return []string{"endpoint ignored these unrecognized parameters: " + describeUnknown(unknown, allowed)}
}

// NotSupported returns a 400 for the first of fields present in data with
// a value other than its zero value (nil, "", false, 0, an empty list or
// map): Vault fields an endpoint knows but Keyward does not implement.
// List them in the endpoint's allowed fields too.
func NotSupported(data map[string]any, fields ...string) error {
	for _, f := range fields {
		if v, ok := data[f]; ok && !isZero(v) {
			return BadRequest("field %q is not supported by Keyward", f)
		}
	}
	return nil
}

func isZero(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == "" || t == "0" || t == "0s" || t == "false"
	case bool:
		return !t
	case float64:
		return t == 0
	case int:
		return t == 0
	case json.Number:
		f, err := t.Float64()
		return err == nil && f == 0
	case []any:
		return len(t) == 0
	case []string:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

func unknownKeys(data map[string]any, allowed []string) []string {
	var unknown []string
outer:
	for k := range data {
		for _, a := range allowed {
			if k == a {
				continue outer
			}
		}
		unknown = append(unknown, k)
	}
	sort.Strings(unknown)
	return unknown
}

const (
	// maxListedFields and maxFieldName bound what an error or warning
	// echoes of a hostile request: field names only, never values.
	maxListedFields = 8
	maxFieldName    = 64
)

// describeUnknown renders unknown field names for a message:
// "num_usess" (did you mean "num_uses"?), "bogus".
func describeUnknown(unknown, allowed []string) string {
	parts := make([]string, 0, min(len(unknown), maxListedFields)+1)
	for i, u := range unknown {
		if i == maxListedFields {
			parts = append(parts, fmt.Sprintf("and %d more", len(unknown)-i))
			break
		}
		name := u
		if len(name) > maxFieldName {
			name = strings.ToValidUTF8(name[:maxFieldName], "") + "…"
		}
		part := strconv.Quote(name)
		if s := suggest(u, allowed); s != "" {
			part += fmt.Sprintf(" (did you mean %q?)", s)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// suggest returns the allowed field that u is most likely a misspelling of,
// or "": the same name in another case or with or without the "token_"
// prefix Vault's role fields carry, or one within a small edit distance.
func suggest(u string, allowed []string) string {
	if len(u) > maxFieldName {
		return ""
	}
	lu := strings.ToLower(u)
	for _, a := range allowed {
		la := strings.ToLower(a)
		if la == lu || "token_"+la == lu || la == "token_"+lu {
			return a
		}
	}
	best, bestDist := "", 3
	for _, a := range allowed {
		d := editDistance(lu, strings.ToLower(a))
		// A near-miss is at most two edits, and short names need to be
		// closer ("ip" is not a misspelling of "id").
		if d < bestDist && d*3 <= len(u) {
			best, bestDist = a, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
