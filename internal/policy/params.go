package policy

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// checkParams applies a rule's parameter constraints to the top-level
// request parameters, following Vault: required names must be present;
// with no parameters the request is allowed; a denied "*" denies any
// parameter; a parameter whose denied list is empty or contains its value
// is denied; if allowed parameters are set (other than "*" alone), every
// parameter must be listed (or "*" present) with a matching value. Names
// compare case-insensitively. It returns the offending parameter name.
func (p *perms) checkParams(params map[string]any) (string, bool) {
	for _, name := range p.required {
		if !hasKeyFold(params, name) {
			return name, false
		}
	}
	if len(params) == 0 {
		return "", true
	}
	if len(p.denied) > 0 {
		if _, all := p.denied["*"]; all {
			return "*", false
		}
		for k, v := range params {
			if vals, ok := p.denied[strings.ToLower(k)]; ok && deniedValue(v, vals) {
				return k, false
			}
		}
	}
	if len(p.allowed) == 0 {
		return "", true
	}
	_, allowAll := p.allowed["*"]
	if allowAll && len(p.allowed) == 1 {
		return "", true
	}
	for k, v := range params {
		vals, ok := p.allowed[strings.ToLower(k)]
		if !ok {
			if allowAll {
				continue
			}
			return k, false
		}
		if !allowedValue(v, vals) {
			return k, false
		}
	}
	return "", true
}

// withAliases returns p's parameter constraints with every legacy name
// replaced by its current one. Where two names meet, their lists merge the
// safe way: an empty denied list (deny any value) or an empty allowed list
// (allow any value) wins as it would alone, otherwise the values add up.
func (p *perms) withAliases(aliases map[string]string) *perms {
	canon := func(name string) string {
		if c, ok := aliases[name]; ok {
			return strings.ToLower(c)
		}
		return name
	}
	merge := func(in map[string][]string) map[string][]string {
		if len(in) == 0 {
			return in
		}
		out := make(map[string][]string, len(in))
		for name, vals := range in {
			c := canon(name)
			prev, seen := out[c]
			switch {
			case !seen:
				out[c] = vals
			case len(prev) == 0 || len(vals) == 0:
				out[c] = nil
			default:
				out[c] = append(slices.Clone(prev), vals...)
			}
		}
		return out
	}
	q := *p
	q.allowed, q.denied = merge(p.allowed), merge(p.denied)
	if len(p.required) > 0 {
		q.required = make([]string, len(p.required))
		for i, name := range p.required {
			q.required[i] = canon(strings.ToLower(name))
		}
	}
	return &q
}

func hasKeyFold(params map[string]any, name string) bool {
	if _, ok := params[name]; ok {
		return true
	}
	for k := range params {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// allowedValue reports whether v is permitted by vals: any value when vals
// is empty; otherwise a scalar must match one entry, and every element of a
// list must. A string is also read as the comma list the field decoders
// split it into (logical.Strings), so "dev,admin" is allowed by "dev*" only
// if "admin" is too. Maps and nested lists are not permitted by a non-empty
// list.
func allowedValue(v any, vals []string) bool {
	if len(vals) == 0 {
		return true
	}
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if _, nested := e.([]any); nested || !allowedScalar(e, vals) {
				return false
			}
		}
		return true
	case []string:
		for _, e := range t {
			if !allowedScalar(e, vals) {
				return false
			}
		}
		return true
	}
	return allowedScalar(v, vals)
}

// allowedScalar checks one scalar: a string must match as a whole and as
// every element of its comma list.
func allowedScalar(v any, vals []string) bool {
	if !scalarIn(v, vals) {
		return false
	}
	s, ok := v.(string)
	if !ok || !strings.Contains(s, ",") {
		return true
	}
	for _, e := range strings.Split(s, ",") {
		if strings.TrimSpace(e) != "" && !scalarIn(e, vals) {
			return false
		}
	}
	return true
}

// deniedValue reports whether v is forbidden by vals: any value when vals
// is empty; a scalar any of whose readings (see readings) matches an entry;
// a list with any such element. A map (or nested list) fails closed: it is
// denied when vals is non-empty, since its contents cannot be compared with
// the listed values.
func deniedValue(v any, vals []string) bool {
	if len(vals) == 0 {
		return true
	}
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if _, ok := scalarText(e); !ok || deniedScalar(e, vals) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range t {
			if deniedScalar(e, vals) {
				return true
			}
		}
		return false
	case nil:
		return false
	}
	if _, ok := scalarText(v); !ok {
		return true
	}
	return deniedScalar(v, vals)
}

// deniedScalar reports whether any reading of v matches a denied entry.
// Strings compare case-insensitively, since backends fold the case of
// names (policies) before use.
func deniedScalar(v any, vals []string) bool {
	for _, r := range readings(v) {
		for _, want := range vals {
			if globMatch(strings.ToLower(want), r) {
				return true
			}
		}
	}
	return false
}

// readings returns every value a backend may read from v, lower-cased:
// the text itself; for a string, each element of its comma list trimmed
// (logical.Strings, policy names), and the boolean or number it parses as
// (logical.Bool, logical.Int); for a number, the boolean it decodes as.
// A deny must hold for each of them, or a differently spelled value slips
// past the policy and still means the denied one to the backend.
func readings(v any) []string {
	text, ok := scalarText(v)
	if !ok {
		return nil
	}
	out := []string{strings.ToLower(text)}
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	s, isString := v.(string)
	if !isString {
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			add(strconv.FormatBool(f != 0))
		}
		return out
	}
	for _, e := range strings.Split(s, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		add(e)
		if b, err := strconv.ParseBool(e); err == nil {
			add(strconv.FormatBool(b))
		}
		if f, err := strconv.ParseFloat(e, 64); err == nil {
			add(strconv.FormatFloat(f, 'f', -1, 64))
		}
	}
	return out
}

// scalarIn reports whether scalar v matches an entry of vals. Strings match
// Vault-style globs ("foo*", "*foo", "*foo*"); numbers and booleans compare
// by their canonical text exactly.
func scalarIn(v any, vals []string) bool {
	s, ok := scalarText(v)
	if !ok {
		return false
	}
	_, isString := v.(string)
	for _, want := range vals {
		if isString {
			if globMatch(want, s) {
				return true
			}
		} else if want == s {
			return true
		}
	}
	return false
}

// scalarText returns the canonical text of a scalar request value.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

// globMatch implements Vault's parameter value globs: a leading and/or
// trailing "*" makes a suffix, prefix or substring match. A lone "*"
// matches only "*", as in Vault. It is the narrowest dialect in the tree
// (no "*" in the middle, no "?") because existing Vault policies rely on
// exactly these semantics for allowed_parameters and denied_parameters.
func globMatch(pattern, s string) bool {
	if len(pattern) < 2 {
		return s == pattern
	}
	pre, suf := pattern[0] == '*', pattern[len(pattern)-1] == '*'
	switch {
	case pre && suf:
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case pre:
		return strings.HasSuffix(s, pattern[1:])
	case suf:
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return s == pattern
}
