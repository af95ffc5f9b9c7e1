package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxTokenLen bounds a login token; real CI tokens are 1-3 KiB.
const maxTokenLen = 64 << 10

// SupportedAlgs are the signature algorithms a token may use. HMAC and
// "none" are never accepted: the verifier holds only public keys, and an
// HMAC keyed with a public key is forgeable by anyone.
var SupportedAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

// refusedHeaders carry keys or key locations chosen by whoever made the
// token; keys come only from the mount's config.
var refusedHeaders = []string{"jku", "x5u", "jwk", "x5c", "crit"}

// Header is the part of a token's protected header the verifier uses.
type Header struct {
	Alg string
	Kid string
}

// tokenError is a refusal with a message safe to return to the caller: it
// names claims and checks, never claim values or token bytes.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &tokenError{msg: fmt.Sprintf(format, args...)} }

// ParseHeader decodes the protected header of a compact JWS and checks it
// against algs (a subset of SupportedAlgs): exactly three parts, a JSON
// object header, an allowed alg, a string kid if any, and none of the
// jku, x5u, jwk, x5c or crit parameters.
func ParseHeader(token string, algs []string) (Header, error) {
	if len(token) > maxTokenLen {
		return Header{}, refuse("token is too large")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Header{}, refuse("token is not a compact JWS (want 3 dot-separated parts)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return Header{}, refuse("token header is not base64url")
	}
	var h map[string]any
	if err := decodeObject(raw, &h); err != nil {
		return Header{}, refuse("token header is not a JSON object")
	}
	for _, k := range refusedHeaders {
		if _, ok := h[k]; ok {
			return Header{}, refuse("token header %q is not accepted: keys come only from the mount config", k)
		}
	}
	alg, ok := h["alg"].(string)
	if !ok {
		return Header{}, refuse("token header has no alg")
	}
	if !slices.Contains(SupportedAlgs, alg) || !slices.Contains(algs, alg) {
		return Header{}, refuse("signature algorithm %q is not allowed", clip(alg))
	}
	out := Header{Alg: alg}
	if v, present := h["kid"]; present {
		kid, ok := v.(string)
		if !ok {
			return Header{}, refuse("token header kid is not a string")
		}
		out.Kid = kid
	}
	if parts[2] == "" {
		return Header{}, refuse("token has no signature")
	}
	return out, nil
}

// clip shortens an attacker-chosen header value before it goes into an
// error message.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

// decodeObject decodes one JSON object with numbers kept as json.Number and
// nothing after it.
func decodeObject(raw []byte, out *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if *out == nil {
		return errors.New("not an object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

// ParseClaims decodes a verified payload into a claim set: a JSON object,
// numbers as json.Number.
func ParseClaims(payload []byte) (map[string]any, error) {
	var c map[string]any
	if err := decodeObject(payload, &c); err != nil {
		return nil, refuse("token claims are not a JSON object")
	}
	return c, nil
}

// maxNumericDate is 9999-12-31: later dates (1e300...) are refused rather
// than treated as "never".
const maxNumericDate = 253402300799

// numericDate reads a NumericDate claim (RFC 7519: seconds, possibly
// fractional). Strings, negative, non-finite and absurd values are refused.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, refuse("claim %q is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, refuse("claim %q is out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// leeways are the tolerated clock differences for the time claims.
type leeways struct {
	ClockSkew, Expiration, NotBefore time.Duration
}

// checkTimes enforces exp (required), nbf and iat against now.
func checkTimes(claims map[string]any, now time.Time, l leeways) error {
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return refuse("token has no exp claim")
	}
	if !now.Before(exp.Add(l.ClockSkew + l.Expiration)) {
		return refuse("token is expired")
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	if ok && now.Before(nbf.Add(-l.ClockSkew-l.NotBefore)) {
		return refuse("token is not valid yet (nbf)")
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	if ok && iat.After(now.Add(l.ClockSkew)) {
		return refuse("token was issued in the future (iat)")
	}
	return nil
}

// audiences returns the aud claim as a list: a string is a one-element
// list, empty strings are dropped, any other shape is refused.
func audiences(claims map[string]any) ([]string, error) {
	v, present := claims["aud"]
	if !present || v == nil {
		return nil, nil
	}
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, nil
		}
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, refuse("claim \"aud\" has a non-string entry")
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, refuse("claim \"aud\" is neither a string nor a list")
}

// verify checks token's signature with keys and returns its claims. It
// parses the header itself first (ParseHeader), so go-jose only ever sees
// tokens with an allowed alg and no header-provided keys.
func verify(token string, algs []string, keys keyFinder) (map[string]any, error) {
	h, err := ParseHeader(token, algs)
	if err != nil {
		return nil, err
	}
	sig, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(h.Alg)})
	if err != nil {
		return nil, refuse("token is malformed")
	}
	candidates, err := keys(h)
	if err != nil {
		return nil, err
	}
	for _, k := range candidates {
		if k.Algorithm != "" && k.Algorithm != h.Alg {
			continue
		}
		payload, err := sig.Verify(k.Key)
		if err != nil {
			continue
		}
		return ParseClaims(payload)
	}
	return nil, refuse("signature is not valid for any configured key")
}

// keyFinder returns the keys that may have signed a token with header h.
type keyFinder func(h Header) ([]jose.JSONWebKey, error)
