package transit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Key types, as Vault names them.
const (
	typeAES256GCM96      = "aes256-gcm96"
	typeChaCha20Poly1305 = "chacha20-poly1305"
	typeEd25519          = "ed25519"
	typeECDSAP256        = "ecdsa-p256"
	typeECDSAP384        = "ecdsa-p384"
	typeRSA2048          = "rsa-2048"
	typeRSA3072          = "rsa-3072"
	typeRSA4096          = "rsa-4096"
	typeHMAC             = "hmac"
)

// HMAC key sizes (bytes) of the hmac type, as Vault bounds them.
const (
	defaultHMACKeySize = 32
	minHMACKeySize     = 32
	maxHMACKeySize     = 512
)

// rsaBits is the modulus size of each RSA type.
var rsaBits = map[string]int{typeRSA2048: 2048, typeRSA3072: 3072, typeRSA4096: 4096}

// curves is the curve of each ECDSA type.
var curves = map[string]elliptic.Curve{typeECDSAP256: elliptic.P256(), typeECDSAP384: elliptic.P384()}

// aeadType reports whether t is a symmetric encryption type.
func aeadType(t string) bool { return t == typeAES256GCM96 || t == typeChaCha20Poly1305 }

// isRSA reports whether t is an RSA type.
func isRSA(t string) bool { return rsaBits[t] != 0 }

// canEncrypt reports whether keys of type t encrypt and decrypt.
func canEncrypt(t string) bool { return aeadType(t) || isRSA(t) }

// signing reports whether t is a type that signs.
func signing(t string) bool { return t == typeEd25519 || curves[t] != nil || isRSA(t) }

// validType reports whether t is a key type this engine serves.
func validType(t string) error {
	switch {
	case aeadType(t), signing(t), t == typeHMAC:
		return nil
	}
	switch t {
	case "ecdsa-p521", "aes128-gcm96", "managed_key", "aes128-cmac", "aes256-cmac":
		return logical.BadRequest("key type %q is not supported by Keyward yet", t)
	}
	return logical.BadRequest("unknown key type %q", t)
}

// newMaterial returns fresh material for type t from crypto/rand: 32 key
// bytes for the AEADs, the seed for ed25519, the private scalar for ECDSA,
// PKCS#1 DER for RSA. The hmac type has no material (its key is the
// version's HMAC key).
func newMaterial(t string) ([]byte, error) {
	switch {
	case t == typeHMAC:
		return nil, nil
	case curves[t] != nil:
		priv, err := ecdsa.GenerateKey(curves[t], rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("transit: generate key: %w", err)
		}
		m, err := priv.Bytes()
		if err != nil {
			return nil, fmt.Errorf("transit: generate key: %w", err)
		}
		return m, nil
	case isRSA(t):
		priv, err := rsa.GenerateKey(rand.Reader, rsaBits[t])
		if err != nil {
			return nil, fmt.Errorf("transit: generate key: %w", err)
		}
		return x509.MarshalPKCS1PrivateKey(priv), nil
	}
	m := make([]byte, 32)
	if _, err := rand.Read(m); err != nil {
		return nil, fmt.Errorf("transit: generate key: %w", err)
	}
	return m, nil
}

// checkMaterial reports whether m is well-formed material for type t (a
// restored or imported key). The error never shows material.
func checkMaterial(t string, m []byte) error {
	switch {
	case aeadType(t), t == typeEd25519:
		if len(m) != 32 {
			return fmt.Errorf("%s material must be 32 bytes", t)
		}
	case curves[t] != nil:
		if _, err := ecdsa.ParseRawPrivateKey(curves[t], m); err != nil {
			return fmt.Errorf("malformed %s private key", t)
		}
	case isRSA(t):
		priv, err := x509.ParsePKCS1PrivateKey(m)
		if err != nil || priv.N.BitLen() != rsaBits[t] {
			return fmt.Errorf("malformed %s private key", t)
		}
	case t == typeHMAC:
		if len(m) != 0 {
			return fmt.Errorf("hmac keys keep their key as the hmac key")
		}
	default:
		return fmt.Errorf("unknown key type")
	}
	return nil
}

// signer returns version kv's private key: ed25519.PrivateKey,
// *ecdsa.PrivateKey or *rsa.PrivateKey.
func (k *key) signer(kv keyVersion) (crypto.Signer, error) {
	switch {
	case k.Type == typeEd25519:
		if len(kv.Material) != ed25519.SeedSize {
			return nil, fmt.Errorf("transit: key %q: bad ed25519 seed", k.Name)
		}
		return ed25519.NewKeyFromSeed(kv.Material), nil
	case curves[k.Type] != nil:
		priv, err := ecdsa.ParseRawPrivateKey(curves[k.Type], kv.Material)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: bad ecdsa key", k.Name)
		}
		return priv, nil
	case isRSA(k.Type):
		priv, err := x509.ParsePKCS1PrivateKey(kv.Material)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: bad rsa key", k.Name)
		}
		return priv, nil
	}
	return nil, logical.BadRequest("key type %s has no private key for signing", k.Type)
}

// publicKey renders version kv's public key as Vault's read does: the
// base64 of the raw key for ed25519, PEM (PKIX) for ECDSA and RSA; and
// the name Vault gives it (ed25519, P-256, P-384, rsa-2048...).
func (k *key) publicKey(kv keyVersion) (string, string, error) {
	s, err := k.signer(kv)
	if err != nil {
		return "", "", err
	}
	if pub, ok := s.Public().(ed25519.PublicKey); ok {
		return base64.StdEncoding.EncodeToString(pub), "ed25519", nil
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return "", "", fmt.Errorf("transit: key %q: %w", k.Name, err)
	}
	name := k.Type
	if c := curves[k.Type]; c != nil {
		name = c.Params().Name
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), name, nil
}

// versionInfo is one version's entry under keys in a key's read: the
// creation time (Unix seconds) for symmetric keys, as in Vault, and for
// asymmetric keys the public key too.
func (k *key) versionInfo(kv keyVersion) (any, bool) {
	if !signing(k.Type) {
		return kv.Created, true
	}
	pub, name, err := k.publicKey(kv)
	if err != nil {
		return nil, false // unreadable material: left out rather than guessed
	}
	return map[string]any{
		"creation_time": time.Unix(kv.Created, 0).UTC().Format(time.RFC3339Nano),
		"name":          name,
		"public_key":    pub,
	}, true
}
