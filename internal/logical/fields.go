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

// UnknownFields returns an error naming the first key of data not in
// allowed (sorted, for stable messages).
func UnknownFields(data map[string]any, allowed ...string) error {
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
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return BadRequest("unknown field %q", unknown[0])
}
