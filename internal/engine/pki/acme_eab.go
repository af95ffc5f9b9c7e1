package pki

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// acmeEAB is an external account binding key (RFC 8555 section 7.3.4):
// an operator creates it with a token and hands its ID and key to one
// ACME client, which binds one new account with it. It is used once.
type acmeEAB struct {
	ID        string    `json:"id"`
	Key       []byte    `json:"key"`
	Directory string    `json:"directory"`
	CreatedOn time.Time `json:"created_on"`
}

var eabAlgs = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}

func (b *backend) newEAB(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if len(req.Data) > 0 {
		return nil, logical.BadRequest("new-eab takes no parameters")
	}
	cl, err := loadCluster(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	prefix := req.Path[:strings.Index(req.Path, "acme/")]
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	e := acmeEAB{ID: randomID(), Key: key, Directory: prefix, CreatedOn: b.now().UTC()}
	if err := logical.PutJSON(ctx, req.Storage, "acme/eab/"+e.ID, e); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"id": e.ID, "key_type": "hs", "key": base64.RawURLEncoding.EncodeToString(key),
		"acme_directory": prefix + "acme/directory", "directory_url": cl.Path + "/" + prefix + "acme/directory",
		"created_on": e.CreatedOn.Format(time.RFC3339),
	}}, nil
}

func (b *backend) listEAB(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	ids, err := req.Storage.List(ctx, "acme/eab/")
	if err != nil {
		return nil, err
	}
	info := map[string]any{}
	for _, id := range ids {
		e, err := loadACME[acmeEAB](ctx, req.Storage, "acme/eab/"+id)
		if err != nil {
			return nil, err
		}
		if e != nil {
			info[id] = map[string]any{"key_type": "hs", "acme_directory": e.Directory + "acme/directory", "created_on": e.CreatedOn.Format(time.RFC3339)}
		}
	}
	return &logical.Response{Data: map[string]any{"keys": ids, "key_info": info}}, nil
}

func (b *backend) deleteEAB(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, req.Storage.Delete(ctx, "acme/eab/"+p["id"])
}

// bindEAB checks a new-account request's externalAccountBinding: a JWS
// MACed with an unused key of this directory, whose payload is exactly
// the account's key. The key is then spent.
func (b *backend) bindEAB(ctx context.Context, c *acmeCtx, raw json.RawMessage, accountKey []byte) (string, *acmeProblem, error) {
	bad := problem(http.StatusUnauthorized, "unauthorized", "the external account binding does not verify")
	j, err := parseEABJWS(raw)
	if err != nil || j.url != c.dir.base+"new-account" {
		return "", bad, nil
	}
	e, err := loadACME[acmeEAB](ctx, c.req.Storage, "acme/eab/"+j.kid)
	if err != nil {
		return "", nil, err
	}
	if e == nil || e.Directory != c.dir.prefix {
		return "", bad, nil
	}
	payload, err := j.sig.Verify(e.Key)
	if err != nil {
		return "", bad, nil
	}
	var bound jose.JSONWebKey
	if err := bound.UnmarshalJSON(payload); err != nil {
		return "", bad, nil
	}
	var acct jose.JSONWebKey
	if err := acct.UnmarshalJSON(accountKey); err != nil {
		return "", nil, err
	}
	t1, err1 := thumbprint(&bound)
	t2, err2 := thumbprint(&acct)
	if err1 != nil || err2 != nil || t1 != t2 {
		return "", bad, nil
	}
	if err := c.req.Storage.Delete(ctx, "acme/eab/"+e.ID); err != nil {
		return "", nil, err
	}
	return e.ID, nil, nil
}

// parseEABJWS parses the inner binding JWS: flattened JSON, an HMAC
// algorithm, a kid (the EAB ID) and a url, and no nonce or jwk.
func parseEABJWS(raw []byte) (*acmeJWS, error) {
	raw = bytes.TrimSpace(raw)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || len(top) != 3 || top["protected"] == nil || top["payload"] == nil || top["signature"] == nil {
		return nil, errJWS
	}
	sig, err := jose.ParseSignedJSON(string(raw), eabAlgs)
	if err != nil || len(sig.Signatures) != 1 {
		return nil, errJWS
	}
	h := sig.Signatures[0].Protected
	j := &acmeJWS{sig: sig, alg: h.Algorithm, kid: h.KeyID, nonce: h.Nonce, jwk: h.JSONWebKey}
	j.url, _ = h.ExtraHeaders["url"].(string)
	if j.kid == "" || j.url == "" || j.nonce != "" || j.jwk != nil || strings.Contains(j.kid, "/") {
		return nil, errJWS
	}
	return j, nil
}
