package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// keyEntry is one CA private key, stored behind the barrier under key/ID.
// DER is PKCS#8 and never leaves the engine except through an "exported"
// generate, which returns it once to the caller.
type keyEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"` // rsa, ec, ed25519
	Bits int    `json:"bits"`
	DER  []byte `json:"der"`
}

func (k *keyEntry) signer() (crypto.Signer, error) {
	priv, err := x509.ParsePKCS8PrivateKey(k.DER)
	if err != nil {
		return nil, fmt.Errorf("key %s: parse stored key: %w", k.ID, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s: not a signing key", k.ID)
	}
	return s, nil
}

// keyParams checks key_type and key_bits and fills the default size.
func keyParams(typ string, bits int) (string, int, error) {
	switch typ {
	case "", "rsa":
		if bits == 0 {
			bits = 2048
		}
		if bits != 2048 && bits != 3072 && bits != 4096 && bits != 8192 {
			return "", 0, logical.BadRequest("key_bits for rsa must be 2048, 3072, 4096 or 8192")
		}
		return "rsa", bits, nil
	case "ec":
		if bits == 0 {
			bits = 256
		}
		if bits != 224 && bits != 256 && bits != 384 && bits != 521 {
			return "", 0, logical.BadRequest("key_bits for ec must be 224, 256, 384 or 521")
		}
		return "ec", bits, nil
	case "ed25519":
		return "ed25519", 0, nil
	}
	return "", 0, logical.BadRequest("key_type must be rsa, ec or ed25519")
}

// generateKey makes a key from crypto/rand.
func generateKey(typ string, bits int) (crypto.Signer, error) {
	switch typ {
	case "rsa":
		return rsa.GenerateKey(rand.Reader, bits)
	case "ec":
		var c elliptic.Curve
		switch bits {
		case 224:
			c = elliptic.P224()
		case 384:
			c = elliptic.P384()
		case 521:
			c = elliptic.P521()
		default:
			c = elliptic.P256()
		}
		return ecdsa.GenerateKey(c, rand.Reader)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", typ)
}

// describeKey names the type and size of a public key.
func describeKey(pub crypto.PublicKey) (string, int, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "rsa", k.N.BitLen(), nil
	case *ecdsa.PublicKey:
		return "ec", k.Curve.Params().BitSize, nil
	case ed25519.PublicKey:
		return "ed25519", 0, nil
	}
	return "", 0, errors.New("unsupported public key type")
}

// marshalKeyPEM encodes a private key as Vault does: "der" (the default)
// is PKCS#1 for RSA, SEC 1 for EC and PKCS#8 for ed25519; "pkcs8" is
// PKCS#8 for all.
func marshalKeyPEM(k crypto.Signer, format string) (string, string, error) {
	var der []byte
	var block string
	var err error
	switch t := k.(type) {
	case *rsa.PrivateKey:
		if format != "pkcs8" {
			der, block = x509.MarshalPKCS1PrivateKey(t), "RSA PRIVATE KEY"
		}
	case *ecdsa.PrivateKey:
		if format != "pkcs8" {
			der, err = x509.MarshalECPrivateKey(t)
			block = "EC PRIVATE KEY"
		}
	}
	if err != nil {
		return "", "", errors.New("encode private key")
	}
	if der == nil {
		der, err = x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", "", errors.New("encode private key")
		}
		block = "PRIVATE KEY"
	}
	typ, _, _ := describeKey(k.Public())
	return string(pem.EncodeToMemory(&pem.Block{Type: block, Bytes: der})), typ, nil
}

// parseKeyPEM reads a PEM private key in PKCS#1, SEC 1 or PKCS#8 form.
// Errors never include the key's bytes.
func parseKeyPEM(data []byte) (crypto.Signer, []byte, error) {
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var priv any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			priv, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			priv, err = x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, errors.New("malformed private key in bundle")
		}
		s, ok := priv.(crypto.Signer)
		if !ok {
			return nil, nil, errors.New("unsupported private key in bundle")
		}
		der, err := x509.MarshalPKCS8PrivateKey(s)
		if err != nil {
			return nil, nil, errors.New("unsupported private key in bundle")
		}
		return s, der, nil
	}
	return nil, nil, nil
}

func newKeyEntry(s crypto.Signer, name string) (*keyEntry, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		return nil, errors.New("encode private key")
	}
	typ, bits, err := describeKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &keyEntry{ID: uuid.New(), Name: name, Type: typ, Bits: bits, DER: der}, nil
}

func loadKey(ctx context.Context, s logical.Storage, id string) (*keyEntry, error) {
	var k keyEntry
	found, err := logical.GetJSON(ctx, s, "key/"+id, &k)
	if err != nil || !found {
		return nil, err
	}
	return &k, nil
}

func putKey(ctx context.Context, s logical.Storage, k *keyEntry) error {
	return logical.PutJSON(ctx, s, "key/"+k.ID, k)
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

// newSerial returns a random 159-bit serial number: positive, at most 20
// bytes in DER, as RFC 5280 requires.
func newSerial() (*big.Int, error) {
	max := new(big.Int).Lsh(big.NewInt(1), 159)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return nil, err
	}
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// formatSerial writes a serial as Vault does: lower-case hex byte pairs
// joined by colons ("1f:0a:...").
func formatSerial(n *big.Int) string {
	const digits = "0123456789abcdef"
	b := n.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

var serialSeparators = strings.NewReplacer(":", "", "-", "")

// parseSerial accepts a serial as colon-hex or dash-hex (as cert/SERIAL
// paths carry it) and returns its canonical colon form.
func parseSerial(s string) (*big.Int, string, error) {
	h := serialSeparators.Replace(strings.ToLower(strings.TrimSpace(s)))
	if h == "" || len(h) > 42 {
		return nil, "", logical.BadRequest("malformed serial number")
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, "", logical.BadRequest("malformed serial number")
	}
	return n, formatSerial(n), nil
}

// storageSerial is a serial's form in storage keys (dashes, as Vault).
func storageSerial(colon string) string { return strings.ReplaceAll(colon, ":", "-") }

// parseOID parses a dotted OID.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("malformed OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (p != "0" && strings.HasPrefix(p, "0")) {
			return nil, errors.New("malformed OID")
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, errors.New("malformed OID")
	}
	return oid, nil
}
