package kv

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/logical"
)

// Limits on custom_metadata, as in Vault.
const (
	maxCustomKeys     = 64
	maxCustomKeyLen   = 128
	maxCustomValueLen = 512
)

// writeRequest is the decoded body of a data write or patch.
type writeRequest struct {
	data   map[string]any
	cas    int
	hasCAS bool
}

// parseWrite decodes {"data": {...}, "options": {"cas": N}}. Errors name the
// field and never echo a value.
func parseWrite(d map[string]any) (writeRequest, error) {
	var w writeRequest
	raw, ok := d["data"]
	if !ok || raw == nil {
		return w, logical.BadRequest("no data provided")
	}
	if w.data, ok = asObject(raw); !ok {
		return w, logical.BadRequest("field %q: expected a JSON object", "data")
	}
	if err := logical.UnknownFields(d, "data", "options"); err != nil {
		return w, err
	}
	opts, ok := d["options"]
	if !ok || opts == nil {
		return w, nil
	}
	om, ok := asObject(opts)
	if !ok {
		return w, logical.BadRequest("field %q: expected a JSON object", "options")
	}
	if err := logical.UnknownFields(om, "cas"); err != nil { // a misspelt cas must not skip the check
		return w, err
	}
	if _, ok := om["cas"]; ok {
		cas, ok, err := logical.Int(om, "cas")
		if err != nil || cas < 0 {
			return w, logical.BadRequest("field %q: expected a non-negative integer", "options.cas")
		}
		w.cas, w.hasCAS = cas, ok
	}
	return w, nil
}

// parseVersion decodes the optional "version" query parameter (0: current).
func parseVersion(d map[string]any) (int, error) {
	v, _, err := logical.Int(d, "version")
	if err != nil || v < 0 {
		return 0, logical.BadRequest("field %q: expected a non-negative integer", "version")
	}
	return v, nil
}

// parseVersions decodes "versions": a JSON list of numbers, a single number,
// or a comma-separated string. At least one positive version is required.
func parseVersions(d map[string]any) ([]int, error) {
	bad := logical.BadRequest("field %q: expected a list of positive version numbers", "versions")
	if err := logical.UnknownFields(d, "versions"); err != nil {
		return nil, err
	}
	raw, ok := d["versions"]
	if !ok || raw == nil {
		return nil, logical.BadRequest("no version number provided")
	}
	var items []any
	switch t := raw.(type) {
	case []any:
		items = t
	case []int:
		for _, n := range t {
			items = append(items, n)
		}
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		items = []any{t}
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		n, ok := versionNumber(it)
		if !ok {
			return nil, bad
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, logical.BadRequest("no version number provided")
	}
	return out, nil
}

func versionNumber(v any) (int, bool) {
	var n int64
	switch t := v.(type) {
	case json.Number:
		i, err := t.Int64()
		if err != nil {
			return 0, false
		}
		n = i
	case float64:
		if t != math.Trunc(t) || t > math.MaxInt32 {
			return 0, false
		}
		n = int64(t)
	case int:
		n = int64(t)
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return 0, false
		}
		n = i
	default:
		return 0, false
	}
	if n <= 0 || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// validateCustom enforces Vault's custom_metadata limits. Messages never
// echo keys or values.
func validateCustom(m map[string]string) error {
	if len(m) > maxCustomKeys {
		return logical.BadRequest("field %q: at most %d keys are allowed", "custom_metadata", maxCustomKeys)
	}
	for k, v := range m {
		switch {
		case k == "":
			return logical.BadRequest("field %q: keys must not be empty", "custom_metadata")
		case utf8.RuneCountInString(k) > maxCustomKeyLen:
			return logical.BadRequest("field %q: keys must be at most %d characters", "custom_metadata", maxCustomKeyLen)
		case utf8.RuneCountInString(v) > maxCustomValueLen:
			return logical.BadRequest("field %q: values must be at most %d characters", "custom_metadata", maxCustomValueLen)
		case !printable(k) || !printable(v):
			return logical.BadRequest("field %q: keys and values must be printable", "custom_metadata")
		}
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// mergePatch applies an RFC 7386 JSON merge patch to target, which it may
// modify, and returns the result.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// subkeys returns the key structure of m with every leaf replaced by null,
// descending at most depth levels (0: no limit).
func subkeys(m map[string]any, depth, level int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && (depth == 0 || level < depth) {
			out[k] = subkeys(sub, depth, level+1)
			continue
		}
		out[k] = nil
	}
	return out
}
