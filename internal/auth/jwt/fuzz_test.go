package jwt

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// FuzzParseHeader: any input is parsed without panic, and an accepted
// header always has an allowed alg and never a key-carrying parameter.
func FuzzParseHeader(f *testing.F) {
	enc := base64.RawURLEncoding
	for _, h := range []string{`{"alg":"RS256","kid":"k"}`, `{"alg":"none"}`, `{"alg":"HS256"}`, `{"alg":"ES256","jku":"https://x"}`,
		`{"alg":"EdDSA","kid":7}`, `[]`, `null`, `{"alg":"RS256"} x`, `{"alg":"RS256","crit":["b64"]}`} {
		f.Add(enc.EncodeToString([]byte(h)) + ".e30.c2ln")
	}
	f.Add("a.b")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		h, err := ParseHeader(token, SupportedAlgs)
		if err != nil {
			return
		}
		switch h.Alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA":
		default:
			t.Fatalf("accepted alg %q", h.Alg)
		}
		raw, _ := enc.DecodeString(strings.Split(token, ".")[0])
		for _, k := range refusedHeaders {
			if strings.Contains(string(raw), `"`+k+`"`) && !strings.Contains(string(raw), `\`) {
				t.Fatalf("accepted header with %s: %s", k, raw)
			}
		}
	})
}

// FuzzClaims: claim parsing, time and audience checks never panic on odd
// types and never accept a token without a numeric exp.
func FuzzClaims(f *testing.F) {
	for _, s := range []string{`{"exp":1999999999,"aud":"a"}`, `{"exp":"1"}`, `{"exp":1e300}`, `{"exp":-1}`, `{"aud":[1,"a"]}`,
		`{"exp":1.5,"nbf":{},"iat":[]}`, `{"kubernetes.io":{"namespace":"ci"}}`, `[]`, `1`} {
		f.Add([]byte(s))
	}
	now := time.Unix(1800000000, 0)
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ParseClaims(payload)
		if err != nil {
			return
		}
		err = checkTimes(c, now, leeways{ClockSkew: time.Minute})
		if _, ok := c["exp"]; !ok && err == nil {
			t.Fatal("accepted a claim set without exp")
		}
		_, _ = audiences(c)
		_, _ = lookupClaim(c, "/kubernetes.io/namespace")
		_ = matchBound(c["sub"], true, []string{"repo:*", "x"}, true)
	})
}

// FuzzGlob: matching never panics, and a pattern without "**" never
// matches a value with more ':' or '/' separators than the pattern has.
func FuzzGlob(f *testing.F) {
	f.Add("repo:org/app*", "repo:org/app-evil:ref:refs/heads/main")
	f.Add("repo:org/*:ref:refs/heads/main", "repo:org/x:ref:refs/heads/main")
	f.Add("**", "a/b:c")
	f.Add("a.b*", "a.bc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if len(pattern) > 256 {
			return
		}
		ok := GlobMatch(pattern, value)
		if !ok || strings.Contains(pattern, "**") {
			return
		}
		seps := func(s string) int { return strings.Count(s, ":") + strings.Count(s, "/") }
		if seps(value) != seps(pattern) {
			t.Fatalf("GlobMatch(%q, %q) crossed a separator", pattern, value)
		}
		if !strings.Contains(pattern, "*") && pattern != value {
			t.Fatalf("literal pattern %q matched %q", pattern, value)
		}
	})
}
