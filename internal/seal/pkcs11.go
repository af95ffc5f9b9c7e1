//go:build cgo

package seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11Supported reports whether this build has the pkcs11 seal (it needs
// cgo).
const PKCS11Supported = true

// pkcs11AAD binds every wrapped key to this use of the HSM key.
var pkcs11AAD = []byte("keyward sealed key v1")

// PKCS11 wraps keys with an AES-256 key inside an HSM, using CKM_AES_GCM.
type PKCS11 struct {
	cfg    PKCS11Config
	logger *slog.Logger

	mu  sync.Mutex
	ctx *crypto11.Context
	key *crypto11.SecretKey
}

var _ Seal = (*PKCS11)(nil)

// NewPKCS11 validates cfg and returns the seal. It opens the module on
// first use (and again after a failure), so a token that is not there yet
// leaves the server sealed and retrying rather than refusing to start.
func NewPKCS11(cfg PKCS11Config, logger *slog.Logger) (Seal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PKCS11{cfg: cfg, logger: logger.With("component", "seal", "seal", "pkcs11")}, nil
}

// Type returns "pkcs11".
func (p *PKCS11) Type() string { return "pkcs11" }

// open connects to the token and finds (or generates) the key. The caller
// holds mu.
func (p *PKCS11) open() error {
	if p.key != nil {
		return nil
	}
	c := &crypto11.Config{Path: p.cfg.Lib, Pin: p.cfg.PIN.Reveal()}
	if p.cfg.TokenLabel != "" {
		c.TokenLabel = p.cfg.TokenLabel
	} else {
		n, err := p.cfg.slotNumber()
		if err != nil {
			return errors.New("pkcs11 seal: slot must be a whole number")
		}
		c.SlotNumber = &n
	}
	ctx, err := crypto11.Configure(c)
	if err != nil {
		return fmt.Errorf("pkcs11 seal: open %s: %w", p.cfg.Lib, err)
	}
	keys, err := ctx.FindKeys(nil, []byte(p.cfg.KeyLabel))
	if err != nil {
		ctx.Close()
		return fmt.Errorf("pkcs11 seal: find key %q: %w", p.cfg.KeyLabel, err)
	}
	var key *crypto11.SecretKey
	switch len(keys) {
	case 0:
	case 1:
		key = keys[0]
	default:
		ctx.Close()
		return fmt.Errorf("pkcs11 seal: the token has %d keys labelled %q; the seal needs exactly one", len(keys), p.cfg.KeyLabel)
	}
	if key == nil {
		if !p.cfg.GenerateKey {
			ctx.Close()
			return fmt.Errorf("pkcs11 seal: the token has no key labelled %q (set generate_key = true to create it)", p.cfg.KeyLabel)
		}
		id := make([]byte, 16)
		rand.Read(id)
		key, err = ctx.GenerateSecretKeyWithLabel(id, []byte(p.cfg.KeyLabel), 256, crypto11.CipherAES)
		if err != nil {
			ctx.Close()
			return fmt.Errorf("pkcs11 seal: generate key %q: %w", p.cfg.KeyLabel, err)
		}
		p.logger.Info("generated the seal key in the token", "key_label", p.cfg.KeyLabel)
	}
	p.ctx, p.key = ctx, key
	return nil
}

// reset drops the connection after a failure so the next call reopens it.
func (p *PKCS11) reset() {
	if p.ctx != nil {
		p.ctx.Close()
	}
	p.ctx, p.key = nil, nil
}

// Wrap encrypts plaintext with AES-GCM under the HSM key.
func (p *PKCS11) Wrap(_ context.Context, plaintext []byte) (b *Blob, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.open(); err != nil {
		return nil, err
	}
	aead, err := p.key.NewGCM()
	if err != nil {
		p.reset()
		return nil, fmt.Errorf("pkcs11 seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	// crypto11's Seal panics when the module fails.
	defer func() {
		if r := recover(); r != nil {
			p.reset()
			b, err = nil, fmt.Errorf("pkcs11 seal: wrap: %v", r)
		}
	}()
	ct := aead.Seal(nil, nonce, plaintext, pkcs11AAD)
	return &Blob{Version: blobVersion, Type: "pkcs11", KeyID: p.cfg.KeyLabel, Ciphertext: ct, Nonce: nonce}, nil
}

// Unwrap decrypts a Blob made by Wrap.
func (p *PKCS11) Unwrap(_ context.Context, b *Blob) ([]byte, error) {
	if err := checkType(b, "pkcs11"); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.open(); err != nil {
		return nil, err
	}
	aead, err := p.key.NewGCM()
	if err != nil {
		p.reset()
		return nil, fmt.Errorf("pkcs11 seal: %w", err)
	}
	if len(b.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrDamaged, len(b.Nonce), aead.NonceSize())
	}
	plain, err := aead.Open(nil, b.Nonce, b.Ciphertext, pkcs11AAD)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 seal: unwrap with key %q: %w", p.cfg.KeyLabel, err)
	}
	return plain, nil
}

// Close closes the session with the token.
func (p *PKCS11) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset()
	return nil
}
