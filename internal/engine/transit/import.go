package transit

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // an OAEP hash Vault's import accepts, not a signature
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"

	"github.com/keyward/keyward/internal/logical"
)

// Bring your own key, as Vault's transit does it: the engine has one
// RSA-4096 wrapping key per mount; a client wraps a fresh AES-256 key
// with it (RSA-OAEP) and the target key with that AES key (KWP, RFC
// 5649), and sends ciphertext = base64(RSA-OAEP(ephemeral) ||
// KWP(ephemeral, target)). The target is the raw key for aes256-gcm96,
// chacha20-poly1305 and hmac, and PKCS #8 DER for RSA, ECDSA and ed25519.

// wrappingKeyPath is where the mount's wrapping key lives (PKCS #1 DER,
// behind the barrier like every key).
const wrappingKeyPath = "wrapping_key"

const wrappingKeyBits = 4096

// ephemeralKeySize is the AES key the wrapped blob carries (AES-256).
const ephemeralKeySize = 32

// errUnwrap is every failure to open an import blob: which step failed is
// not told.
var errUnwrap = errors.New("could not unwrap the key: ciphertext is not a key wrapped for this mount's wrapping key")

func importRoutes(b *backend) []logical.Route {
	common := logical.Fields{nameField,
		{Name: "ciphertext", Type: logical.TypeString, Description: "base64(RSA-OAEP(ephemeral AES-256 key) || KWP(ephemeral key, target key))."},
		{Name: "hash_function", Type: logical.TypeString, Default: "SHA256", Description: "The OAEP hash: SHA1, SHA224, SHA256, SHA384 or SHA512."},
		{Name: "public_key", Type: logical.TypeString, Description: "Not supported (public-key-only imports)."},
	}
	return []logical.Route{
		{
			Pattern:  "wrapping_key",
			Ops:      map[logical.Operation]logical.Handler{logical.ReadOperation: b.readWrappingKey},
			Synopsis: "The mount's RSA-4096 public key for wrapping keys to import.",
		},
		{
			Pattern: "keys/{name}/import",
			Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.importKey},
			Fields: append(append(logical.Fields{}, common...),
				logical.Field{Name: "type", Type: logical.TypeString, Default: typeAES256GCM96, Description: "The key's type."},
				logical.Field{Name: "allow_rotation", Type: logical.TypeBool, Description: "Allow rotate (and auto-rotation) to add generated versions."},
				logical.Field{Name: "derived", Type: logical.TypeBool, Description: "Derive a key per context."},
				logical.Field{Name: "context", Type: logical.TypeString, Description: "Ignored, as in Vault."},
				logical.Field{Name: "exportable", Type: logical.TypeBool, Description: "Allow export."},
				logical.Field{Name: "allow_plaintext_backup", Type: logical.TypeBool, Description: "Allow backup."},
				logical.Field{Name: "auto_rotate_period", Type: logical.TypeDuration, Description: "Rotate this often (needs allow_rotation)."},
				logical.Field{Name: "convergent_encryption", Type: logical.TypeBool, Description: "Refused, as in Vault."},
			),
			Synopsis: "Import a wrapped key as a new key.",
		},
		{
			Pattern:  "keys/{name}/import_version",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.importVersion},
			Fields:   append(append(logical.Fields{}, common...), logical.Field{Name: "version", Type: logical.TypeInt, Description: "Not supported (public-key-only versions)."}),
			Synopsis: "Import a wrapped key as the next version of an imported key.",
		},
	}
}

// wrappingKey returns the mount's wrapping key, generating and storing it
// on first use.
func (b *backend) wrappingKey(ctx context.Context, s logical.Storage) (*rsa.PrivateKey, error) {
	b.wrapMu.Lock()
	defer b.wrapMu.Unlock()
	raw, err := s.Get(ctx, wrappingKeyPath)
	if err != nil {
		return nil, fmt.Errorf("transit: read wrapping key: %w", err)
	}
	if raw != nil {
		priv, err := x509.ParsePKCS1PrivateKey(raw)
		if err != nil {
			return nil, errors.New("transit: decode wrapping key")
		}
		return priv, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, wrappingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("transit: generate wrapping key: %w", err)
	}
	if err := s.Put(ctx, wrappingKeyPath, x509.MarshalPKCS1PrivateKey(priv)); err != nil {
		return nil, fmt.Errorf("transit: write wrapping key: %w", err)
	}
	return priv, nil
}

func (b *backend) readWrappingKey(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	priv, err := b.wrappingKey(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("transit: encode wrapping key: %w", err)
	}
	return &logical.Response{Data: map[string]any{"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}, nil
}

// oaepHash reads hash_function (default SHA256).
func oaepHash(data map[string]any) (func() hash.Hash, error) {
	s, _, err := logical.Str(data, "hash_function")
	if err != nil {
		return nil, err
	}
	switch s {
	case "", "SHA256":
		return sha256.New, nil
	case "SHA1":
		return sha1.New, nil
	case "SHA224":
		return sha256.New224, nil
	case "SHA384":
		return sha512.New384, nil
	case "SHA512":
		return sha512.New, nil
	}
	return nil, logical.BadRequest("unsupported hash_function %q: use SHA1, SHA224, SHA256, SHA384 or SHA512", s)
}

// parseImportBlob opens blob, the decoded ciphertext of an import, with
// the wrapping key priv and OAEP hash h, and returns the target key. It
// never returns part of the input in an error.
func parseImportBlob(priv *rsa.PrivateKey, h func() hash.Hash, blob []byte) ([]byte, error) {
	n := priv.Size()
	if len(blob) < n+16 {
		return nil, errUnwrap
	}
	eph, err := rsa.DecryptOAEP(h(), nil, priv, blob[:n], nil)
	if err != nil {
		return nil, errUnwrap
	}
	defer clear(eph)
	if len(eph) != ephemeralKeySize {
		return nil, errUnwrap
	}
	target, err := unwrapKWP(eph, blob[n:])
	if err != nil {
		return nil, errUnwrap
	}
	return target, nil
}

// importedVersion turns an unwrapped target key into a version of type
// typ, with a fresh HMAC key (the hmac type's key is the target itself).
// It returns the key size for hmac keys.
func importedVersion(typ string, target []byte, created int64) (keyVersion, int, error) {
	kv := keyVersion{Created: created}
	bad := func(what string) (keyVersion, int, error) {
		return keyVersion{}, 0, logical.BadRequest("the unwrapped key is not %s", what)
	}
	switch {
	case aeadType(typ):
		if len(target) != 32 {
			return bad("a 32-byte " + typ + " key")
		}
		kv.Material = append([]byte(nil), target...)
	case typ == typeHMAC:
		if len(target) < minHMACKeySize || len(target) > maxHMACKeySize {
			return bad(fmt.Sprintf("an hmac key of %d to %d bytes", minHMACKeySize, maxHMACKeySize))
		}
		kv.HMACKey = append([]byte(nil), target...)
		return kv, len(target), nil
	default:
		parsed, err := x509.ParsePKCS8PrivateKey(target)
		if err != nil {
			return bad("a PKCS #8 private key")
		}
		switch priv := parsed.(type) {
		case ed25519.PrivateKey:
			if typ != typeEd25519 {
				return bad("a " + typ + " key")
			}
			kv.Material = append([]byte(nil), priv.Seed()...)
		case *ecdsa.PrivateKey:
			if curves[typ] == nil || priv.Curve != curves[typ] {
				return bad("a " + typ + " key")
			}
			if kv.Material, err = priv.Bytes(); err != nil {
				return bad("a " + typ + " key")
			}
		case *rsa.PrivateKey:
			if rsaBits[typ] == 0 || priv.N.BitLen() != rsaBits[typ] {
				return bad("a " + typ + " key")
			}
			kv.Material = x509.MarshalPKCS1PrivateKey(priv)
		default:
			return bad("a key of a served type")
		}
	}
	hk, err := newHMACKey(32)
	if err != nil {
		return keyVersion{}, 0, err
	}
	kv.HMACKey = hk
	return kv, 0, nil
}

// unwrapRequest reads ciphertext and hash_function and opens the blob.
func (b *backend) unwrapRequest(ctx context.Context, req *logical.Request) ([]byte, error) {
	if err := logical.NotSupported(req.Data, "public_key"); err != nil {
		return nil, err
	}
	h, err := oaepHash(req.Data)
	if err != nil {
		return nil, err
	}
	s, _, err := logical.Str(req.Data, "ciphertext")
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, logical.BadRequest("missing ciphertext")
	}
	if len(s) > 4*maxKWPInput {
		return nil, logical.BadRequest("ciphertext too long")
	}
	blob, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, logical.BadRequest("field \"ciphertext\": could not decode base64")
	}
	priv, err := b.wrappingKey(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	target, err := parseImportBlob(priv, h, blob)
	if err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	return target, nil
}

func (b *backend) importKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("keys/{name}/import").Unknown(req.Data); err != nil {
		return nil, err
	}
	if v, _, err := logical.Bool(req.Data, "convergent_encryption"); err != nil || v {
		return nil, logical.BadRequest("convergent encryption is not supported for imported keys")
	}
	typ, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		typ = typeAES256GCM96
	}
	if err := validType(typ); err != nil {
		return nil, err
	}
	allowRotation, _, err := logical.Bool(req.Data, "allow_rotation")
	if err != nil {
		return nil, err
	}
	flags := map[string]any{}
	for _, f := range []string{"exportable", "allow_plaintext_backup", "derived", "auto_rotate_period"} {
		if v, ok := req.Data[f]; ok {
			flags[f] = v
		}
	}
	f, err := readKeyFlags(flags, typ)
	if err != nil {
		return nil, err
	}
	if f.autoRotate != 0 && !allowRotation {
		return nil, logical.BadRequest("auto_rotate_period needs allow_rotation on an imported key")
	}
	name := p["name"]
	defer b.lock(name)()
	if k, err := loadKey(ctx, req.Storage, name); err != nil {
		return nil, err
	} else if k != nil {
		return nil, logical.BadRequest("key %q already exists: use keys/%s/import_version to add a version", name, name)
	}
	target, err := b.unwrapRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer clear(target)
	kv, size, err := importedVersion(typ, target, b.now().Unix())
	if err != nil {
		return nil, err
	}
	k := &key{Name: name, Type: typ, MinDecryptionVersion: 1, Versions: map[string]keyVersion{}, Imported: true, AllowRotation: allowRotation}
	f.apply(k)
	k.KeySize = size
	k.addVersion(kv)
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	b.poke()
	return nil, nil
}

func (b *backend) importVersion(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("keys/{name}/import_version").Unknown(req.Data); err != nil {
		return nil, err
	}
	if err := logical.NotSupported(req.Data, "version"); err != nil {
		return nil, err
	}
	name := p["name"]
	defer b.lock(name)()
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("key %q not found", name)
	}
	if !k.Imported {
		return nil, logical.BadRequest("key %q was not imported: import_version adds versions only to imported keys", name)
	}
	target, err := b.unwrapRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer clear(target)
	kv, size, err := importedVersion(k.Type, target, b.now().Unix())
	if err != nil {
		return nil, err
	}
	if k.Type == typeHMAC && size != k.KeySize {
		return nil, logical.BadRequest("the unwrapped hmac key is not key_size (%d) bytes", k.KeySize)
	}
	k.addVersion(kv)
	if err := storeKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return nil, nil
}
