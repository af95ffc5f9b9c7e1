package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// TransitOptions are the optional fields of a transit request. A zero
// field is not sent, so the server's default applies.
type TransitOptions struct {
	// Context is the key derivation context, already base64 as the API
	// takes it.
	Context string
	// KeyVersion picks the key version to encrypt or sign with (0: the
	// latest, or the key's min_encryption_version).
	KeyVersion int
	// HashAlgorithm is sign and verify's hash (sha2-256, ...).
	HashAlgorithm string
	// SignatureAlgorithm is the RSA signature scheme (pss, pkcs1v15).
	SignatureAlgorithm string
	// MarshalingAlgorithm is how an ECDSA signature is encoded: asn1 or jws.
	MarshalingAlgorithm string
	// Prehashed says the input to sign or verify is already its digest.
	Prehashed bool
}

func (o TransitOptions) body(data map[string]any) map[string]any {
	if o.Context != "" {
		data["context"] = o.Context
	}
	if o.KeyVersion != 0 {
		data["key_version"] = o.KeyVersion
	}
	if o.HashAlgorithm != "" {
		data["hash_algorithm"] = o.HashAlgorithm
	}
	if o.SignatureAlgorithm != "" {
		data["signature_algorithm"] = o.SignatureAlgorithm
	}
	if o.MarshalingAlgorithm != "" {
		data["marshaling_algorithm"] = o.MarshalingAlgorithm
	}
	if o.Prehashed {
		data["prehashed"] = true
	}
	return data
}

func transitPath(mount, op, key string) (string, error) {
	mount = strings.Trim(mount, "/")
	if mount == "" {
		return "", fmt.Errorf("api: transit: empty mount path")
	}
	if key == "" || strings.Contains(key, "/") {
		return "", fmt.Errorf("api: transit: key name %q must be one non-empty path segment", key)
	}
	return mount + "/" + op + "/" + key, nil
}

// transitField sends data to mount/op/key and returns the string field of
// the answer.
func (c *Client) transitField(ctx context.Context, mount, op, key string, data map[string]any, field string) (string, error) {
	p, err := transitPath(mount, op, key)
	if err != nil {
		return "", err
	}
	s, err := c.Write(ctx, p, data)
	if err != nil {
		return "", err
	}
	if s == nil {
		return "", fmt.Errorf("PUT %s: empty response", p)
	}
	v, ok := s.Data[field].(string)
	if !ok {
		return "", fmt.Errorf("PUT %s: response has no %s", p, field)
	}
	return v, nil
}

// TransitEncrypt encrypts plaintext with the transit key at mount and
// returns the ciphertext ("vault:v1:..."). The plaintext is sent base64,
// so any bytes are safe.
func (c *Client) TransitEncrypt(ctx context.Context, mount, key string, plaintext []byte, o TransitOptions) (string, error) {
	data := o.body(map[string]any{"plaintext": base64.StdEncoding.EncodeToString(plaintext)})
	return c.transitField(ctx, mount, "encrypt", key, data, "ciphertext")
}

// TransitDecrypt decrypts ciphertext with the transit key at mount and
// returns the plaintext bytes. The caller owns the returned slice and
// should treat it as secret.
func (c *Client) TransitDecrypt(ctx context.Context, mount, key, ciphertext string, o TransitOptions) ([]byte, error) {
	data := o.body(map[string]any{"ciphertext": ciphertext})
	b64, err := c.transitField(ctx, mount, "decrypt", key, data, "plaintext")
	if err != nil {
		return nil, err
	}
	pt, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: plaintext in the response is not base64", key)
	}
	return pt, nil
}

// TransitSign signs input (or, with Prehashed, the digest input) with the
// transit key at mount and returns the signature ("vault:v1:...").
func (c *Client) TransitSign(ctx context.Context, mount, key string, input []byte, o TransitOptions) (string, error) {
	data := o.body(map[string]any{"input": base64.StdEncoding.EncodeToString(input)})
	return c.transitField(ctx, mount, "sign", key, data, "signature")
}

// TransitVerify checks signature over input with the transit key at mount.
// It returns false, nil for a well-formed signature that does not match,
// and an error when the server refuses the request (a malformed signature,
// a version out of range, a missing key).
func (c *Client) TransitVerify(ctx context.Context, mount, key string, input []byte, signature string, o TransitOptions) (bool, error) {
	p, err := transitPath(mount, "verify", key)
	if err != nil {
		return false, err
	}
	data := o.body(map[string]any{"input": base64.StdEncoding.EncodeToString(input), "signature": signature})
	s, err := c.Write(ctx, p, data)
	if err != nil {
		return false, err
	}
	if s == nil {
		return false, fmt.Errorf("PUT %s: empty response", p)
	}
	valid, ok := s.Data["valid"].(bool)
	if !ok {
		return false, fmt.Errorf("PUT %s: response has no valid", p)
	}
	return valid, nil
}
