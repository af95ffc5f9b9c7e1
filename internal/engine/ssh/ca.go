package ssh

import (
	"bytes"
	"context"
	"crypto"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/logical"
)

// caKey is where the CA key pair is stored.
const caKey = "config/ca"

// storedCA is the CA key pair at rest (inside the barrier).
type storedCA struct {
	PrivateKey string `json:"private_key"` // OpenSSH PEM
	PublicKey  string `json:"public_key"`  // authorized_keys line
}

// ca is a loaded CA key pair.
type ca struct {
	key    crypto.Signer
	signer ssh.Signer
	public string
}

// loadCA reads the CA key pair, or nil when none is configured. The parsed
// key is kept for the next call while the stored key stays the same:
// parsing (an RSA key's precomputation above all) costs more than a
// signature.
func (b *backend) loadCA(ctx context.Context, s logical.Storage) (*ca, error) {
	var st storedCA
	found, err := logical.GetJSON(ctx, s, caKey, &st)
	if err != nil || !found {
		return nil, err
	}
	b.caMu.Lock()
	defer b.caMu.Unlock()
	if b.caCache != nil && subtle.ConstantTimeCompare([]byte(b.caPEM), []byte(st.PrivateKey)) == 1 {
		return b.caCache, nil
	}
	key, err := parsePrivateKey(st.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("ssh: stored CA key does not parse")
	}
	signer, err := ssh.NewSignerFromSigner(key)
	if err != nil {
		return nil, fmt.Errorf("ssh: stored CA key: %w", err)
	}
	b.caPEM, b.caCache = st.PrivateKey, &ca{key: key, signer: signer, public: st.PublicKey}
	return b.caCache, nil
}

// signerFor returns the CA's signer with the signature algorithm a role's
// algorithm_signer names ("" or "default": rsa-sha2-256 for an RSA CA, the
// key's only algorithm otherwise).
func (c *ca) signerFor(algorithm string) (ssh.Signer, error) {
	isRSA := c.signer.PublicKey().Type() == ssh.KeyAlgoRSA
	switch algorithm {
	case "", algoDefault:
		if !isRSA {
			return c.signer, nil
		}
		algorithm = ssh.KeyAlgoRSASHA256
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		if !isRSA {
			return nil, logical.BadRequest("algorithm_signer %s needs an rsa CA key; this CA's key is %s", algorithm, c.signer.PublicKey().Type())
		}
	default:
		return nil, logical.BadRequest("unsupported algorithm_signer")
	}
	as, ok := c.signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("ssh: rsa CA signer cannot choose its algorithm")
	}
	return ssh.NewSignerWithAlgorithms(as, []string{algorithm})
}

func (b *backend) writeCA(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := b.fields["config/ca"].Unknown(req.Data); err != nil {
		return nil, err
	}
	privPEM, hasPriv, err := logical.Str(req.Data, "private_key")
	if err != nil {
		return nil, err
	}
	pubLine, hasPub, err := logical.Str(req.Data, "public_key")
	if err != nil {
		return nil, err
	}
	generate, genSet, err := logical.Bool(req.Data, "generate_signing_key")
	if err != nil {
		return nil, err
	}
	if !genSet {
		generate = true
	}
	typ, _, err := logical.Str(req.Data, "key_type")
	if err != nil {
		return nil, err
	}
	bits, _, err := logical.Int(req.Data, "key_bits")
	if err != nil {
		return nil, err
	}
	existing, err := b.loadCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, logical.BadRequest("keys are already configured; delete them before reconfiguring")
	}

	var key crypto.Signer
	switch {
	case hasPriv && privPEM != "":
		if key, err = parsePrivateKey(privPEM); err != nil {
			return nil, err
		}
	case hasPub && pubLine != "":
		return nil, logical.BadRequest("public_key given without private_key")
	case !generate:
		return nil, logical.BadRequest("missing private_key (or set generate_signing_key)")
	default:
		if typ == "" {
			typ = "ssh-rsa"
		}
		family, ok := keyFamily(typ)
		if !ok {
			return nil, logical.BadRequest("key_type must be ssh-rsa, ecdsa or ssh-ed25519")
		}
		if key, err = generateKey(family, bits); err != nil {
			return nil, err
		}
	}
	signer, err := ssh.NewSignerFromSigner(key)
	if err != nil {
		return nil, logical.BadRequest("private_key: unsupported key")
	}
	pub := authorizedKey(signer.PublicKey())
	if hasPub && pubLine != "" {
		given, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubLine))
		if err != nil {
			return nil, logical.BadRequest("public_key: not an OpenSSH public key")
		}
		if !bytes.Equal(given.Marshal(), signer.PublicKey().Marshal()) {
			return nil, logical.BadRequest("public_key does not match private_key")
		}
	}
	privOut, err := encodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := logical.PutJSON(ctx, req.Storage, caKey, storedCA{PrivateKey: privOut, PublicKey: pub}); err != nil {
		return nil, fmt.Errorf("ssh: store CA key: %w", err)
	}
	return &logical.Response{Data: map[string]any{"public_key": pub}}, nil
}

func (b *backend) readCA(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.loadCA(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"public_key": c.public}}, nil
}

func (b *backend) deleteCA(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := req.Storage.Delete(ctx, caKey); err != nil {
		return nil, fmt.Errorf("ssh: delete CA key: %w", err)
	}
	return nil, nil
}

// publicKey serves the CA's public key as plain text, as Vault does; with
// no CA configured there is nothing to read (404).
func (b *backend) publicKey(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.loadCA(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Raw: []byte(c.public), ContentType: "text/plain"}, nil
}
