package pki

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/go-jose/go-jose/v4"
)

// acmeAlgs are the account key algorithms the ACME server accepts.
var acmeAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.EdDSA}

// acmeJWS is a parsed ACME request (RFC 8555 section 6.2): a flattened
// JSON JWS whose protected header names the key (jwk or kid), the nonce
// and the URL. Its signature is not checked until verify.
type acmeJWS struct {
	sig   *jose.JSONWebSignature
	alg   string
	nonce string
	url   string
	kid   string
	jwk   *jose.JSONWebKey
}

var errJWS = errors.New("malformed JWS")

// parseJWS parses body, which must be a flattened JSON serialization with
// exactly one signature, a protected header only (no unprotected one),
// and exactly one of jwk and kid.
func parseJWS(body []byte, algs []jose.SignatureAlgorithm) (*acmeJWS, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errJWS
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errJWS
	}
	if len(top) != 3 || top["protected"] == nil || top["payload"] == nil || top["signature"] == nil {
		return nil, errJWS
	}
	sig, err := jose.ParseSignedJSON(string(body), algs)
	if err != nil || len(sig.Signatures) != 1 {
		return nil, errJWS
	}
	h := sig.Signatures[0].Protected
	j := &acmeJWS{sig: sig, alg: h.Algorithm, nonce: h.Nonce, kid: h.KeyID, jwk: h.JSONWebKey}
	if u, ok := h.ExtraHeaders["url"].(string); ok {
		j.url = u
	}
	if j.url == "" || (j.kid == "") == (j.jwk == nil) {
		return nil, errJWS
	}
	if j.jwk != nil && (!j.jwk.Valid() || !j.jwk.IsPublic()) {
		return nil, errJWS
	}
	return j, nil
}

// verify checks the signature with key and returns the payload.
func (j *acmeJWS) verify(key *jose.JSONWebKey) ([]byte, error) {
	if key == nil || !key.IsPublic() {
		return nil, errJWS
	}
	out, err := j.sig.Verify(key)
	if err != nil {
		return nil, errJWS
	}
	return out, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of key, base64url.
func thumbprint(key *jose.JSONWebKey) (string, error) {
	t, err := key.Thumbprint(cryptoSHA256)
	if err != nil {
		return "", err
	}
	return b64(t), nil
}
