package transit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
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
			{Name: "hash_algorithm", Type: logical.TypeString, Default: "sha2-256", Description: "The hash of an ecdsa or rsa signature; ignored by ed25519."},
			{Name: "algorithm", Type: logical.TypeString, Description: "Older name of hash_algorithm."},
			{Name: "input", Type: logical.TypeString, Description: "Base64 of the data to sign (of its digest when prehashed)."},
			{Name: "key_version", Type: logical.TypeInt, Description: "The version to sign with; 0 means the latest."},
			{Name: "prehashed", Type: logical.TypeBool, Description: "The input is already the digest (ecdsa and rsa)."},
			{Name: "marshaling_algorithm", Type: logical.TypeString, Default: "asn1", Description: "asn1, or jws (ecdsa: r||s; all: base64url)."},
			{Name: "signature_algorithm", Type: logical.TypeString, Default: "pss", Description: "rsa keys: pss or pkcs1v15."},
			{Name: "salt_length", Type: logical.TypeString, Default: "auto", Description: "rsa pss: auto, hash or a number of bytes."},
			{Name: "context", Type: logical.TypeString, Description: "Not supported (derived signing keys)."},
			{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
			{Name: "batch_input", Type: logical.TypeSlice, Description: "Items, each with input (and key_version, reference)."},
			{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
		},
		Synopsis: "Sign data with an ed25519, ecdsa or rsa key; the signature is vault:vN:base64.",
	}
}

// signOpts are a sign or verify request's top-level choices.
type signOpts struct {
	hash      crypto.Hash
	prehashed bool
	jws       bool
	pkcs1v15  bool // RSA: PKCS #1 v1.5 instead of PSS
	rsa       bool // a prehashed input must be the hash's size (ECDSA takes any, as in Vault)
	salt      int  // RSA PSS salt length (rsa.PSSSaltLength* or bytes)
}

// signHashes are the hash_algorithm values of sign and verify.
var signHashes = map[string]crypto.Hash{
	"sha2-224": crypto.SHA224, "sha2-256": crypto.SHA256, "sha2-384": crypto.SHA384, "sha2-512": crypto.SHA512,
	"sha3-224": crypto.SHA3_224, "sha3-256": crypto.SHA3_256, "sha3-384": crypto.SHA3_384, "sha3-512": crypto.SHA3_512,
}

// parseSignOpts reads hash_algorithm (or algorithm, or the path),
// prehashed, marshaling_algorithm, signature_algorithm and salt_length,
// checked against k's type.
func parseSignOpts(k *key, req *logical.Request, p logical.Params) (signOpts, error) {
	var o signOpts
	if err := logical.NotSupported(req.Data, "context"); err != nil {
		return o, err
	}
	alg, err := algorithmOf(req, p, "hash_algorithm", "algorithm")
	if err != nil {
		return o, err
	}
	h, ok := signHashes[alg]
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
	sigAlg, _, err := logical.Str(req.Data, "signature_algorithm")
	if err != nil {
		return o, err
	}
	salt, _, err := logical.Str(req.Data, "salt_length")
	if err != nil {
		return o, err
	}
	if !isRSA(k.Type) {
		if sigAlg != "" || salt != "" {
			return o, logical.BadRequest("signature_algorithm and salt_length apply only to rsa keys")
		}
		return o, nil
	}
	o.rsa = true
	switch sigAlg {
	case "", "pss":
	case "pkcs1v15":
		o.pkcs1v15 = true
	default:
		return o, logical.BadRequest("unsupported signature_algorithm %q: use pss or pkcs1v15", sigAlg)
	}
	o.salt = rsa.PSSSaltLengthAuto
	switch salt {
	case "", "auto":
	case "hash":
		o.salt = rsa.PSSSaltLengthEqualsHash
	default:
		n, err := strconv.Atoi(salt)
		if err != nil || n < 0 || n > 1024 {
			return o, logical.BadRequest("invalid salt_length: use auto, hash or a number of bytes")
		}
		o.salt = n
	}
	if o.pkcs1v15 && salt != "" {
		return o, logical.BadRequest("salt_length applies only to signature_algorithm pss")
	}
	return o, nil
}

// digest is what an ECDSA or RSA key signs: the input, or its hash. For
// RSA a prehashed input must have the size of hash_algorithm's digest.
func (o signOpts) digest(in []byte) ([]byte, error) {
	if o.prehashed {
		if o.rsa && len(in) != o.hash.Size() {
			return nil, logical.BadRequest("prehashed input is %d bytes; the hash algorithm's digest is %d", len(in), o.hash.Size())
		}
		return in, nil
	}
	h := o.hash.New()
	h.Write(in)
	return h.Sum(nil), nil
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

// signWith signs in with version kv. An ECDSA jws signature is r‖s, each
// the curve's size.
func (k *key) signWith(kv keyVersion, o signOpts, in []byte) ([]byte, error) {
	s, err := k.signer(kv)
	if err != nil {
		return nil, err
	}
	if priv, ok := s.(ed25519.PrivateKey); ok {
		return ed25519.Sign(priv, in), nil
	}
	d, err := o.digest(in)
	if err != nil {
		return nil, err
	}
	switch priv := s.(type) {
	case *ecdsa.PrivateKey:
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
		n := (priv.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
		return sig, nil
	case *rsa.PrivateKey:
		var sig []byte
		if o.pkcs1v15 {
			sig, err = rsa.SignPKCS1v15(rand.Reader, priv, o.hash, d)
		} else {
			sig, err = rsa.SignPSS(rand.Reader, priv, o.hash, d, &rsa.PSSOptions{SaltLength: o.salt, Hash: o.hash})
		}
		if err != nil {
			return nil, logical.BadRequest("cannot sign with %s using this hash and salt length", k.Type)
		}
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
	kv, err := k.version(v, "cannot verify signature")
	if err != nil {
		return false, err
	}
	s, err := k.signer(kv)
	if err != nil {
		return false, err
	}
	if priv, ok := s.(ed25519.PrivateKey); ok {
		return ed25519.Verify(priv.Public().(ed25519.PublicKey), in, sig), nil
	}
	d, err := o.digest(in)
	if err != nil {
		return false, err
	}
	switch priv := s.(type) {
	case *ecdsa.PrivateKey:
		if !o.jws {
			return ecdsa.VerifyASN1(&priv.PublicKey, d, sig), nil
		}
		n := (priv.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false, nil
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(&priv.PublicKey, d, r, s), nil
	case *rsa.PrivateKey:
		if o.pkcs1v15 {
			return rsa.VerifyPKCS1v15(&priv.PublicKey, o.hash, d, sig) == nil, nil
		}
		return rsa.VerifyPSS(&priv.PublicKey, o.hash, d, sig, &rsa.PSSOptions{SaltLength: o.salt, Hash: o.hash}) == nil, nil
	}
	return false, logical.BadRequest("key type %s does not support signing", k.Type)
}
