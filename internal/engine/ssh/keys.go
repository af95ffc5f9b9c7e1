package ssh

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/logical"
)

// Key families, as Vault names them in responses and
// allowed_user_key_lengths.
const (
	familyRSA     = "rsa"
	familyEC      = "ec"
	familyEd25519 = "ed25519"
)

// minRSABits is the smallest RSA key signed or generated, whatever a role
// says: shorter keys are breakable.
const minRSABits = 2048

// keyFamily maps the names Vault accepts for a key type (config/ca and
// issue key_type, allowed_user_key_lengths keys) to a family.
func keyFamily(name string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "rsa", "ssh-rsa":
		return familyRSA, true
	case "ec", "ecdsa", "ssh-ecdsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
		return familyEC, true
	case "ed25519", "ssh-ed25519":
		return familyEd25519, true
	}
	return "", false
}

// generateKey makes a key of family with bits (0: the family's default).
func generateKey(family string, bits int) (crypto.Signer, error) {
	switch family {
	case familyRSA:
		if bits == 0 {
			bits = 4096
		}
		if bits != 2048 && bits != 3072 && bits != 4096 {
			return nil, logical.BadRequest("key_bits for rsa must be 2048, 3072 or 4096")
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case familyEC:
		var c elliptic.Curve
		switch bits {
		case 0, 256:
			c = elliptic.P256()
		case 384:
			c = elliptic.P384()
		case 521:
			c = elliptic.P521()
		default:
			return nil, logical.BadRequest("key_bits for ec must be 256, 384 or 521")
		}
		return ecdsa.GenerateKey(c, rand.Reader)
	case familyEd25519:
		if bits != 0 && bits != 256 {
			return nil, logical.BadRequest("key_bits for ed25519 must be 0 or 256")
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, logical.BadRequest("unknown key_type")
}

// encodePrivateKey returns key in OpenSSH's PEM form.
func encodePrivateKey(key crypto.Signer) (string, error) {
	blk, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return "", fmt.Errorf("ssh: encode private key: %w", err)
	}
	return string(pem.EncodeToMemory(blk)), nil
}

// parsePrivateKey reads an unencrypted private key in any of the PEM forms
// ssh.ParseRawPrivateKey knows, as a crypto.Signer of a supported family.
// Errors never quote the input.
func parsePrivateKey(s string) (crypto.Signer, error) {
	raw, err := ssh.ParseRawPrivateKey([]byte(s))
	if err != nil {
		return nil, logical.BadRequest("private_key: not an unencrypted PEM private key")
	}
	var k crypto.Signer
	switch t := raw.(type) {
	case *rsa.PrivateKey:
		if t.N.BitLen() < minRSABits {
			return nil, logical.BadRequest("private_key: rsa keys must have at least %d bits", minRSABits)
		}
		k = t
	case *ecdsa.PrivateKey:
		k = t
	case *ed25519.PrivateKey:
		k = *t
	case ed25519.PrivateKey:
		k = t
	default:
		return nil, logical.BadRequest("private_key: unsupported key type (want rsa, ecdsa or ed25519)")
	}
	return k, nil
}

// keyInfo is the family and size of a public key, for
// allowed_user_key_lengths and the RSA floor.
func keyInfo(pub ssh.PublicKey) (family string, bits int, err error) {
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return "", 0, logical.BadRequest("public_key: unsupported key type %q", pub.Type())
	}
	switch k := cpk.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		return familyRSA, k.N.BitLen(), nil
	case *ecdsa.PublicKey:
		return familyEC, k.Curve.Params().BitSize, nil
	case ed25519.PublicKey:
		return familyEd25519, 256, nil
	}
	return "", 0, logical.BadRequest("public_key: unsupported key type %q (want rsa, ecdsa or ed25519)", pub.Type())
}

// parsePublicKey reads one authorized_keys line that is a plain key, not a
// certificate, of a supported family.
func parsePublicKey(s string) (ssh.PublicKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, logical.BadRequest("missing public_key")
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, logical.BadRequest("public_key: not an OpenSSH public key")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, logical.BadRequest("public_key: want exactly one key")
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, logical.BadRequest("public_key: is a certificate; give the plain public key")
	}
	if _, _, err := keyInfo(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// authorizedKey is pub as one authorized_keys line with its newline, the
// form Vault stores and serves.
func authorizedKey(pub ssh.PublicKey) string { return string(ssh.MarshalAuthorizedKey(pub)) }
