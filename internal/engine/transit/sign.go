package transit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"

	"github.com/keyward/keyward/internal/logical"
)

// signItemFields are the per-item fields of sign.
var signItemFields = []string{"input", "key_version", "reference"}

func signRoute(pattern string, b *backend) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.sign},
		Fields: logical.Fields{nameField,
			{Name: "urlalgorithm", InPath: true, Description: "The hash algorithm (overrides hash_algorithm)."},
			{Name: "hash_algorithm", Type: logical.TypeString, Default: "sha2-256", Description: "The hash of an ecdsa signature; ignored by ed25519."},
			{Name: "algorithm", Type: logical.TypeString, Description: "Older name of hash_algorithm."},
			{Name: "input", Type: logical.TypeString, Description: "Base64 of the data to sign (of its digest when prehashed)."},
			{Name: "key_version", Type: logical.TypeInt, Description: "The version to sign with; 0 means the latest."},
			{Name: "prehashed", Type: logical.TypeBool, Description: "The input is already the digest (ecdsa only)."},
			{Name: "marshaling_algorithm", Type: logical.TypeString, Default: "asn1", Description: "ecdsa signature encoding: asn1 or jws."},
			{Name: "signature_algorithm", Type: logical.TypeString, Description: "Not supported (RSA keys)."},
			{Name: "context", Type: logical.TypeString, Description: "Not supported yet (derived keys)."},
			{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
			{Name: "batch_input", Type: logical.TypeSlice, Description: "Items, each with input (and key_version, reference)."},
			{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
		},
		Synopsis: "Sign data with an ed25519 or ecdsa-p256 key; the signature is vault:vN:base64.",
	}
}

// signOpts are a sign or verify request's top-level choices.
type signOpts struct {
	hash      crypto.Hash
	prehashed bool
	jws       bool
}

// parseSignOpts reads hash_algorithm (or algorithm, or the path),
// prehashed and marshaling_algorithm, checked against k's type.
func parseSignOpts(k *key, req *logical.Request, p logical.Params) (signOpts, error) {
	var o signOpts
	if err := logical.NotSupported(req.Data, "signature_algorithm", "context"); err != nil {
		return o, err
	}
	alg, err := algorithmOf(req, p, "hash_algorithm", "algorithm")
	if err != nil {
		return o, err
	}
	hashes := map[string]crypto.Hash{
		"sha2-224": crypto.SHA224, "sha2-256": crypto.SHA256, "sha2-384": crypto.SHA384, "sha2-512": crypto.SHA512,
		"sha3-224": crypto.SHA3_224, "sha3-256": crypto.SHA3_256, "sha3-384": crypto.SHA3_384, "sha3-512": crypto.SHA3_512,
	}
	h, ok := hashes[alg]
	if !ok {
		return o, logical.BadRequest("unsupported hash algorithm %q", alg)
	}
	o.hash = h
	if o.prehashed, _, err = logical.Bool(req.Data, "prehashed"); err != nil {
		return o, err
	}
	marshaling, _, err := logical.Str(req.Data, "marshaling_algorithm")
	if err != nil {
		return o, err
	}
	switch marshaling {
	case "", "asn1":
	case "jws":
		o.jws = true
	default:
		return o, logical.BadRequest("unsupported marshaling_algorithm %q: use asn1 or jws", marshaling)
	}
	if k.Type == typeEd25519 && (o.prehashed || o.jws) {
		return o, logical.BadRequest("prehashed and marshaling_algorithm jws are not supported for ed25519 keys")
	}
	return o, nil
}

// digest is what an ecdsa key signs: the input, or its hash.
func (o signOpts) digest(in []byte) ([]byte, error) {
	if o.prehashed {
		return in, nil
	}
	h := o.hash.New()
	h.Write(in)
	return h.Sum(nil), nil
}

// publicKey renders version kv's public key as Vault's read does: the
// base64 of the raw key for ed25519, PEM (PKIX) for ecdsa; and the curve
// name.
func (k *key) publicKey(kv keyVersion) (string, string, error) {
	switch k.Type {
	case typeEd25519:
		if len(kv.Material) != ed25519.SeedSize {
			return "", "", fmt.Errorf("transit: key %q: bad ed25519 seed", k.Name)
		}
		pub := ed25519.NewKeyFromSeed(kv.Material).Public().(ed25519.PublicKey)
		return base64.StdEncoding.EncodeToString(pub), "ed25519", nil
	case typeECDSAP256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), kv.Material)
		if err != nil {
			return "", "", fmt.Errorf("transit: key %q: bad ecdsa key", k.Name)
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			return "", "", fmt.Errorf("transit: key %q: %w", k.Name, err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "P-256", nil
	}
	return "", "", fmt.Errorf("transit: key %q of type %s has no public key", k.Name, k.Type)
}

func (b *backend) sign(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("sign/{name}").Unknown(req.Data); err != nil {
		return nil, err
	}
	topVersion, _, err := logical.Int(req.Data, "key_version")
	if err != nil {
		return nil, err
	}
	k, err := loadKey(ctx, req.Storage, p["name"])
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("signing key %q not found", p["name"])
	}
	if !signing(k.Type) {
		return nil, logical.BadRequest("key type %s does not support signing", k.Type)
	}
	o, err := parseSignOpts(k, req, p)
	if err != nil {
		return nil, err
	}
	return serve(req, k, func(k *key, item map[string]any) (map[string]any, error) {
		ref, v, kv, in, err := producerItem(k, item, topVersion, "sign", "sign")
		if err != nil {
			return nil, err
		}
		sig, err := k.signWith(kv, o, in)
		if err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(sig)
		if o.jws {
			enc = base64.RawURLEncoding.EncodeToString(sig)
		}
		return map[string]any{"signature": ciphertextPrefix + strconv.Itoa(v) + ":" + enc, "key_version": v, "reference": ref}, nil
	}, signItemFields)
}

// signWith signs in with version kv.
func (k *key) signWith(kv keyVersion, o signOpts, in []byte) ([]byte, error) {
	switch k.Type {
	case typeEd25519:
		if len(kv.Material) != ed25519.SeedSize {
			return nil, fmt.Errorf("transit: key %q: bad ed25519 seed", k.Name)
		}
		return ed25519.Sign(ed25519.NewKeyFromSeed(kv.Material), in), nil
	case typeECDSAP256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), kv.Material)
		if err != nil {
			return nil, fmt.Errorf("transit: key %q: bad ecdsa key", k.Name)
		}
		d, err := o.digest(in)
		if err != nil {
			return nil, err
		}
		if !o.jws {
			sig, err := ecdsa.SignASN1(rand.Reader, priv, d)
			if err != nil {
				return nil, fmt.Errorf("transit: sign: %w", err)
			}
			return sig, nil
		}
		r, s, err := ecdsa.Sign(rand.Reader, priv, d)
		if err != nil {
			return nil, fmt.Errorf("transit: sign: %w", err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, logical.BadRequest("key type %s does not support signing", k.Type)
}

// verifySignature checks a vault:vN: signature of in.
func (k *key) verifySignature(o signOpts, in []byte, signature string) (bool, error) {
	v, enc, err := splitVersioned(signature)
	if err != nil {
		return false, logical.BadRequest("invalid signature: malformed")
	}
	var sig []byte
	if o.jws {
		sig, err = base64.RawURLEncoding.DecodeString(enc)
	} else {
		sig, err = base64.StdEncoding.DecodeString(enc)
	}
	if err != nil {
		return false, logical.BadRequest("invalid signature: could not decode base64")
	}
	if v < k.MinDecryptionVersion {
		return false, logical.BadRequest("cannot verify signature: key version %d is below the key's min_decryption_version", v)
	}
	kv, ok := k.Versions[strconv.Itoa(v)]
	if !ok || v > k.LatestVersion {
		return false, logical.BadRequest("cannot verify signature: key version %d does not exist", v)
	}
	switch k.Type {
	case typeEd25519:
		if len(kv.Material) != ed25519.SeedSize {
			return false, fmt.Errorf("transit: key %q: bad ed25519 seed", k.Name)
		}
		pub := ed25519.NewKeyFromSeed(kv.Material).Public().(ed25519.PublicKey)
		return ed25519.Verify(pub, in, sig), nil
	case typeECDSAP256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), kv.Material)
		if err != nil {
			return false, fmt.Errorf("transit: key %q: bad ecdsa key", k.Name)
		}
		d, err := o.digest(in)
		if err != nil {
			return false, err
		}
		if !o.jws {
			return ecdsa.VerifyASN1(&priv.PublicKey, d, sig), nil
		}
		if len(sig) != 64 {
			return false, nil
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&priv.PublicKey, d, r, s), nil
	}
	return false, logical.BadRequest("key type %s does not support signing", k.Type)
}
