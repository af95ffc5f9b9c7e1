package transit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"golang.org/x/crypto/chacha20poly1305"
)

// Key types served by this increment.
const (
	typeAES256GCM96      = "aes256-gcm96"
	typeChaCha20Poly1305 = "chacha20-poly1305"
	typeEd25519          = "ed25519"
	typeECDSAP256        = "ecdsa-p256"
)

// signing reports whether t is a signing key type (no encryption).
func signing(t string) bool { return t == typeEd25519 || t == typeECDSAP256 }

// keyPrefix is where key records live in the mount's (barrier-encrypted)
// storage.
const keyPrefix = "policy/"

// keyVersion is one version's material. Material is a secret: it is only
// ever marshalled into storage.
type keyVersion struct {
	Material []byte `json:"material"`
	// HMACKey is the version's separate HMAC key; versions stored before
	// hmac was served get one on first hmac use (ensureHMACKeys).
	HMACKey []byte `json:"hmac_key,omitempty"`
	Created int64  `json:"created"`
}

// key is a named transit key with all its versions, as stored.
type key struct {
	Name                 string                `json:"name"`
	Type                 string                `json:"type"`
	LatestVersion        int                   `json:"latest_version"`
	MinDecryptionVersion int                   `json:"min_decryption_version"`
	MinEncryptionVersion int                   `json:"min_encryption_version"`
	DeletionAllowed      bool                  `json:"deletion_allowed"`
	Exportable           bool                  `json:"exportable"`
	AllowPlaintextBackup bool                  `json:"allow_plaintext_backup"`
	Versions             map[string]keyVersion `json:"versions"`
}

// validType reports whether t is a key type this engine serves.
func validType(t string) error {
	switch t {
	case typeAES256GCM96, typeChaCha20Poly1305, typeEd25519, typeECDSAP256:
		return nil
	case "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096", "hmac", "aes128-gcm96", "managed_key":
		return logical.BadRequest("key type %q is not supported by Keyward yet", t)
	}
	return logical.BadRequest("unknown key type %q", t)
}

// newKey returns a key with its first version.
func newKey(name, typ string, now time.Time) (*key, error) {
	k := &key{Name: name, Type: typ, MinDecryptionVersion: 1, Versions: map[string]keyVersion{}}
	if err := k.rotate(now); err != nil {
		return nil, err
	}
	return k, nil
}

// rotate adds a version with fresh material from crypto/rand: 32 key
// bytes for the AEADs, the seed for ed25519, the private scalar for
// ecdsa-p256.
func (k *key) rotate(now time.Time) error {
	var m []byte
	switch k.Type {
	case typeECDSAP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("transit: generate key: %w", err)
		}
		if m, err = priv.Bytes(); err != nil {
			return fmt.Errorf("transit: generate key: %w", err)
		}
	default:
		m = make([]byte, 32)
		if _, err := rand.Read(m); err != nil {
			return fmt.Errorf("transit: generate key: %w", err)
		}
	}
	hk, err := newHMACKey()
	if err != nil {
		return err
	}
	k.LatestVersion++
	k.Versions[strconv.Itoa(k.LatestVersion)] = keyVersion{Material: m, HMACKey: hk, Created: now.Unix()}
	return nil
}

// newHMACKey returns a fresh 32-byte HMAC key from crypto/rand.
func newHMACKey() ([]byte, error) {
	hk := make([]byte, 32)
	if _, err := rand.Read(hk); err != nil {
		return nil, fmt.Errorf("transit: generate hmac key: %w", err)
	}
	return hk, nil
}

// ensureHMACKeys gives every version without an HMAC key a fresh one and
// reports whether it added any (so the caller stores the key).
func (k *key) ensureHMACKeys() (bool, error) {
	added := false
	for name, kv := range k.Versions {
		if len(kv.HMACKey) != 0 {
			continue
		}
		hk, err := newHMACKey()
		if err != nil {
			return false, err
		}
		kv.HMACKey = hk
		k.Versions[name] = kv
		added = true
	}
	return added, nil
}

// aead returns the cipher of version v.
func (k *key) aead(v int) (cipher.AEAD, error) {
	kv, ok := k.Versions[strconv.Itoa(v)]
	if !ok {
		return nil, fmt.Errorf("transit: key %q has no version %d", k.Name, v)
	}
	switch k.Type {
	case typeAES256GCM96:
		b, err := aes.NewCipher(kv.Material)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: %w", k.Name, err)
		}
		return cipher.NewGCM(b)
	case typeChaCha20Poly1305:
		return chacha20poly1305.New(kv.Material)
	}
	return nil, fmt.Errorf("transit: key %q has unsupported type %q", k.Name, k.Type)
}

// encrypt seals plaintext under version v (0: the latest) and returns the
// ciphertext and the version used.
func (k *key) encrypt(v int, plaintext, aad []byte) (string, int, error) {
	if signing(k.Type) {
		return "", 0, logical.BadRequest("key type %s does not support encryption", k.Type)
	}
	switch {
	case v == 0:
		v = k.LatestVersion
	case v < 0 || v > k.LatestVersion:
		return "", 0, logical.BadRequest("invalid key version %d", v)
	}
	if k.MinEncryptionVersion > 0 && v < k.MinEncryptionVersion {
		return "", 0, logical.BadRequest("requested key version %d is below the key's min_encryption_version", v)
	}
	a, err := k.aead(v)
	if err != nil {
		return "", 0, err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", 0, fmt.Errorf("transit: generate nonce: %w", err)
	}
	return formatCiphertext(v, a.Seal(nonce, nonce, plaintext, aad)), v, nil
}

// decrypt opens a ciphertext. A version below min_decryption_version never
// decrypts.
func (k *key) decrypt(ciphertext string, aad []byte) ([]byte, int, error) {
	if signing(k.Type) {
		return nil, 0, logical.BadRequest("key type %s does not support decryption", k.Type)
	}
	v, blob, err := parseCiphertext(ciphertext)
	if err != nil {
		return nil, 0, err
	}
	if v < k.MinDecryptionVersion {
		return nil, 0, logical.BadRequest("ciphertext version %d is disallowed by policy (below min_decryption_version)", v)
	}
	if v > k.LatestVersion {
		return nil, 0, logical.BadRequest("invalid ciphertext: key version %d does not exist", v)
	}
	a, err := k.aead(v)
	if err != nil {
		return nil, 0, err
	}
	if len(blob) < a.NonceSize()+a.Overhead() {
		return nil, 0, logical.BadRequest("invalid ciphertext: too short")
	}
	pt, err := a.Open(nil, blob[:a.NonceSize()], blob[a.NonceSize():], aad)
	if err != nil {
		return nil, 0, logical.BadRequest("invalid ciphertext: message authentication failed")
	}
	return pt, v, nil
}

// info is the key's read shape, as Vault returns it. Versions below
// min_decryption_version are left out of keys, as Vault does.
func (k *key) info() map[string]any {
	versions := map[string]any{}
	for v := k.MinDecryptionVersion; v <= k.LatestVersion; v++ {
		kv, ok := k.Versions[strconv.Itoa(v)]
		if !ok {
			continue
		}
		if !signing(k.Type) {
			versions[strconv.Itoa(v)] = kv.Created
			continue
		}
		pub, curve, err := k.publicKey(kv)
		if err != nil {
			continue // unreadable material: left out rather than guessed
		}
		versions[strconv.Itoa(v)] = map[string]any{
			"creation_time": time.Unix(kv.Created, 0).UTC().Format(time.RFC3339Nano),
			"name":          curve,
			"public_key":    pub,
		}
	}
	return map[string]any{
		"name":                   k.Name,
		"type":                   k.Type,
		"keys":                   versions,
		"latest_version":         k.LatestVersion,
		"min_available_version":  0,
		"min_decryption_version": k.MinDecryptionVersion,
		"min_encryption_version": k.MinEncryptionVersion,
		"deletion_allowed":       k.DeletionAllowed,
		"exportable":             k.Exportable,
		"allow_plaintext_backup": k.AllowPlaintextBackup,
		"derived":                false,
		"supports_encryption":    !signing(k.Type),
		"supports_decryption":    !signing(k.Type),
		"supports_derivation":    false,
		"supports_signing":       signing(k.Type),
		"imported_key":           false,
		"auto_rotate_period":     0,
	}
}

// loadKey reads key name; a nil key means absent.
func loadKey(ctx context.Context, s logical.Storage, name string) (*key, error) {
	raw, err := s.Get(ctx, keyPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("transit: read key %q: %w", name, err)
	}
	if raw == nil {
		return nil, nil
	}
	var k key
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("transit: decode key %q", name)
	}
	if k.Versions == nil {
		k.Versions = map[string]keyVersion{}
	}
	return &k, nil
}

// storeKey writes k.
func storeKey(ctx context.Context, s logical.Storage, k *key) error {
	raw, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("transit: encode key %q", k.Name)
	}
	if err := s.Put(ctx, keyPrefix+k.Name, raw); err != nil {
		return fmt.Errorf("transit: write key %q: %w", k.Name, err)
	}
	return nil
}
