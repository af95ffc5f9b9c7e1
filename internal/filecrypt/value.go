package filecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// DataKeySize is the size of a file's data key.
const DataKeySize = 32

// Value types an envelope records, so a decrypted value gets its type back.
const (
	TypeStr   = "str"
	TypeInt   = "int"
	TypeFloat = "float"
	TypeBool  = "bool"
	TypeBytes = "bytes"
)

// typeTagged marks a YAML scalar with a custom tag: never encrypted, its
// value is the tag, a space and the scalar.
const typeTagged = "tagged"

var validType = map[string]bool{TypeStr: true, TypeInt: true, TypeFloat: true, TypeBool: true, TypeBytes: true}

const (
	envelopePrefix = "ENC[KW1,"
	nonceSize      = 12
	tagSize        = 16
)

// ErrEnvelope is wrapped by every error ParseEnvelope returns.
var ErrEnvelope = errors.New("malformed encrypted value")

// Envelope is one encrypted value as it appears in a file:
// ENC[KW1,data:B64,iv:B64,tag:B64,type:TYPE] with standard base64.
type Envelope struct {
	Data, IV, Tag []byte
	Type          string
}

// IsEnvelope reports whether s looks like an encrypted value (it may still
// be malformed).
func IsEnvelope(s string) bool { return strings.HasPrefix(s, envelopePrefix) }

// String renders e in the file syntax.
func (e Envelope) String() string {
	b64 := base64.StdEncoding
	return envelopePrefix + "data:" + b64.EncodeToString(e.Data) + ",iv:" + b64.EncodeToString(e.IV) +
		",tag:" + b64.EncodeToString(e.Tag) + ",type:" + e.Type + "]"
}

// ParseEnvelope parses the file syntax strictly: the fields in their
// order, canonical base64, a 12-byte iv, a 16-byte tag and a known type.
func ParseEnvelope(s string) (Envelope, error) {
	var e Envelope
	if !strings.HasPrefix(s, envelopePrefix) || !strings.HasSuffix(s, "]") {
		return e, ErrEnvelope
	}
	parts := strings.Split(s[len(envelopePrefix):len(s)-1], ",")
	if len(parts) != 4 {
		return e, fmt.Errorf("%w: want 4 fields", ErrEnvelope)
	}
	var err error
	for i, name := range []string{"data", "iv", "tag"} {
		v, ok := strings.CutPrefix(parts[i], name+":")
		if !ok {
			return e, fmt.Errorf("%w: field %d is not %s", ErrEnvelope, i+1, name)
		}
		b, derr := base64.StdEncoding.Strict().DecodeString(v)
		if derr != nil || base64.StdEncoding.EncodeToString(b) != v {
			return e, fmt.Errorf("%w: %s is not canonical base64", ErrEnvelope, name)
		}
		switch name {
		case "data":
			e.Data = b
		case "iv":
			e.IV = b
		case "tag":
			e.Tag = b
		}
	}
	typ, ok := strings.CutPrefix(parts[3], "type:")
	if !ok || !validType[typ] {
		return e, fmt.Errorf("%w: unknown type", ErrEnvelope)
	}
	e.Type = typ
	if len(e.IV) != nonceSize || len(e.Tag) != tagSize {
		return e, fmt.Errorf("%w: bad iv or tag length", ErrEnvelope)
	}
	return e, err
}

// fileKey holds the keys derived from one data key with HKDF-SHA256: one
// for AES-256-GCM, one for nonces, one for the MAC.
type fileKey struct {
	aead     cipher.AEAD
	nonceKey []byte
	macKey   []byte
	_        [0]func()
}

func newFileKey(dataKey []byte) (*fileKey, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), DataKeySize)
	}
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, dataKey, nil, "keyward filecrypt v1 "+info, 32)
	}
	encKey, err := derive("value key")
	if err != nil {
		return nil, err
	}
	nk, err := derive("nonce key")
	if err != nil {
		return nil, err
	}
	mk, err := derive("mac key")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &fileKey{aead: aead, nonceKey: nk, macKey: mk}, nil
}

// additionalData binds a value to its path and type.
func additionalData(path Path, typ string) []byte {
	return []byte("keyward filecrypt v1\x00" + path.String() + "\x00" + typ)
}

// encrypt seals plaintext for path deterministically: the nonce is the
// first 12 bytes of HMAC-SHA256(nonceKey, len(ad) || ad || plaintext).
func (k *fileKey) encrypt(path Path, typ string, plaintext []byte) Envelope {
	ad := additionalData(path, typ)
	m := hmac.New(sha256.New, k.nonceKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(ad)))
	m.Write(n[:])
	m.Write(ad)
	m.Write(plaintext)
	nonce := m.Sum(nil)[:nonceSize]
	sealed := k.aead.Seal(nil, nonce, plaintext, ad)
	cut := len(sealed) - tagSize
	return Envelope{Data: sealed[:cut], IV: nonce, Tag: sealed[cut:], Type: typ}
}

// errValue is what a value that does not decrypt reports: the path, never
// a byte of the value.
type valueError struct{ path Path }

func (e *valueError) Error() string {
	return fmt.Sprintf("value at %s does not decrypt: wrong data key, or the value was altered or moved from another key", e.path.Display())
}

func (k *fileKey) decrypt(path Path, e Envelope) ([]byte, error) {
	sealed := make([]byte, 0, len(e.Data)+len(e.Tag))
	sealed = append(append(sealed, e.Data...), e.Tag...)
	pt, err := k.aead.Open(nil, e.IV, sealed, additionalData(path, e.Type))
	if err != nil {
		return nil, &valueError{path}
	}
	return pt, nil
}

// mac is HMAC-SHA256 under the MAC key over the file's selection settings
// and every value as stored (ciphertext or, for values left in clear, the
// plaintext), sorted by path, each length-prefixed. It depends on nothing
// else, so after a merge it is recomputed from the merged values.
func (k *fileKey) mac(leaves []leaf, m *Metadata) []byte {
	h := hmac.New(sha256.New, k.macKey)
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("keyward filecrypt v1 mac")
	put(m.EncryptedRegex)
	put(m.UnencryptedSuffix)
	type pv struct{ p, v string }
	all := make([]pv, 0, len(leaves))
	for _, l := range leaves {
		all = append(all, pv{l.path.String(), l.typ + "\x00" + l.value})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].p < all[j].p })
	for _, x := range all {
		put(x.p)
		put(x.v)
	}
	return h.Sum(nil)
}
