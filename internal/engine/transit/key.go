package transit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"golang.org/x/crypto/chacha20poly1305"
)

// keyPrefix is where key records live in the mount's (barrier-encrypted)
// storage.
const keyPrefix = "policy/"

// keyVersion is one version's material. Material is a secret: it is only
// ever marshalled into storage (and into an export or a backup the key's
// flags allow).
type keyVersion struct {
	Material []byte `json:"material,omitempty"`
	// HMACKey is the version's separate HMAC key (the key itself for the
	// hmac type); versions stored before hmac was served get one on first
	// hmac use (ensureHMACKeys).
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
	MinAvailableVersion  int                   `json:"min_available_version,omitempty"`
	DeletionAllowed      bool                  `json:"deletion_allowed"`
	Exportable           bool                  `json:"exportable"`
	AllowPlaintextBackup bool                  `json:"allow_plaintext_backup"`
	Derived              bool                  `json:"derived,omitempty"`
	Convergent           bool                  `json:"convergent_encryption,omitempty"`
	AutoRotatePeriod     int64                 `json:"auto_rotate_period,omitempty"` // seconds
	KeySize              int                   `json:"key_size,omitempty"`           // hmac type, bytes
	Imported             bool                  `json:"imported,omitempty"`
	AllowRotation        bool                  `json:"allow_rotation,omitempty"` // imported keys
	Versions             map[string]keyVersion `json:"versions"`
}

// newKey returns a key with its first version.
func newKey(name, typ string, now time.Time) (*key, error) {
	k := &key{Name: name, Type: typ, MinDecryptionVersion: 1, Versions: map[string]keyVersion{}}
	if typ == typeHMAC {
		k.KeySize = defaultHMACKeySize
	}
	if err := k.rotate(now); err != nil {
		return nil, err
	}
	return k, nil
}

// rotate adds a version with fresh material from crypto/rand (newMaterial)
// and a fresh HMAC key.
func (k *key) rotate(now time.Time) error {
	m, err := newMaterial(k.Type)
	if err != nil {
		return err
	}
	size := 32
	if k.Type == typeHMAC && k.KeySize > 0 {
		size = k.KeySize
	}
	hk, err := newHMACKey(size)
	if err != nil {
		return err
	}
	k.addVersion(keyVersion{Material: m, HMACKey: hk, Created: now.Unix()})
	return nil
}

// addVersion appends kv as the latest version.
func (k *key) addVersion(kv keyVersion) {
	k.LatestVersion++
	k.Versions[strconv.Itoa(k.LatestVersion)] = kv
}

// latestCreated is the creation time of the latest version.
func (k *key) latestCreated() time.Time {
	return time.Unix(k.Versions[strconv.Itoa(k.LatestVersion)].Created, 0)
}

// newHMACKey returns a fresh HMAC key of n bytes from crypto/rand.
func newHMACKey(n int) ([]byte, error) {
	hk := make([]byte, n)
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
		hk, err := newHMACKey(32)
		if err != nil {
			return false, err
		}
		kv.HMACKey = hk
		k.Versions[name] = kv
		added = true
	}
	return added, nil
}

// version returns version v if it may be used for reading (decrypt,
// verify): at least min_decryption_version and still stored. what words
// the error ("cannot decrypt").
func (k *key) version(v int, what string) (keyVersion, error) {
	if v < k.MinDecryptionVersion {
		return keyVersion{}, logical.BadRequest("%s: key version %d is below the key's min_decryption_version", what, v)
	}
	kv, ok := k.Versions[strconv.Itoa(v)]
	if !ok || v > k.LatestVersion {
		return keyVersion{}, logical.BadRequest("%s: key version %d does not exist", what, v)
	}
	return kv, nil
}

// HKDF info prefixes: a derived key's AEAD key and its convergent-nonce
// key come from the same base key under distinct labels, so no context
// can make one equal the other.
const (
	infoAEAD  = "keyward transit derived aead key\x00"
	infoNonce = "keyward transit convergent nonce key\x00"
)

// aead returns the cipher of version kv; for a derived key, of the key
// HKDF-SHA256 derives from it for context.
func (k *key) aead(kv keyVersion, context []byte) (cipher.AEAD, error) {
	m := kv.Material
	if k.Derived {
		d, err := hkdf.Key(sha256.New, kv.Material, nil, infoAEAD+string(context), 32)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: derive: %w", k.Name, err)
		}
		defer clear(d)
		m = d
	}
	switch k.Type {
	case typeAES256GCM96:
		b, err := aes.NewCipher(m)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: bad aes key", k.Name)
		}
		return cipher.NewGCM(b)
	case typeChaCha20Poly1305:
		return chacha20poly1305.New(m)
	}
	return nil, fmt.Errorf("transit: key %q has unsupported type %q", k.Name, k.Type)
}

// convergentNonce is the nonce of a convergent encryption: HMAC-SHA256,
// under a key derived from the version and context, of the associated
// data (length-prefixed) and the plaintext, truncated to size. The same
// input gives the same ciphertext; any difference in plaintext, associated
// data or context gives another nonce, so a nonce never repeats under one
// key with different messages.
func (k *key) convergentNonce(kv keyVersion, context, plaintext, aad []byte, size int) ([]byte, error) {
	nk, err := hkdf.Key(sha256.New, kv.Material, nil, infoNonce+string(context), 32)
	if err != nil {
		return nil, fmt.Errorf("transit: key %q: derive: %w", k.Name, err)
	}
	defer clear(nk)
	m := hmac.New(sha256.New, nk)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(aad)))
	m.Write(n[:])
	m.Write(aad)
	m.Write(plaintext)
	return m.Sum(nil)[:size], nil
}

// encOpts are the per-item inputs of an encryption beside the plaintext.
type encOpts struct {
	aad     []byte
	context []byte
}

// check enforces the derived-key rules: a derived key needs a context.
func (k *key) checkContext(o encOpts) error {
	if k.Derived && len(o.context) == 0 {
		return logical.BadRequest("missing 'context' for key derivation: the key was created as a derived key, so every request needs a context")
	}
	if isRSA(k.Type) && len(o.aad) != 0 {
		return logical.BadRequest("associated_data is not supported for key type %s", k.Type)
	}
	return nil
}

// encrypt seals plaintext under version v (0: the latest) and returns the
// ciphertext and the version used.
func (k *key) encrypt(v int, plaintext []byte, o encOpts) (string, int, error) {
	if !canEncrypt(k.Type) {
		return "", 0, logical.BadRequest("key type %s does not support encryption", k.Type)
	}
	if err := k.checkContext(o); err != nil {
		return "", 0, err
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
	if v < k.MinDecryptionVersion {
		return "", 0, logical.BadRequest("requested key version %d is below the key's min_decryption_version", v)
	}
	kv, ok := k.Versions[strconv.Itoa(v)]
	if !ok {
		return "", 0, logical.BadRequest("key version %d does not exist", v)
	}
	if isRSA(k.Type) {
		priv, err := x509.ParsePKCS1PrivateKey(kv.Material)
		if err != nil {
			return "", 0, fmt.Errorf("transit: key %q: bad rsa key", k.Name)
		}
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, plaintext, nil)
		if err != nil {
			return "", 0, logical.BadRequest("cannot encrypt with %s: plaintext too long", k.Type)
		}
		return formatCiphertext(v, ct), v, nil
	}
	a, err := k.aead(kv, o.context)
	if err != nil {
		return "", 0, err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	if k.Convergent {
		n, err := k.convergentNonce(kv, o.context, plaintext, o.aad, a.NonceSize())
		if err != nil {
			return "", 0, err
		}
		copy(nonce, n)
	} else if _, err := rand.Read(nonce); err != nil {
		return "", 0, fmt.Errorf("transit: generate nonce: %w", err)
	}
	return formatCiphertext(v, a.Seal(nonce, nonce, plaintext, o.aad)), v, nil
}

// decrypt opens a ciphertext. A version below min_decryption_version, or
// trimmed, never decrypts.
func (k *key) decrypt(ciphertext string, o encOpts) ([]byte, int, error) {
	if !canEncrypt(k.Type) {
		return nil, 0, logical.BadRequest("key type %s does not support decryption", k.Type)
	}
	if err := k.checkContext(o); err != nil {
		return nil, 0, err
	}
	v, blob, err := parseCiphertext(ciphertext)
	if err != nil {
		return nil, 0, err
	}
	kv, err := k.version(v, "cannot decrypt")
	if err != nil {
		return nil, 0, err
	}
	if isRSA(k.Type) {
		priv, err := x509.ParsePKCS1PrivateKey(kv.Material)
		if err != nil {
			return nil, 0, fmt.Errorf("transit: key %q: bad rsa key", k.Name)
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, blob, nil)
		if err != nil {
			return nil, 0, logical.BadRequest("invalid ciphertext: decryption failed")
		}
		return pt, v, nil
	}
	a, err := k.aead(kv, o.context)
	if err != nil {
		return nil, 0, err
	}
	if len(blob) < a.NonceSize()+a.Overhead() {
		return nil, 0, logical.BadRequest("invalid ciphertext: too short")
	}
	pt, err := a.Open(nil, blob[:a.NonceSize()], blob[a.NonceSize():], o.aad)
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
		if vi, ok := k.versionInfo(kv); ok {
			versions[strconv.Itoa(v)] = vi
		}
	}
	out := map[string]any{
		"name":                   k.Name,
		"type":                   k.Type,
		"keys":                   versions,
		"latest_version":         k.LatestVersion,
		"min_available_version":  k.MinAvailableVersion,
		"min_decryption_version": k.MinDecryptionVersion,
		"min_encryption_version": k.MinEncryptionVersion,
		"deletion_allowed":       k.DeletionAllowed,
		"exportable":             k.Exportable,
		"allow_plaintext_backup": k.AllowPlaintextBackup,
		"derived":                k.Derived,
		"convergent_encryption":  k.Convergent,
		"supports_encryption":    canEncrypt(k.Type),
		"supports_decryption":    canEncrypt(k.Type),
		"supports_derivation":    aeadType(k.Type),
		"supports_signing":       signing(k.Type),
		"imported_key":           k.Imported,
		"auto_rotate_period":     k.AutoRotatePeriod,
	}
	if k.Derived {
		out["kdf"] = "hkdf_sha256"
	}
	if k.Imported {
		out["imported_key_allow_rotation"] = k.AllowRotation
	}
	if k.Type == typeHMAC {
		out["key_size"] = k.KeySize
	}
	return out
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
