package jwt

import (
	"encoding/json"
	"strconv"
	"strings"
)

// claimPath turns a claim key into the path of object keys to follow. A key
// starting with "/" is a JSON pointer (RFC 6901: "~1" is "/", "~0" is "~"),
// so "/kubernetes.io/namespace" reaches the nested namespace; any other key
// names a top-level claim as written ("kubernetes.io/serviceaccount/name"
// of legacy service-account tokens included).
func claimPath(key string) []string {
	if !strings.HasPrefix(key, "/") {
		return []string{key}
	}
	parts := strings.Split(key[1:], "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

// lookupClaim returns the value at key in claims, and whether it exists.
func lookupClaim(claims map[string]any, key string) (any, bool) {
	var cur any = claims
	for _, p := range claimPath(key) {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// scalarString renders a claim or bound value that is a string, number or
// boolean as text: true is "true", so GitLab's string booleans and JSON
// booleans compare equal. ok is false for lists, objects and null.
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case json.Number:
		return t.String(), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	}
	return "", false
}

// scalar is one value a claim offers, with whether it was a JSON string.
type scalar struct {
	text     string
	isString bool
}

// claimValues flattens a claim into the scalar values it offers: a scalar
// offers itself, a list offers its scalar elements (nested lists and objects
// offer nothing).
func claimValues(v any) []scalar {
	if s, ok := scalarString(v); ok {
		_, str := v.(string)
		return []scalar{{s, str}}
	}
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]scalar, 0, len(list))
	for _, e := range list {
		if s, ok := scalarString(e); ok {
			_, str := e.(string)
			out = append(out, scalar{s, str})
		}
	}
	return out
}

// matchBound reports whether the claim satisfies one bound value set: any of
// the claim's values equals (string mode) or matches (glob mode) any of the
// allowed values. Only string claims are globbed; numbers and booleans are
// always compared exactly. An absent claim never matches.
func matchBound(claim any, present bool, allowed []string, glob bool) bool {
	if !present {
		return false
	}
	for _, have := range claimValues(claim) {
		for _, want := range allowed {
			if glob && have.isString {
				if GlobMatch(want, have.text) {
					return true
				}
			} else if have.text == want {
				return true
			}
		}
	}
	return false
}
