package transit

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strconv"

	"github.com/keyward/keyward/internal/logical"
)

// Export kinds, as Vault names them.
const (
	exportEncryption = "encryption-key"
	exportSigning    = "signing-key"
	exportHMAC       = "hmac-key"
	exportPublic     = "public-key"
)

func exportRoute(pattern string, b *backend) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.ReadOperation: b.export},
		Fields: logical.Fields{nameField,
			{Name: "kind", InPath: true, Description: "encryption-key, signing-key, hmac-key or public-key."},
			{Name: "version", InPath: true, Description: "A version number or latest; all readable versions without it."},
		},
		Synopsis:    "Export a key's material (exportable keys) or public keys.",
		Description: "Private material needs exportable=true on the key; public-key needs nothing. Versions below min_decryption_version are not exported.",
	}
}

func (b *backend) export(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	kind, name := p["kind"], p["name"]
	switch kind {
	case exportEncryption, exportSigning, exportHMAC, exportPublic:
	default:
		return nil, logical.BadRequest("invalid export type %q: use encryption-key, signing-key, hmac-key or public-key", kind)
	}
	var k *key
	var err error
	if kind == exportHMAC {
		k, err = b.hmacKey(ctx, req, name)
	} else if k, err = loadKey(ctx, req.Storage, name); err == nil && k == nil {
		err = logical.BadRequest("key %q not found", name)
	}
	if err != nil {
		return nil, err
	}
	if kind != exportPublic && !k.Exportable {
		return nil, logical.BadRequest("private key material of key %q is not exportable", name)
	}
	switch {
	case kind == exportEncryption && !canEncrypt(k.Type):
		return nil, logical.BadRequest("encryption-key export: key type %s does not support encryption", k.Type)
	case kind == exportSigning && !signing(k.Type):
		return nil, logical.BadRequest("signing-key export: key type %s does not support signing", k.Type)
	case kind == exportPublic && !signing(k.Type):
		return nil, logical.BadRequest("public-key export: key type %s has no public key", k.Type)
	}
	versions := []int{}
	if s := p["version"]; s != "" {
		v := k.LatestVersion
		if s != "latest" {
			if v, err = strconv.Atoi(s); err != nil || v < 1 {
				return nil, logical.BadRequest("invalid version: use a number or latest")
			}
		}
		if _, err := k.version(v, "cannot export"); err != nil {
			return nil, err
		}
		versions = append(versions, v)
	} else {
		for v := k.MinDecryptionVersion; v <= k.LatestVersion; v++ {
			if _, ok := k.Versions[strconv.Itoa(v)]; ok {
				versions = append(versions, v)
			}
		}
	}
	keys := map[string]any{}
	for _, v := range versions {
		s, err := k.exported(kind, k.Versions[strconv.Itoa(v)])
		if err != nil {
			return nil, err
		}
		keys[strconv.Itoa(v)] = s
	}
	return &logical.Response{Data: map[string]any{"name": k.Name, "type": k.Type, "keys": keys}}, nil
}

// exported renders one version as Vault's export does: base64 of the raw
// key for symmetric and HMAC keys and for ed25519 (its 64-byte private
// key), PEM for the others (RSA PRIVATE KEY, EC PRIVATE KEY, PUBLIC KEY;
// ed25519 public keys as base64).
func (k *key) exported(kind string, kv keyVersion) (string, error) {
	switch {
	case kind == exportHMAC:
		return base64.StdEncoding.EncodeToString(kv.HMACKey), nil
	case kind == exportPublic:
		pub, _, err := k.publicKey(kv)
		return pub, err
	case aeadType(k.Type):
		return base64.StdEncoding.EncodeToString(kv.Material), nil
	}
	s, err := k.signer(kv)
	if err != nil {
		return "", err
	}
	switch priv := s.(type) {
	case ed25519.PrivateKey:
		return base64.StdEncoding.EncodeToString(priv), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(priv)
		if err != nil {
			return "", fmt.Errorf("transit: key %q: encode", k.Name)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
	case *rsa.PrivateKey:
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})), nil
	}
	return "", fmt.Errorf("transit: key %q: nothing to export", k.Name)
}
