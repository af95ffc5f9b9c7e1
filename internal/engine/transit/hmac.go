package transit

import (
	"context"
	"crypto/hmac"
	"strconv"

	"github.com/keyward/keyward/internal/logical"
)

// hmacItemFields are the per-item fields of hmac and verify.
var hmacItemFields = []string{"input", "hmac", "signature", "key_version", "reference"}

func hmacRoute(pattern string, b *backend) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.hmac},
		Fields: logical.Fields{nameField,
			{Name: "urlalgorithm", InPath: true, Description: "The algorithm (overrides algorithm)."},
			{Name: "algorithm", Type: logical.TypeString, Default: "sha2-256", Description: "sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256, sha3-384 or sha3-512."},
			{Name: "input", Type: logical.TypeString, Description: "Base64 of the data to authenticate."},
			{Name: "key_version", Type: logical.TypeInt, Description: "The version to use; 0 means the latest."},
			{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
			{Name: "batch_input", Type: logical.TypeSlice, Description: "Items, each with input (and key_version, reference)."},
			{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
		},
		Synopsis:    "HMAC data with a key's per-version HMAC key.",
		Description: "The result is vault:vN:base64; each key version has its own HMAC key, separate from its encryption key.",
	}
}

func verifyRoute(pattern string, b *backend) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: b.verify},
		Fields: logical.Fields{nameField,
			{Name: "urlalgorithm", InPath: true, Description: "The hash algorithm (overrides hash_algorithm)."},
			{Name: "hash_algorithm", Type: logical.TypeString, Default: "sha2-256", Description: "The HMAC's hash algorithm."},
			{Name: "algorithm", Type: logical.TypeString, Description: "Older name of hash_algorithm."},
			{Name: "input", Type: logical.TypeString, Description: "Base64 of the authenticated data."},
			{Name: "hmac", Type: logical.TypeString, Description: "A vault:vN: HMAC to check."},
			{Name: "signature", Type: logical.TypeString, Description: "A vault:vN: signature to check (ed25519, ecdsa and rsa keys)."},
			{Name: "prehashed", Type: logical.TypeBool, Description: "The input is already the digest (ecdsa and rsa)."},
			{Name: "marshaling_algorithm", Type: logical.TypeString, Default: "asn1", Description: "ecdsa signature encoding: asn1 or jws."},
			{Name: "signature_algorithm", Type: logical.TypeString, Default: "pss", Description: "rsa keys: pss or pkcs1v15."},
			{Name: "salt_length", Type: logical.TypeString, Default: "auto", Description: "rsa pss: auto, hash or a number of bytes."},
			{Name: "context", Type: logical.TypeString, Description: "Not supported (derived signing keys)."},
			{Name: "reference", Type: logical.TypeString, Description: "Echoed in the batch result."},
			{Name: "batch_input", Type: logical.TypeSlice, Description: "Items, each with input and hmac (and reference)."},
			{Name: "partial_failure_response_code", Type: logical.TypeInt, Description: "Status when some batch items fail and others succeed (default 400)."},
		},
		Synopsis: "Check an HMAC or a signature; answers valid.",
	}
}

// hmacKey loads key name and makes sure every version has an HMAC key,
// storing the key when it had to add one.
func (b *backend) hmacKey(ctx context.Context, req *logical.Request, name string) (*key, error) {
	k, err := loadKey(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("encryption key %q not found", name)
	}
	missing := false
	for _, kv := range k.Versions {
		missing = missing || len(kv.HMACKey) == 0
	}
	if !missing {
		return k, nil
	}
	defer b.lock(name)()
	if k, err = loadKey(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("encryption key %q not found", name)
	}
	added, err := k.ensureHMACKeys()
	if err != nil {
		return nil, err
	}
	if added {
		if err := storeKey(ctx, req.Storage, k); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// algorithmOf returns the path's algorithm, else the first field set.
func algorithmOf(req *logical.Request, p logical.Params, fields ...string) (string, error) {
	if s := p["urlalgorithm"]; s != "" {
		return s, nil
	}
	for _, f := range fields {
		s, _, err := logical.Str(req.Data, f)
		if err != nil {
			return "", err
		}
		if s != "" {
			return s, nil
		}
	}
	return "sha2-256", nil
}

func (b *backend) hmac(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("hmac/{name}").Unknown(req.Data); err != nil {
		return nil, err
	}
	alg, err := algorithmOf(req, p, "algorithm")
	if err != nil {
		return nil, err
	}
	newHash, err := hashFunc(alg)
	if err != nil {
		return nil, err
	}
	topVersion, _, err := logical.Int(req.Data, "key_version")
	if err != nil {
		return nil, err
	}
	k, err := b.hmacKey(ctx, req, p["name"])
	if err != nil {
		return nil, err
	}
	return serve(req, k, func(k *key, item map[string]any) (map[string]any, error) {
		ref, v, kv, in, err := producerItem(k, item, topVersion, "generate HMAC", "HMAC")
		if err != nil {
			return nil, err
		}
		m := hmac.New(newHash, kv.HMACKey)
		m.Write(in)
		return map[string]any{"hmac": formatCiphertext(v, m.Sum(nil)), "reference": ref}, nil
	}, hmacItemFields)
}

func (b *backend) verify(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := b.fieldsOf("verify/{name}").Unknown(req.Data); err != nil {
		return nil, err
	}
	alg, err := algorithmOf(req, p, "hash_algorithm", "algorithm")
	if err != nil {
		return nil, err
	}
	newHash, err := hashFunc(alg)
	if err != nil {
		return nil, err
	}
	k, err := b.hmacKey(ctx, req, p["name"])
	if err != nil {
		return nil, err
	}
	var opts signOpts
	if signing(k.Type) {
		if opts, err = parseSignOpts(k, req, p); err != nil {
			return nil, err
		}
	}
	return serve(req, k, func(k *key, item map[string]any) (map[string]any, error) {
		ref, _, err := logical.Str(item, "reference")
		if err != nil {
			return nil, err
		}
		in, ok, err := bytesField(item, "input")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, logical.BadRequest("missing input to verify")
		}
		sig, _, err := logical.Str(item, "signature")
		if err != nil {
			return nil, err
		}
		s, _, err := logical.Str(item, "hmac")
		if err != nil {
			return nil, err
		}
		switch {
		case sig != "" && s != "":
			return nil, logical.BadRequest("give either hmac or signature, not both")
		case sig != "":
			if !signing(k.Type) {
				return nil, logical.BadRequest("key type %s does not support signing", k.Type)
			}
			valid, err := k.verifySignature(opts, in, sig)
			if err != nil {
				return nil, err
			}
			return map[string]any{"valid": valid, "reference": ref}, nil
		case s == "":
			return nil, logical.BadRequest("missing hmac or signature to verify")
		}
		v, mac, err := parseCiphertext(s)
		if err != nil {
			return nil, logical.BadRequest("invalid HMAC: malformed")
		}
		kv, err := k.version(v, "cannot verify HMAC")
		if err != nil {
			return nil, err
		}
		m := hmac.New(newHash, kv.HMACKey)
		m.Write(in)
		return map[string]any{"valid": hmac.Equal(m.Sum(nil), mac), "reference": ref}, nil
	}, hmacItemFields)
}

// producerItem reads what an operation producing output under a key
// version (hmac, sign) needs from one item: its reference, the version
// (the item's key_version, else the request's, 0 for the latest; never
// below min_encryption_version), that version, and the input. verb and
// noun word the errors ("cannot sign: ...", "missing input to sign").
func producerItem(k *key, item map[string]any, topVersion int, verb, noun string) (ref string, v int, kv keyVersion, in []byte, err error) {
	ref, _, err = logical.Str(item, "reference")
	if err != nil {
		return "", 0, kv, nil, err
	}
	v, ok, err := logical.Int(item, "key_version")
	if err != nil {
		return "", 0, kv, nil, err
	}
	if !ok {
		v = topVersion
	}
	switch {
	case v == 0:
		v = k.LatestVersion
	case v < 0 || v > k.LatestVersion:
		return "", 0, kv, nil, logical.BadRequest("cannot %s: invalid key version %d", verb, v)
	}
	if k.MinEncryptionVersion > 0 && v < k.MinEncryptionVersion {
		return "", 0, kv, nil, logical.BadRequest("cannot %s: key version %d is below the key's min_encryption_version", verb, v)
	}
	in, ok, err = bytesField(item, "input")
	if err != nil {
		return "", 0, kv, nil, err
	}
	if !ok {
		return "", 0, kv, nil, logical.BadRequest("missing input to %s", noun)
	}
	kv, ok = k.Versions[strconv.Itoa(v)]
	if !ok {
		return "", 0, kv, nil, logical.BadRequest("cannot %s: key version %d does not exist", verb, v)
	}
	return ref, v, kv, in, nil
}
