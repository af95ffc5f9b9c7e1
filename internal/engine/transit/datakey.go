package transit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/keyward/keyward/internal/logical"
)

func datakeyRoute(b *backend) logical.Route {
	return logical.Route{
		Pattern: "datakey/{kind}/{name}",
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.datakey},
		Fields: logical.Fields{nameField,
			{Name: "kind", InPath: true, Description: "plaintext (the key is returned too) or wrapped (only its ciphertext)."},
			{Name: "bits", Type: logical.TypeInt, Default: 256, Description: "128, 256 or 512."},
			{Name: "key_version", Type: logical.TypeInt, Description: "The version to encrypt with; 0 means the latest."},
			{Name: "context", Type: logical.TypeString, Description: "Base64 key derivation context (required for derived keys)."},
			{Name: "nonce", Type: logical.TypeString, Description: "Refused: convergent encryption derives its nonce."},
		},
		Synopsis:    "Generate a random data key, returned encrypted under the named key.",
		Description: "The ciphertext decrypts (decrypt/:name) to the base64 of the data key.",
	}
}

func (b *backend) datakey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("datakey/{kind}/{name}").Unknown(req.Data); err != nil {
		return nil, err
	}
	if err := refuseNonce(req.Data); err != nil {
		return nil, err
	}
	keyCtx, _, err := bytesField(req.Data, "context")
	if err != nil {
		return nil, err
	}
	kind := p["kind"]
	if kind != "plaintext" && kind != "wrapped" {
		return nil, logical.BadRequest("invalid path: use datakey/plaintext/:name or datakey/wrapped/:name")
	}
	bits, _, err := logical.Int(req.Data, "bits")
	if err != nil {
		return nil, err
	}
	switch bits {
	case 0:
		bits = 256
	case 128, 256, 512:
	default:
		return nil, logical.BadRequest("invalid bits: use 128, 256 or 512")
	}
	version, _, err := logical.Int(req.Data, "key_version")
	if err != nil {
		return nil, err
	}
	k, err := loadKey(ctx, req.Storage, p["name"])
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("encryption key %q not found", p["name"])
	}
	dk := make([]byte, bits/8)
	if _, err := rand.Read(dk); err != nil {
		return nil, fmt.Errorf("transit: generate data key: %w", err)
	}
	defer clear(dk)
	ct, v, err := k.encrypt(version, dk, encOpts{context: keyCtx})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ciphertext": ct, "key_version": v}
	if kind == "plaintext" {
		out["plaintext"] = base64.StdEncoding.EncodeToString(dk)
	}
	return &logical.Response{Data: out}, nil
}
